"""Idempotency bookkeeping for commands: run a keyed request at most once.

A request that carries ``_meta.idempotency_key`` is identified by its *scope*
``(sender, receiver, method, key)`` and by a digest of what it asks
(:func:`request_digest`). The receiver asks the cache before running the work::

    begin(scope, digest, now)
    ├── NEW        nobody ran it: run the work, then finish(scope, outcome, now)
    │              (or abandon(scope) if it was canceled before any side effect)
    ├── IN_FLIGHT  the same request is running: wait for entry.done, then use
    │              entry.outcome (or begin again if entry.abandoned)
    ├── DONE       it ran: reply with entry.outcome, do not run it again
    └── raises Duplicate   the key was used for a different request

This module does no waiting. :class:`Entry` carries a ``waiters`` list that the async layer
fills with its own wake-up objects (events, futures) and sets after :meth:`finish` or
:meth:`abandon`; the cache never touches them.

Memory is bounded twice: completed entries expire ``ttl`` seconds after they finished, and
beyond ``max_entries`` the least recently used *completed* entry is evicted. In-flight
entries are never evicted (their callers are waiting on them); when every slot holds one,
:meth:`begin` raises :class:`~agentlink.model.Overloaded`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import orjson

from agentlink.model import Duplicate, Overloaded, UsageError

__all__ = [
    "Begin",
    "BeginKind",
    "Entry",
    "IdempotencyCache",
    "Outcome",
    "Scope",
    "request_digest",
]

#: ``(sender, receiver, method, idempotency_key)``; sender/receiver may be ``""`` when absent.
Scope = tuple[str, str, str, str]
#: What a finished request produced: its result, or its JSON-RPC ``error`` object.
Outcome = tuple[Literal["result"], Any] | tuple[Literal["error"], dict[str, Any]]

_SORTED = orjson.OPT_SORT_KEYS


def request_digest(method: str, params: Mapping[str, Any]) -> str:
    """A stable digest of a request, to tell a retry from a different request.

    The params are serialised as canonical JSON (keys sorted at every level, no spaces)
    with the method name, then hashed with SHA-256. ``_meta`` is left out if present:
    a retry has a new message id and send time but asks for the same thing.

    Numbers keep their JSON type: ``1`` and ``1.0`` give different digests, as they do to
    the strict models.

    Args:
        method: the JSON-RPC method name.
        params: the request params.

    Returns:
        64 lower-case hex characters.

    Raises:
        UsageError: the params are not JSON data (non-string keys, arbitrary objects).
    """
    if "_meta" in params:
        params = {k: v for k, v in params.items() if k != "_meta"}
    try:
        canonical = orjson.dumps({"method": method, "params": params}, option=_SORTED)
    except orjson.JSONEncodeError as exc:
        raise UsageError(f"params of {method!r} are not JSON data: {exc}") from exc
    return hashlib.sha256(canonical).hexdigest()


class BeginKind(Enum):
    """What :meth:`IdempotencyCache.begin` found."""

    NEW = "new"
    IN_FLIGHT = "in-flight"
    DONE = "done"


@dataclass(eq=False, slots=True)
class Entry:
    """One keyed request, running or finished.

    Attributes:
        scope: the request's scope.
        digest: the request's digest.
        started_at: when the first attempt began.
        done: whether the outcome is known.
        outcome: the stored outcome once ``done``.
        finished_at: when it finished, once ``done``.
        abandoned: set by :meth:`IdempotencyCache.abandon`; waiters must begin again.
        waiters: free for the async layer (wake-up objects of callers waiting on this
            entry); never read by the cache.
    """

    scope: Scope
    digest: str
    started_at: float
    done: bool = False
    outcome: Outcome | None = None
    finished_at: float | None = None
    abandoned: bool = False
    waiters: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Begin:
    """The answer of :meth:`IdempotencyCache.begin`.

    Attributes:
        kind: NEW, IN_FLIGHT or DONE.
        entry: the entry: the caller's own (NEW), the one to wait on (IN_FLIGHT), or the
            finished one (DONE).
    """

    kind: BeginKind
    entry: Entry

    @property
    def outcome(self) -> Outcome:
        """The stored outcome of a DONE answer.

        Raises:
            UsageError: the answer is not DONE.
        """
        if self.entry.outcome is None:
            raise UsageError(f"a {self.kind.value} answer has no outcome yet")
        return self.entry.outcome


class IdempotencyCache:
    """Remembers keyed requests and their outcomes, bounded by age and count.

    Args:
        ttl: seconds a completed entry is kept after it finished.
        max_entries: most entries held, in flight and completed together.
    """

    def __init__(self, *, ttl: float = 86_400.0, max_entries: int = 10_000) -> None:
        if not ttl > 0:
            raise UsageError(f"ttl must be > 0, got {ttl!r}")
        if max_entries < 1:
            raise UsageError(f"max_entries must be >= 1, got {max_entries!r}")
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Scope, Entry] = {}
        # Completed entries, least recently used first.
        self._lru: OrderedDict[Scope, Entry] = OrderedDict()
        # Completed entries in finish order, for expiry; stale items are skipped lazily.
        self._expiry: deque[tuple[float, Entry]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        """How many entries are still running."""
        return len(self._entries) - len(self._lru)

    def get(self, scope: Scope) -> Entry | None:
        """The entry of ``scope`` if held (expired ones may linger until the next call)."""
        return self._entries.get(scope)

    def begin(self, scope: Scope, digest: str, now: float) -> Begin:
        """Look up a keyed request before running it.

        Args:
            scope: ``(sender, receiver, method, key)``.
            digest: :func:`request_digest` of the request.
            now: the current time as epoch seconds.

        Returns:
            NEW with a fresh in-flight entry, IN_FLIGHT with the running entry, or DONE
            with the finished entry.

        Raises:
            Duplicate: the key was used in this scope for a request with another digest.
            Overloaded: every slot holds an in-flight entry.
        """
        self.expire(now)
        entry = self._entries.get(scope)
        if entry is None:
            self._make_room()
            entry = Entry(scope=scope, digest=digest, started_at=now)
            self._entries[scope] = entry
            return Begin(BeginKind.NEW, entry)
        if entry.digest != digest:
            raise Duplicate(
                f"idempotency key {scope[3]!r} was already used for a different "
                f"{scope[2]!r} request",
                data={"method": scope[2], "idempotency_key": scope[3]},
            )
        if not entry.done:
            return Begin(BeginKind.IN_FLIGHT, entry)
        self._lru.move_to_end(scope)
        return Begin(BeginKind.DONE, entry)

    def finish(self, scope: Scope, outcome: Outcome, now: float) -> Entry:
        """Store the outcome of the in-flight request of ``scope``.

        Store errors too when the work may have had an effect; a retry then gets the same
        error instead of running again. Use :meth:`abandon` when nothing happened.

        Args:
            scope: the scope given to :meth:`begin`.
            outcome: ``("result", value)`` or ``("error", error_object)``.
            now: the current time as epoch seconds.

        Returns:
            The finished entry (its ``waiters`` are for the caller to wake).

        Raises:
            UsageError: no request of ``scope`` is in flight, or the outcome is malformed.
        """
        entry = self._in_flight_entry(scope, "finish")
        if not (
            isinstance(outcome, tuple)
            and len(outcome) == 2
            and (outcome[0] == "result" or (outcome[0] == "error" and isinstance(outcome[1], dict)))
        ):
            raise UsageError(
                f"outcome must be ('result', value) or ('error', dict), got {outcome!r}"
            )
        entry.done = True
        entry.outcome = outcome
        entry.finished_at = now
        self._lru[scope] = entry
        self._expiry.append((now + self.ttl, entry))
        if len(self._expiry) > 2 * self.max_entries:
            self._compact_expiry()
        return entry

    def abandon(self, scope: Scope) -> Entry | None:
        """Forget an in-flight request that stopped before any side effect, so a retry runs.

        Args:
            scope: the scope given to :meth:`begin`.

        Returns:
            The abandoned entry, now marked ``abandoned`` (its ``waiters`` are for the
            caller to wake), or ``None`` if nothing of ``scope`` is held.

        Raises:
            UsageError: the request already finished; its outcome stays.
        """
        entry = self._entries.get(scope)
        if entry is None:
            return None
        if entry.done:
            raise UsageError(f"cannot abandon {scope!r}: it already finished")
        del self._entries[scope]
        entry.abandoned = True
        return entry

    def expire(self, now: float) -> int:
        """Drop completed entries whose time to live has run out.

        Args:
            now: the current time as epoch seconds.

        Returns:
            How many entries were dropped.
        """
        dropped = 0
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, entry = expiry.popleft()
            # The entry may already be gone (evicted); only drop the one we queued.
            if self._entries.get(entry.scope) is entry:
                del self._entries[entry.scope]
                del self._lru[entry.scope]
                dropped += 1
        return dropped

    def _compact_expiry(self) -> None:
        # Evicted entries stay queued until their time; under a high rate that is far
        # more than max_entries, so rebuild the queue from the live entries.
        live = sorted(
            (((entry.finished_at or 0.0) + self.ttl, entry) for entry in self._lru.values()),
            key=lambda item: item[0],
        )
        self._expiry = deque(live)

    def _make_room(self) -> None:
        if len(self._entries) < self.max_entries:
            return
        if not self._lru:
            raise Overloaded(
                "too many idempotent requests in flight",
                data={"in_flight": len(self._entries), "limit": self.max_entries},
            )
        scope, _ = self._lru.popitem(last=False)
        del self._entries[scope]

    def _in_flight_entry(self, scope: Scope, action: str) -> Entry:
        entry = self._entries.get(scope)
        if entry is None or entry.done:
            state = "no entry" if entry is None else "already finished"
            raise UsageError(f"cannot {action} {scope!r}: {state}")
        return entry
