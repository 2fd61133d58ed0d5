"""Interaction protocols as tables: which performative may come next in a conversation.

An interaction protocol is a small state machine over the performatives two agents
exchange under one conversation id. Each protocol is one table of
``(state, who sends, performative) -> next state``; an :class:`Interaction` plays one
side of it. What the local side sends is checked like what the peer sends, but the
errors differ (as in h11):

- sending something the table does not allow is a bug here: :class:`~agentlink.model.UsageError`;
- receiving it is the peer's fault: :class:`OutOfSequence`, a
  :class:`~agentlink.model.RemoteProtocolError` that is also an
  :class:`~agentlink.model.UnsupportedOperation`, so a handler that lets it escape
  answers with that wire code (a FIPA agent would answer ``not-understood``).

Request (FIPA SC00026H)::

    start --request(I)--> requested --agree(P)--> agreed --inform(P)--> done
                            │  └─refuse / not-understood(P)──> refused / not-understood
                            └─inform / failure(P)──> done / failed     agreed --failure(P)--> failed

Query (FIPA SC00027H): ``query`` then ``inform``, ``refuse``, ``failure`` or
``not-understood``; like FIPA it also allows ``agree`` first, then ``inform`` or ``failure``.

Subscribe (FIPA SC00035H): ``subscribe`` then ``agree`` (optional: a first ``inform`` also
opens the subscription), ``refuse`` or ``not-understood``; then any number of ``inform``
until the participant sends ``failure`` or the initiator sends ``cancel``. Notifications
already in flight when the initiator cancels are accepted and ignored in ``canceled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agentlink.model import RemoteProtocolError, UnsupportedOperation, UsageError

__all__ = [
    "QUERY",
    "REQUEST",
    "SUBSCRIBE",
    "Interaction",
    "InteractionSpec",
    "OutOfSequence",
    "Side",
]

#: Who sends a message in an interaction: the one who started it, or the other.
Side = Literal["initiator", "participant"]
_OTHER: Mapping[Side, Side] = {"initiator": "participant", "participant": "initiator"}


class OutOfSequence(RemoteProtocolError, UnsupportedOperation):
    """The peer sent a performative the interaction does not allow in its current state.

    Both a protocol violation by the peer (``except RemoteProtocolError``) and an error
    with a wire code (``unsupported_operation``, -32004): no new code is needed for it.
    """


@dataclass(frozen=True, slots=True)
class InteractionSpec:
    """One interaction protocol.

    Attributes:
        name: the protocol name (``Message.protocol``).
        initial: the state before the first message.
        table: ``(state, sender side, performative) -> next state``.
        final: states in which the conversation is over (a table may still accept
            stragglers there, such as notifications in flight after a cancel).
    """

    name: str
    initial: str
    table: Mapping[tuple[str, Side, str], str]
    final: frozenset[str]

    def allowed(self, state: str, side: Side) -> frozenset[str]:
        """The performatives ``side`` may send in ``state``."""
        return frozenset(p for (s, who, p) in self.table if s == state and who == side)


REQUEST = InteractionSpec(
    name="request",
    initial="start",
    table={
        ("start", "initiator", "request"): "requested",
        ("requested", "participant", "agree"): "agreed",
        ("requested", "participant", "refuse"): "refused",
        ("requested", "participant", "not-understood"): "not-understood",
        ("requested", "participant", "inform"): "done",
        ("requested", "participant", "failure"): "failed",
        ("agreed", "participant", "inform"): "done",
        ("agreed", "participant", "failure"): "failed",
    },
    final=frozenset({"refused", "not-understood", "done", "failed"}),
)

QUERY = InteractionSpec(
    name="query",
    initial="start",
    table={
        ("start", "initiator", "query"): "queried",
        ("queried", "participant", "inform"): "answered",
        ("queried", "participant", "refuse"): "refused",
        ("queried", "participant", "failure"): "failed",
        ("queried", "participant", "not-understood"): "not-understood",
        ("queried", "participant", "agree"): "agreed",
        ("agreed", "participant", "inform"): "answered",
        ("agreed", "participant", "failure"): "failed",
    },
    final=frozenset({"answered", "refused", "failed", "not-understood"}),
)

SUBSCRIBE = InteractionSpec(
    name="subscribe",
    initial="start",
    table={
        ("start", "initiator", "subscribe"): "requested",
        ("requested", "participant", "agree"): "active",
        ("requested", "participant", "inform"): "active",
        ("requested", "participant", "refuse"): "refused",
        ("requested", "participant", "not-understood"): "not-understood",
        ("requested", "participant", "failure"): "failed",
        ("requested", "initiator", "cancel"): "canceled",
        ("active", "participant", "inform"): "active",
        ("active", "participant", "failure"): "failed",
        ("active", "initiator", "cancel"): "canceled",
        # Sent before the cancel arrived, or confirming it: not the peer's fault.
        ("canceled", "participant", "agree"): "canceled",
        ("canceled", "participant", "inform"): "canceled",
        ("canceled", "participant", "failure"): "canceled",
    },
    final=frozenset({"refused", "not-understood", "failed", "canceled"}),
)


class Interaction:
    """One side of one conversation that follows an :class:`InteractionSpec`.

    Args:
        spec: the protocol.
        side: which side this object plays.
        conversation_id: for error messages and the caller's bookkeeping.

    Attributes:
        state: the current state.
        history: every accepted message as ``(sender side, performative)``, in order.
    """

    __slots__ = ("conversation_id", "history", "side", "spec", "state")

    def __init__(
        self, spec: InteractionSpec, side: Side, *, conversation_id: str | None = None
    ) -> None:
        if side not in _OTHER:
            raise UsageError(f"side must be 'initiator' or 'participant', got {side!r}")
        self.spec = spec
        self.side: Side = side
        self.conversation_id = conversation_id
        self.state = spec.initial
        self.history: list[tuple[Side, str]] = []

    def __repr__(self) -> str:
        return f"Interaction({self.spec.name}, side={self.side}, state={self.state!r})"

    @property
    def finished(self) -> bool:
        """Whether the conversation is over."""
        return self.state in self.spec.final

    def can_send(self) -> frozenset[str]:
        """The performatives this side may send now."""
        return self.spec.allowed(self.state, self.side)

    def expects(self) -> frozenset[str]:
        """The performatives the peer may send now."""
        return self.spec.allowed(self.state, _OTHER[self.side])

    def send(self, performative: str) -> str:
        """Record a message this side is about to send.

        Returns:
            The new state.

        Raises:
            UsageError: the protocol does not allow this side to send it now.
        """
        target = self.spec.table.get((self.state, self.side, performative))
        if target is None:
            raise UsageError(
                f"{self.spec.name}: the {self.side} cannot send {performative!r} "
                f"in state {self.state!r} (allowed: {sorted(self.can_send())})"
            )
        return self._advance(self.side, performative, target)

    def receive(self, performative: str) -> str:
        """Record a message the peer sent.

        Returns:
            The new state.

        Raises:
            OutOfSequence: the protocol does not allow the peer to send it now; the
                state does not change.
        """
        peer = _OTHER[self.side]
        target = self.spec.table.get((self.state, peer, performative))
        if target is None:
            raise OutOfSequence(
                f"{self.spec.name}: {performative!r} from the {peer} is out of sequence "
                f"in state {self.state!r}",
                data={
                    "protocol": self.spec.name,
                    "state": self.state,
                    "performative": performative,
                    "expected": sorted(self.expects()),
                    **({"conversation_id": self.conversation_id} if self.conversation_id else {}),
                },
            )
        return self._advance(peer, performative, target)

    def _advance(self, who: Side, performative: str, target: str) -> str:
        self.state = target
        self.history.append((who, performative))
        return target
