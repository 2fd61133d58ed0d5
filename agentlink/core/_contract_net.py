"""Contract Net and Iterated Contract Net (FIPA SC00029H, SC00030H), sans-IO.

The initiator (:class:`ContractNet`) calls for proposals, collects the replies until every
invited participant answered or ``reply_by`` passed, awards some proposals (rejecting the
others) or starts a new round with a revised call, then collects the winners' results::

    idle ──cfp_sent──> collecting ──award──> awaiting-results ──(all reported)──> done
      ^                    │  └──award([])──────────────────────────────────────> done
      └─────iterate────────┘                      close() ends any phase ──────> done

Replies are never refused by raising: a misbehaving participant is a fact to record, and
the initiator must go on with the others. Each reply gets a verdict:

- ``accepted``: an expected act, in time, from an invited participant (propose, refuse or
  not-understood to a call; inform or failure from a winner);
- ``late``: an expected act after its deadline (``reply_by`` for proposals, ``result_by``
  for results) or after the phase closed; a late proposal is never awarded;
- ``unknown``: from someone never invited;
- ``violation``: anything else (a wrong act such as an inform before any award, a second
  answer, a result from a loser). A wrong act also settles that participant's turn: it
  will not be awarded, or its result will not be awaited.

A reply at the very instant of its deadline is late. Participants that never answered a
closed call, and winners that never reported, are ``silent`` in :meth:`ContractNet.outcome`.

:class:`ContractNetParticipant` is the other side, built on the same table mechanism as
the other interaction protocols: it raises on out-of-sequence input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentlink.model import DeadlineExceeded, Message, UsageError

from ._deadline import parse_rfc3339
from ._interactions import Interaction, InteractionSpec

__all__ = [
    "CONTRACT_NET",
    "ContractNet",
    "ContractNetOutcome",
    "ContractNetParticipant",
    "Reply",
    "Verdict",
    "Violation",
    "earliest_reply_by",
]

Verdict = Literal["accepted", "late", "unknown", "violation"]
Phase = Literal["idle", "collecting", "awaiting-results", "done"]

# What an answer to a call, and a winner's report, make of a participant's turn.
_CALL_ANSWERS: Mapping[str, str] = {
    "propose": "proposed",
    "refuse": "refused",
    "not-understood": "not-understood",
}
_RESULT_ANSWERS: Mapping[str, str] = {"inform": "informed", "failure": "failed"}
_PENDING = "pending"

#: The exchange between the initiator and one participant.
CONTRACT_NET = InteractionSpec(
    name="contract-net",
    initial="idle",
    table={
        ("idle", "initiator", "cfp"): "cfp-received",
        ("cfp-received", "participant", "propose"): "proposed",
        ("cfp-received", "participant", "refuse"): "refused",
        ("cfp-received", "participant", "not-understood"): "not-understood",
        ("proposed", "initiator", "accept-proposal"): "awarded",
        ("proposed", "initiator", "reject-proposal"): "rejected",
        # Iterated contract net: a revised call to those who proposed.
        ("proposed", "initiator", "cfp"): "cfp-received",
        ("awarded", "participant", "inform"): "done",
        ("awarded", "participant", "failure"): "failed",
        ("cfp-received", "initiator", "cancel"): "canceled",
        ("proposed", "initiator", "cancel"): "canceled",
        ("awarded", "initiator", "cancel"): "canceled",
    },
    final=frozenset({"refused", "not-understood", "rejected", "done", "failed", "canceled"}),
)


@dataclass(frozen=True, slots=True)
class Reply:
    """A message received from a participant, as recorded by the initiator."""

    participant: str
    performative: str
    content: Any
    time: float
    round: int


@dataclass(frozen=True, slots=True)
class Violation:
    """A message that broke the protocol, and why."""

    participant: str
    performative: str
    reason: str
    time: float
    round: int
    content: Any = None


@dataclass(frozen=True, slots=True)
class ContractNetOutcome:
    """What a contract net produced. Participant lists are in invitation order.

    Attributes:
        rounds: calls sent (more than one in an iterated contract net).
        finished: whether the protocol is over (all results in, or closed).
        proposals: the last round's proposals in time, by participant.
        winners: the participants awarded, in award order.
        rejected: proposers sent a reject-proposal, in any round.
        results: content of each winner's inform.
        failures: content of each winner's failure.
        refused: participants that refused a call.
        not_understood: participants that answered not-understood.
        silent: participants that never answered a closed call, and winners that never
            reported once the protocol finished.
        late: replies that came after their deadline.
        unknown: replies from participants never invited.
        violations: replies that broke the protocol.
    """

    rounds: int
    finished: bool
    proposals: Mapping[str, Any]
    winners: tuple[str, ...]
    rejected: tuple[str, ...]
    results: Mapping[str, Any]
    failures: Mapping[str, Any]
    refused: tuple[str, ...]
    not_understood: tuple[str, ...]
    silent: tuple[str, ...]
    late: tuple[Reply, ...]
    unknown: tuple[Reply, ...]
    violations: tuple[Violation, ...]


@dataclass(slots=True)
class _Round:
    number: int
    reply_by: float
    invited: list[str]
    # participant -> pending | proposed | refused | not-understood | late | violation
    turns: dict[str, str]
    proposals: dict[str, Any] = field(default_factory=dict)
    sent: bool = False
    closed: bool = False


def _unique(participants: Iterable[str], what: str) -> list[str]:
    listed = list(participants)
    if len(set(listed)) != len(listed):
        raise UsageError(f"{what} lists a participant twice: {listed!r}")
    return listed


class ContractNet:
    """The initiator of one (iterated) contract net.

    Args:
        conversation_id: the conversation all messages share.
        participants: ids of the agents the call goes to.
        reply_by: the deadline for proposals, epoch seconds.
    """

    def __init__(self, conversation_id: str, participants: Sequence[str], reply_by: float) -> None:
        invited = _unique(participants, "participants")
        self.conversation_id = conversation_id
        self._phase: Phase = "idle"
        self._order: dict[str, int] = {}
        self._rounds: list[_Round] = []
        # Each participant's latest round: the call its next reply answers.
        self._last_round: dict[str, _Round] = {}
        self._winners: list[str] = []
        self._rejected: list[str] = []
        self._result_by: float | None = None
        # winner -> pending | informed | failed | late | violation
        self._reports: dict[str, str] = {}
        self._results: dict[str, Any] = {}
        self._failures: dict[str, Any] = {}
        self._late: list[Reply] = []
        self._unknown: list[Reply] = []
        self._violations: list[Violation] = []
        self._open_round(invited, reply_by)

    def __repr__(self) -> str:
        return (
            f"ContractNet({self.conversation_id!r}, phase={self._phase}, "
            f"round={self.round}, winners={self._winners!r})"
        )

    @property
    def phase(self) -> Phase:
        """idle, collecting, awaiting-results or done."""
        return self._phase

    @property
    def round(self) -> int:
        """The current round, from 1."""
        return self._rounds[-1].number

    @property
    def participants(self) -> tuple[str, ...]:
        """Who the current round's call goes to."""
        return tuple(self._rounds[-1].invited)

    @property
    def reply_by(self) -> float:
        """The current round's deadline for proposals."""
        return self._rounds[-1].reply_by

    @property
    def result_by(self) -> float | None:
        """The deadline for the winners' results, if one was set."""
        return self._result_by

    @property
    def winners(self) -> tuple[str, ...]:
        """The participants awarded."""
        return tuple(self._winners)

    def proposals(self) -> dict[str, Any]:
        """The current round's proposals received in time, in arrival order."""
        return dict(self._rounds[-1].proposals)

    # -- calls ----------------------------------------------------------------------------

    def cfp_sent(self, now: float) -> None:
        """The call of the current round went out: start collecting replies.

        Raises:
            UsageError: not idle, or ``reply_by`` has already passed.
        """
        if self._phase != "idle":
            raise UsageError(f"cfp_sent() in phase {self._phase}; the call is already out")
        current = self._rounds[-1]
        if now >= current.reply_by:
            raise UsageError("reply_by has already passed; nobody could answer in time")
        current.sent = True
        self._phase = "collecting"

    def collection_done(self, now: float) -> bool:
        """Whether collecting is over: every invited participant answered, or time is up."""
        if self._phase == "idle":
            return False
        if self._phase != "collecting":
            return True
        current = self._rounds[-1]
        return now >= current.reply_by or _PENDING not in current.turns.values()

    def award(
        self, accepted: Sequence[str], *, result_by: float | None = None
    ) -> tuple[list[str], list[str]]:
        """Accept some proposals of the current round and reject the others.

        Awarding before :meth:`collection_done` is allowed; anyone who has not answered
        by then is silent, and its later reply late.

        Args:
            accepted: the winners, each of which proposed in time this round.
            result_by: the deadline for the winners' results (``None``: wait until
                :meth:`close`).

        Returns:
            ``(accept, reject)``: who gets accept-proposal, who gets reject-proposal.

        Raises:
            UsageError: not collecting, or a winner did not propose in time.
        """
        current = self._collecting_round("award")
        winners = _unique(accepted, "accepted")
        strangers = [p for p in winners if p not in current.proposals]
        if strangers:
            raise UsageError(f"cannot award {strangers!r}: no proposal in time this round")
        current.closed = True
        chosen = set(winners)
        reject = [p for p in current.invited if p in current.proposals and p not in chosen]
        self._rejected.extend(reject)
        self._winners = winners
        self._result_by = result_by
        self._reports = dict.fromkeys(winners, _PENDING)
        self._phase = "awaiting-results" if winners else "done"
        return list(winners), reject

    def iterate(
        self, new_reply_by: float, participants: Sequence[str] | None = None
    ) -> tuple[list[str], list[str]]:
        """Close this round and prepare a revised call (Iterated Contract Net).

        Call :meth:`cfp_sent` once the new call is out.

        Args:
            new_reply_by: the new round's deadline for proposals.
            participants: who gets the new call (default: this round's proposers, in
                invitation order). Others may be added.

        Returns:
            ``(invite, reject)``: who gets the new cfp, and which of this round's
            proposers get reject-proposal because they are not called again.

        Raises:
            UsageError: not collecting, or a participant is listed twice.
        """
        current = self._collecting_round("iterate")
        if participants is None:
            invite = [p for p in current.invited if p in current.proposals]
        else:
            invite = _unique(participants, "participants")
        current.closed = True
        again = set(invite)
        reject = [p for p in current.invited if p in current.proposals and p not in again]
        self._rejected.extend(reject)
        self._open_round(invite, new_reply_by)
        self._phase = "idle"
        return list(invite), reject

    def close(self) -> None:
        """End the protocol now: who has not answered is silent, later replies are late."""
        current = self._rounds[-1]
        current.closed = True
        self._phase = "done"

    # -- replies --------------------------------------------------------------------------

    def on_message(self, participant: str, performative: str, content: Any, now: float) -> Verdict:
        """Record any message of the conversation: a winner's (after the award) goes to
        :meth:`on_result`, everything else to :meth:`on_reply`."""
        if participant in self._reports:
            return self.on_result(participant, performative, content, now)
        return self.on_reply(participant, performative, content, now)

    def on_reply(self, participant: str, performative: str, content: Any, now: float) -> Verdict:
        """Record a participant's answer to a call (propose, refuse, not-understood).

        Returns:
            The verdict; see the module docstring.
        """
        rnd = self._last_round.get(participant)
        reply = Reply(
            participant, performative, content, now, self.round if rnd is None else rnd.number
        )
        if rnd is None:
            self._unknown.append(reply)
            return "unknown"
        if not rnd.sent:
            return self._violate(reply, f"{performative} before the call of round {rnd.number}")
        turn = rnd.turns[participant]
        if turn != _PENDING:
            return self._violate(reply, f"{performative} after {turn} in round {rnd.number}")
        answer = _CALL_ANSWERS.get(performative)
        if answer is None:
            rnd.turns[participant] = "violation"
            return self._violate(
                reply,
                f"{performative} out of sequence: a call is answered by "
                "propose, refuse or not-understood",
            )
        if rnd.closed or now >= rnd.reply_by:
            rnd.turns[participant] = "late"
            self._late.append(reply)
            return "late"
        rnd.turns[participant] = answer
        if answer == "proposed":
            rnd.proposals[participant] = content
        return "accepted"

    def on_result(self, participant: str, performative: str, content: Any, now: float) -> Verdict:
        """Record a winner's report (inform with the result, or failure).

        Returns:
            The verdict; see the module docstring.
        """
        reply = Reply(participant, performative, content, now, self.round)
        if participant not in self._last_round:
            self._unknown.append(reply)
            return "unknown"
        report = self._reports.get(participant)
        if report is None:
            return self._violate(reply, f"{performative} from a participant not awarded")
        if report != _PENDING:
            return self._violate(reply, f"{performative} after {report}")
        answer = _RESULT_ANSWERS.get(performative)
        if answer is None:
            self._report(participant, "violation")
            return self._violate(
                reply, f"{performative} out of sequence: a winner answers inform or failure"
            )
        if self._phase == "done" or (self._result_by is not None and now >= self._result_by):
            self._report(participant, "late")
            self._late.append(reply)
            return "late"
        (self._results if answer == "informed" else self._failures)[participant] = content
        self._report(participant, answer)
        return "accepted"

    def results_done(self, now: float) -> bool:
        """Whether every winner reported, or ``result_by`` has passed."""
        if self._phase == "done":
            return True
        if self._phase != "awaiting-results":
            return False
        return self._result_by is not None and now >= self._result_by

    # -- summary --------------------------------------------------------------------------

    def outcome(self) -> ContractNetOutcome:
        """A summary of everything recorded so far (final once ``finished``)."""
        refused: set[str] = set()
        not_understood: set[str] = set()
        silent: set[str] = set()
        for rnd in self._rounds:
            for participant, turn in rnd.turns.items():
                if turn == "refused":
                    refused.add(participant)
                elif turn == "not-understood":
                    not_understood.add(participant)
                elif turn == _PENDING and rnd.sent and rnd.closed:
                    silent.add(participant)
        finished = self._phase == "done"
        if finished:
            silent.update(p for p, report in self._reports.items() if report == _PENDING)
        sent = [rnd for rnd in self._rounds if rnd.sent]
        return ContractNetOutcome(
            rounds=len(sent),
            finished=finished,
            proposals=dict(sent[-1].proposals) if sent else {},
            winners=tuple(self._winners),
            rejected=tuple(self._rejected),
            results=dict(self._results),
            failures=dict(self._failures),
            refused=self._in_order(refused),
            not_understood=self._in_order(not_understood),
            silent=self._in_order(silent),
            late=tuple(self._late),
            unknown=tuple(self._unknown),
            violations=tuple(self._violations),
        )

    # -- machinery ------------------------------------------------------------------------

    def _open_round(self, invited: list[str], reply_by: float) -> None:
        number = len(self._rounds) + 1
        rnd = _Round(number, reply_by, invited, dict.fromkeys(invited, _PENDING))
        self._rounds.append(rnd)
        for participant in invited:
            self._order.setdefault(participant, len(self._order))
            self._last_round[participant] = rnd

    def _collecting_round(self, action: str) -> _Round:
        if self._phase != "collecting":
            raise UsageError(f"{action}() in phase {self._phase}; it needs collected replies")
        return self._rounds[-1]

    def _report(self, participant: str, report: str) -> None:
        self._reports[participant] = report
        if self._phase == "awaiting-results" and _PENDING not in self._reports.values():
            self._phase = "done"

    def _violate(self, reply: Reply, reason: str) -> Verdict:
        self._violations.append(
            Violation(
                reply.participant,
                reply.performative,
                reason,
                reply.time,
                reply.round,
                reply.content,
            )
        )
        return "violation"

    def _in_order(self, participants: set[str]) -> tuple[str, ...]:
        return tuple(sorted(participants, key=self._order.__getitem__))


class ContractNetParticipant:
    """The participant's side of a contract net with one initiator.

    States: ``idle`` -> ``cfp-received`` -> ``proposed`` | ``refused`` |
    ``not-understood``; ``proposed`` -> ``awarded`` | ``rejected`` | ``cfp-received``
    (a new round); ``awarded`` -> ``done`` | ``failed``; the initiator may ``cancel``
    any open turn.

    Args:
        conversation_id: the conversation, for error details.
    """

    __slots__ = ("_machine", "reply_by", "rounds")

    def __init__(self, *, conversation_id: str | None = None) -> None:
        self._machine = Interaction(CONTRACT_NET, "participant", conversation_id=conversation_id)
        #: The deadline of the last call received, if it had one.
        self.reply_by: float | None = None
        #: How many calls were received (rounds of an iterated contract net).
        self.rounds = 0

    def __repr__(self) -> str:
        return f"ContractNetParticipant(state={self.state!r}, rounds={self.rounds})"

    @property
    def state(self) -> str:
        """The current state."""
        return self._machine.state

    @property
    def finished(self) -> bool:
        """Whether this participant's part is over."""
        return self._machine.finished

    def receive(self, performative: str, *, reply_by: float | None = None) -> str:
        """Record a message from the initiator.

        Args:
            performative: cfp, accept-proposal, reject-proposal or cancel.
            reply_by: the deadline a cfp carries.

        Returns:
            The new state.

        Raises:
            OutOfSequence: the initiator may not send this now (for instance
                accept-proposal without a prior proposal).
        """
        state = self._machine.receive(performative)
        if performative == "cfp":
            self.rounds += 1
            self.reply_by = reply_by
        return state

    def send(self, performative: str, *, now: float | None = None) -> str:
        """Record a message this participant is about to send.

        Args:
            performative: propose, refuse, not-understood, inform or failure.
            now: the current time; given, an answer to a call is checked against its
                ``reply_by``.

        Returns:
            The new state.

        Raises:
            UsageError: the protocol does not allow sending it now.
            DeadlineExceeded: the call's ``reply_by`` has passed.
        """
        if (
            now is not None
            and self.reply_by is not None
            and self.state == "cfp-received"
            and performative in _CALL_ANSWERS
            and now >= self.reply_by
        ):
            raise DeadlineExceeded(
                "the call's reply_by has passed", data={"performative": performative}
            )
        return self._machine.send(performative)


def earliest_reply_by(messages: Iterable[Message | Mapping[str, Any]]) -> float | None:
    """The earliest ``reply_by`` over outgoing messages: the collection deadline.

    Args:
        messages: :class:`~agentlink.model.Message` objects or their wire dicts.

    Returns:
        Epoch seconds, or ``None`` when no message has a ``reply_by``.

    Raises:
        InvalidParams: a ``reply_by`` is not an RFC 3339 timestamp.
    """
    earliest: float | None = None
    for message in messages:
        text = message.reply_by if isinstance(message, Message) else message.get("reply_by")
        if text is None:
            continue
        when = parse_rfc3339(text)
        if earliest is None or when < earliest:
            earliest = when
    return earliest
