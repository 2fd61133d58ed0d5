"""Events: each agent's numbered log, and the in-process bus that fans events out.

A published event is appended to its source agent's log (``seq`` 1, 2, 3, ...), which
serves ``events/subscribe`` long polls and resumption, and is handed to every local
subscription whose pattern matches. Each subscription has a bounded mailbox and one
consumer task, so a slow subscriber never blocks the publisher or the others; when a
mailbox overflows the oldest event is dropped and counted, and the subscriber can catch up
from the source's log.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentlink.core._deadline import format_rfc3339
from agentlink.core._topics import compile_pattern
from agentlink.model import Event

__all__ = ["EventBus", "EventLog", "Subscription"]

log = logging.getLogger("agentlink.events")
EventHandler = Callable[[Event], Awaitable[None]]


class EventLog:
    """One source agent's events, numbered from 1, the last ``maxlen`` kept."""

    def __init__(self, source: str, *, maxlen: int = 10_000) -> None:
        self.source = source
        self._events: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0
        self._changed = anyio.Event()
        self._prefix = secrets.token_hex(4)

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(
        self, topic: str, data: Any, *, now: float, datacontenttype: str = "application/json"
    ) -> dict[str, Any]:
        """Add an event; returns its wire form."""
        self._seq += 1
        event = {
            "id": f"{self.source}-{self._prefix}-{self._seq}",
            "topic": topic,
            "source": self.source,
            "time": format_rfc3339(now),
            "seq": self._seq,
            "datacontenttype": datacontenttype,
            "data": data,
        }
        self._events.append(event)
        self._changed.set()
        self._changed = anyio.Event()
        return event

    def after(
        self, after_seq: int, patterns: list[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events with ``seq > after_seq`` whose topic matches one of ``patterns``."""
        if after_seq >= self._seq or not self._events:
            return []
        first = self._events[0]["seq"]
        start = max(0, after_seq - first + 1)
        matchers = [compile_pattern(p) for p in patterns] if patterns else None
        out: list[dict[str, Any]] = []
        for i in range(start, len(self._events)):
            event = self._events[i]
            if matchers is None or any(m(event["topic"]) for m in matchers):
                out.append(event)
                if len(out) >= limit:
                    break
        return out

    async def wait(self, after_seq: int, timeout: float) -> None:
        """Return once an event newer than ``after_seq`` exists, or ``timeout`` passed."""
        if self._seq > after_seq or timeout <= 0:
            return
        with anyio.move_on_after(timeout):
            while self._seq <= after_seq:
                await self._changed.wait()


@dataclass(eq=False)
class Subscription:
    """A local subscriber's pattern, handler and bounded mailbox."""

    subscriber: str
    pattern: str
    handler: EventHandler
    maxlen: int = 10_000
    dropped: int = 0
    delivered: int = 0
    _mailbox: deque[Event] = field(default_factory=deque)
    _wake: anyio.Event = field(default_factory=anyio.Event)
    _closed: bool = False

    def matches(self, topic: str) -> bool:
        return compile_pattern(self.pattern)(topic)

    def put(self, event: Event) -> None:
        """Queue ``event``; it is shared with the other subscribers, so handlers must not
        change it."""
        if len(self._mailbox) >= self.maxlen:
            self._mailbox.popleft()
            self.dropped += 1
        self._mailbox.append(event)
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def run(self, report: Callable[[BaseException, str], None]) -> None:
        """Deliver events one by one until closed; a handler's exception is reported."""
        while not self._closed:
            if not self._mailbox:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            event = self._mailbox.popleft()
            try:
                await self.handler(event)
            except Exception as exc:
                report(exc, f"event handler of {self.subscriber!r} for {event.topic!r}")
            self.delivered += 1


@dataclass
class EventBus:
    """Routes published events to local subscriptions; routes are cached per topic."""

    subscriptions: list[Subscription] = field(default_factory=list)
    _routes: dict[str, list[Subscription]] = field(default_factory=dict)

    def add(self, subscription: Subscription) -> None:
        compile_pattern(subscription.pattern)  # refuse a malformed pattern now
        self.subscriptions.append(subscription)
        self._routes.clear()

    def remove(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)
            subscription.close()
            self._routes.clear()

    def publish(self, event: dict[str, Any]) -> int:
        """Hand ``event`` to every matching subscription; returns how many."""
        topic = event["topic"]
        route = self._routes.get(topic)
        if route is None:
            route = [s for s in self.subscriptions if s.matches(topic)]
            if len(self._routes) > 65_536:
                self._routes.clear()
            self._routes[topic] = route
        if route:
            # One Event for every subscriber: building it is most of a delivery's cost, and
            # events on the bus were built by the runtime itself, so none is validated again.
            shared = Event.model_construct(**event)
            for subscription in route:
                subscription.put(shared)
        return len(route)
