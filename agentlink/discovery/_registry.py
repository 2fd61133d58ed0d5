"""The agent directory: registrations with leases, indexed search, and a numbered change feed.

Rules:

- A registration lives while ``now < expires_at``; a heartbeat with the lease id moves
  ``expires_at`` to ``now + ttl_s``. Time is an argument of every call, so the logic is
  deterministic; :func:`run_reaper` drives expiry from a real clock.
- Expired leases are purged on every call that takes ``now`` (from a heap of expiries, so a
  call with nothing to expire costs one comparison): a search never returns an expired agent.
- Registering an id that a live lease holds replaces the card when the caller is the same
  owner (``updated``, a new lease id; the old lease stops working) and fails with
  ``already_registered`` otherwise.
- A heartbeat or deregistration with a lease id that is not the agent's current one is
  ``forbidden``: the lease was superseded or belongs to someone else, and re-registering
  blindly would fight the current holder. An unknown or expired agent is
  ``agent_not_found`` for a heartbeat (re-register) and ``removed: false`` for a
  deregistration (it is gone either way).
- With a card verifier, a card is admitted only as the verifier allows: one that requires
  signatures refuses a card that no key allowed for its id vouches for with
  ``unauthorized`` (ALP-SEC-016), before any other check of the registration; nobody
  registers as ``cnc-7`` without a key of ``cnc-7``. The card is stored as it came,
  signature included, so every reader of a search can verify it again (ALP-REG-010).
- Every change gets the next ``seq`` (from 1). The last ``history`` changes are kept. A
  watcher whose ``after_seq`` is older than that window, or newer than the last change (the
  registry restarted), gets ``invalid_params`` whose data carries ``first_seq`` and
  ``last_seq``: it resyncs by searching, then watches from ``last_seq``. Replaying changes
  that the search already reflected is harmless: cards are whole, removals idempotent.
"""

from __future__ import annotations

import heapq
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import anyio
from anyio.abc import TaskStatus

from agentlink.core._deadline import format_rfc3339
from agentlink.core._dispatch import Call, Dispatcher
from agentlink.model import (
    METHODS,
    AgentCard,
    AgentNotFound,
    AlreadyRegistered,
    DeregisterParams,
    DeregisterResult,
    Forbidden,
    HeartbeatParams,
    InvalidParams,
    Lease,
    Overloaded,
    RegisterParams,
    RegistryChange,
    SearchParams,
    UsageError,
    WatchParams,
    WatchResult,
)
from agentlink.security._cards import CardVerifier

from ._index import CRITERIA, AgentIndex, Key, card_keys

__all__ = ["DEFAULT_HISTORY", "MAX_TTL_S", "Registry", "mount_registry", "run_reaper"]

#: Changes kept for watchers that fall behind.
DEFAULT_HISTORY: Final = 10_000
#: The longest lease the protocol allows (``Lease.ttl_s``).
MAX_TTL_S: Final = 86_400.0
#: The most changes one ``registry/watch`` reply carries.
WATCH_PAGE: Final = 1000

_Kind = Literal["registered", "updated", "deregistered", "expired"]


def _new_lease_id() -> str:
    # The lease id is what proves a heartbeat comes from the registrant: unguessable.
    return "lease-" + secrets.token_hex(12)


@dataclass(slots=True)
class _Entry:
    card: AgentCard
    keys: frozenset[Key]
    owner: str | None
    lease_id: str
    ttl_s: float
    expires_at: float
    wire: dict[str, Any] | None = None


class Registry:
    """An in-memory agent directory with leases, indexed search and a change feed.

    Args:
        history: how many changes to keep for ``changes_after``.
        max_agents: refuse registrations beyond this many live agents (``overloaded``).
        new_lease_id: makes lease ids; the default draws 96 random bits.
        verifier: checks the signature of every card registered; None checks nothing.
    """

    def __init__(
        self,
        *,
        history: int = DEFAULT_HISTORY,
        max_agents: int | None = None,
        new_lease_id: Callable[[], str] = _new_lease_id,
        verifier: CardVerifier | None = None,
    ) -> None:
        if history < 1:
            raise UsageError(f"history must be at least 1, got {history}")
        self._history = history
        self._max_agents = max_agents
        self._new_lease_id = new_lease_id
        self.verifier = verifier
        self._entries: dict[str, _Entry] = {}
        self._index = AgentIndex()
        # (expires_at, agent_id, lease_id); renewals push a new item and leave the old one
        # to be skipped when popped, so every operation stays O(log n).
        self._expiries: list[tuple[float, str, str]] = []
        self._log: list[RegistryChange] = []
        self._log_first = 1  # seq of self._log[0]
        self._last_seq = 0
        self._wakeup: anyio.Event | None = None

    def __len__(self) -> int:
        """Registrations held, counting those whose lease ran out after the last call that
        took ``now``."""
        return len(self._entries)

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the latest change, 0 before the first."""
        return self._last_seq

    # -- registrations ------------------------------------------------------------------

    def register(
        self,
        card: AgentCard,
        *,
        ttl_s: float,
        now: float,
        owner: str | None = None,
        wire: dict[str, Any] | None = None,
    ) -> Lease:
        """Register ``card`` for ``ttl_s`` seconds, or replace the card of a live
        registration made by the same ``owner``. ``wire`` is the card as it came on the
        wire; searches and the change feed return it unchanged.

        Returns:
            A lease with a new lease id.

        Raises:
            AlreadyRegistered: a live lease of another owner holds ``card.id``.
            InvalidParams: ``ttl_s`` is not in (0, 86400].
            Unauthorized: the verifier requires signed cards and no key allowed for
                ``card.id`` vouches for this one.
            Overloaded: the registry holds ``max_agents`` agents already.
        """
        if not (isinstance(ttl_s, int | float) and 0 < ttl_s <= MAX_TTL_S):
            raise InvalidParams(
                f"ttl_s must be in (0, {MAX_TTL_S:g}], got {ttl_s!r}",
                data={"errors": [{"pointer": "/ttl_s", "message": "out of range"}]},
            )
        if self.verifier is not None:
            self.verifier.admit(card if wire is None else wire)
        self.expire(now)
        agent_id = card.id
        old = self._entries.get(agent_id)
        if old is not None and old.owner != owner:
            raise AlreadyRegistered(
                f"agent {agent_id!r} is registered by another owner until its lease expires",
                data={"agent_id": agent_id, "expires_at": format_rfc3339(old.expires_at, digits=3)},
            )
        if old is None and self._max_agents is not None and len(self._entries) >= self._max_agents:
            raise Overloaded(
                f"the registry holds its maximum of {self._max_agents} agents",
                data={"max_agents": self._max_agents},
            )
        keys = card_keys(card)
        entry = _Entry(card, keys, owner, self._new_lease_id(), float(ttl_s), now + ttl_s, wire)
        if old is not None:
            self._index.remove(agent_id, old.keys)
        self._index.add(agent_id, keys)
        self._entries[agent_id] = entry
        heapq.heappush(self._expiries, (entry.expires_at, agent_id, entry.lease_id))
        self._compact_expiries()
        self._emit("updated" if old is not None else "registered", agent_id, card)
        return _lease(agent_id, entry)

    def heartbeat(self, agent_id: str, lease_id: str, *, now: float) -> Lease:
        """Renew a lease: it now expires ``ttl_s`` after ``now``.

        Raises:
            AgentNotFound: no live registration of ``agent_id`` (re-register).
            Forbidden: ``lease_id`` is not the agent's current lease.
        """
        self.expire(now)
        entry = self._owned(agent_id, lease_id)
        if entry is None:
            raise AgentNotFound(
                f"agent {agent_id!r} is not registered (or its lease expired)",
                data={"agent_id": agent_id},
            )
        entry.expires_at = now + entry.ttl_s
        heapq.heappush(self._expiries, (entry.expires_at, agent_id, lease_id))
        self._compact_expiries()
        return _lease(agent_id, entry)

    def deregister(self, agent_id: str, lease_id: str, *, now: float) -> bool:
        """Remove a registration. Returns False when there was none to remove.

        Raises:
            Forbidden: ``lease_id`` is not the agent's current lease.
        """
        self.expire(now)
        if self._owned(agent_id, lease_id) is None:
            return False
        self._remove(agent_id, "deregistered")
        return True

    def expire(self, now: float) -> list[str]:
        """Remove every agent whose lease ran out at or before ``now``; their ids, in
        order of expiry."""
        expired: list[str] = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, agent_id, lease_id = heapq.heappop(heap)
            entry = self._entries.get(agent_id)
            if entry is None or entry.lease_id != lease_id or entry.expires_at != expires_at:
                continue  # superseded by a renewal, a re-registration or a removal
            self._remove(agent_id, "expired")
            expired.append(agent_id)
        return expired

    def next_expiry(self) -> float | None:
        """The earliest instant at which a lease may run out, or None without leases."""
        return self._expiries[0][0] if self._expiries else None

    # -- queries -------------------------------------------------------------------------

    def wire_card(self, card: AgentCard) -> dict[str, Any]:
        """The card as it was registered (unknown members and absent defaults included,
        ALP-REG-010), while it is the current one; else its model's wire form."""
        entry = self._entries.get(card.id)
        if entry is not None and entry.card is card and entry.wire is not None:
            return entry.wire
        return card.to_wire()

    def get(self, agent_id: str, *, now: float) -> AgentCard | None:
        """The card of a live registration, or None."""
        self.expire(now)
        entry = self._entries.get(agent_id)
        return None if entry is None else entry.card

    def search(
        self,
        *,
        now: float,
        role: str | None = None,
        capability: str | None = None,
        tool: str | None = None,
        asset: str | None = None,
        tag: str | None = None,
        profile: str | None = None,
        agent_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[AgentCard], str | None]:
        """Live agents matching every given criterion, ordered by id.

        ``capability`` matches that capability and every capability below it in the dotted
        hierarchy. ``cursor`` is the ``next_cursor`` of the previous page: an opaque string
        (today the last id of that page).

        Returns:
            The cards of at most ``limit`` agents, and the cursor of the next page or None.
        """
        self.expire(now)
        given = (role, capability, tool, asset, tag, profile)
        criteria = [(k, v) for k, v in zip(CRITERIA, given, strict=True) if v is not None]
        if agent_id is not None and agent_id not in self._entries:
            return [], None
        ids, more = self._index.query(criteria, limit=limit, cursor=cursor, only=agent_id)
        cards = [self._entries[i].card for i in ids]
        return cards, (ids[-1] if more else None)

    # -- change feed ---------------------------------------------------------------------

    def changes_after(self, after_seq: int, limit: int = WATCH_PAGE) -> list[RegistryChange]:
        """At most ``limit`` changes with ``seq > after_seq``, oldest first.

        Raises:
            InvalidParams: ``after_seq`` is behind the kept history or ahead of the feed;
                ``data`` carries ``first_seq`` and ``last_seq`` for a resync.
        """
        if limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}")
        first = self._log_first
        if after_seq < first - 1 or after_seq > self._last_seq:
            where = "behind the kept history" if after_seq < first - 1 else "ahead of the feed"
            raise InvalidParams(
                f"after_seq {after_seq} is {where} (changes {first}..{self._last_seq} are "
                "kept); search the registry, then watch from last_seq",
                data={
                    "errors": [{"pointer": "/after_seq", "message": where}],
                    "first_seq": first,
                    "last_seq": self._last_seq,
                },
            )
        start = after_seq + 1 - first
        return self._log[start : start + limit]

    async def wait_changes(
        self, after_seq: int, *, wait_s: float, limit: int = WATCH_PAGE
    ) -> list[RegistryChange]:
        """Like :meth:`changes_after`, but when nothing is new, wait up to ``wait_s``
        seconds for the next change (a long poll). Returns an empty list on timeout."""
        changes = self.changes_after(after_seq, limit)
        if changes or wait_s <= 0:
            return changes
        with anyio.move_on_after(wait_s):
            while not changes:
                if self._wakeup is None:
                    self._wakeup = anyio.Event()
                await self._wakeup.wait()
                changes = self.changes_after(after_seq, limit)
        return changes

    # -- internals -----------------------------------------------------------------------

    def _owned(self, agent_id: str, lease_id: str) -> _Entry | None:
        entry = self._entries.get(agent_id)
        if entry is not None and entry.lease_id != lease_id:
            raise Forbidden(
                f"lease {lease_id!r} is not the current lease of agent {agent_id!r}",
                data={"agent_id": agent_id},
            )
        return entry

    def _remove(self, agent_id: str, kind: _Kind) -> None:
        entry = self._entries.pop(agent_id)
        self._index.remove(agent_id, entry.keys)
        self._emit(kind, agent_id, None)

    def _emit(self, kind: _Kind, agent_id: str, card: AgentCard | None) -> None:
        self._last_seq += 1
        # Every member is already valid: skip re-validating the card on the hot path.
        change = RegistryChange.model_construct(
            seq=self._last_seq, kind=kind, agent_id=agent_id, card=card
        )
        self._log.append(change)
        if len(self._log) >= 2 * self._history:
            # Trimming in bulk keeps appends O(1) amortized.
            drop = len(self._log) - self._history
            del self._log[:drop]
            self._log_first += drop
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _compact_expiries(self) -> None:
        # Renewals leave superseded items behind; rebuild before they dominate the heap.
        if len(self._expiries) > 4 * len(self._entries) + 64:
            self._expiries = [
                (entry.expires_at, agent_id, entry.lease_id)
                for agent_id, entry in self._entries.items()
            ]
            heapq.heapify(self._expiries)


def _lease(agent_id: str, entry: _Entry) -> Lease:
    return Lease(
        agent_id=agent_id,
        lease_id=entry.lease_id,
        ttl_s=entry.ttl_s,
        expires_at=format_rfc3339(entry.expires_at, digits=3),
    )


def mount_registry(dispatcher: Dispatcher, registry: Registry) -> None:
    """Serve ``registry`` on ``dispatcher``: ``registry/register``, ``heartbeat``,
    ``deregister``, ``search`` and ``watch``.

    The instant of each call is the dispatcher's ``now``; the owner of a registration is
    ``_meta.sender``. A watch waits at most ``wait_ms``, and never past the call's deadline.

    Raises:
        UsageError: one of these methods is already routed (nothing is added then).
    """

    # Cursors this registry issued (ALP-REG-013): any other is refused.
    issued: OrderedDict[str, None] = OrderedDict()
    wire_card = registry.wire_card

    async def register(call: Call) -> dict[str, Any]:
        params: RegisterParams = call.model
        lease = registry.register(
            params.card,
            ttl_s=params.ttl_s,
            now=call.now,
            owner=call.sender,
            wire=call.params["card"],
        )
        return lease.to_wire()

    async def heartbeat(call: Call) -> dict[str, Any]:
        params: HeartbeatParams = call.model
        return registry.heartbeat(params.agent_id, params.lease_id, now=call.now).to_wire()

    async def deregister(call: Call) -> dict[str, Any]:
        params: DeregisterParams = call.model
        removed = registry.deregister(params.agent_id, params.lease_id, now=call.now)
        return DeregisterResult(removed=removed).to_wire()

    async def search(call: Call) -> dict[str, Any]:
        p: SearchParams = call.model
        if p.cursor is not None and p.cursor not in issued:
            raise InvalidParams(
                "this registry did not issue that cursor",
                data={"errors": [{"pointer": "/cursor", "message": "unknown cursor"}]},
            )
        cards, next_cursor = registry.search(
            now=call.now,
            role=p.role,
            capability=p.capability,
            tool=p.tool,
            asset=p.asset,
            tag=p.tag,
            profile=p.profile,
            agent_id=p.agent_id,
            limit=p.limit,
            cursor=p.cursor,
        )
        if next_cursor is not None:
            issued[next_cursor] = None
            issued.move_to_end(next_cursor)
            while len(issued) > 10_000:
                issued.popitem(last=False)
        result: dict[str, Any] = {"agents": [wire_card(card) for card in cards]}
        if next_cursor is not None:
            result["next_cursor"] = next_cursor
        return result

    async def watch(call: Call) -> dict[str, Any]:
        params: WatchParams = call.model
        wait_s = params.wait_ms / 1000
        if call.deadline is not None:
            wait_s = min(wait_s, max(call.deadline - call.now, 0.0))
        registry.expire(call.now)
        changes = await registry.wait_changes(params.after_seq, wait_s=wait_s)
        last_seq = changes[-1].seq if changes else params.after_seq
        wire = WatchResult(changes=changes, last_seq=last_seq).to_wire()
        for change, model in zip(wire["changes"], changes, strict=True):
            if model.card is not None:
                change["card"] = wire_card(model.card)
        return wire

    handlers = {
        "registry/register": register,
        "registry/heartbeat": heartbeat,
        "registry/deregister": deregister,
        "registry/search": search,
        "registry/watch": watch,
    }
    taken = sorted(set(handlers) & set(dispatcher.methods()))
    if taken:
        # Checked first so that a failed mount leaves the dispatcher as it was.
        raise UsageError(f"methods already routed: {', '.join(taken)}")
    for method, handler in handlers.items():
        dispatcher.add(method, handler, params_model=METHODS[method].params)


async def run_reaper(
    registry: Registry,
    *,
    interval_s: float = 1.0,
    clock: Callable[[], float] = time.time,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Expire leases as they run out, so that watchers see ``expired`` promptly.

    Runs until cancelled; start it with ``await task_group.start(run_reaper, registry)``.
    It wakes at the next expiry or after ``interval_s``, whichever comes first (a lease
    granted while it sleeps is caught within ``interval_s``).
    """
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise UsageError(f"interval_s must be a positive number, got {interval_s!r}")
    task_status.started()
    while True:
        now = clock()
        registry.expire(now)
        next_expiry = registry.next_expiry()
        delay = interval_s if next_expiry is None else min(interval_s, next_expiry - now)
        await anyio.sleep(max(delay, 0.0))
