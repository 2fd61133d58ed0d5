"""A transport that injects faults: lost frames, delays, duplicates, reordering, outages.

Wrap any transport to see how agents behave when the network misbehaves. Every choice
comes from a seeded random generator, so a failing run replays exactly::

    faulty = FaultyTransport(MemoryTransport(network), duplicate=0.3, drop_reply=0.1, seed=7)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import anyio

from agentlink.model import ConnectError, ReadError, UsageError
from agentlink.transport import FrameHandler, Transport

__all__ = ["FaultStats", "FaultyTransport"]


@dataclass
class FaultStats:
    """How many faults were injected, by kind."""

    requests: int = 0
    dropped_requests: int = 0
    dropped_replies: int = 0
    duplicated: int = 0
    delayed: int = 0
    refused: int = 0


class FaultyTransport:
    """Wraps a transport and injects faults on the calling side.

    Args:
        inner: the transport that really moves the frames.
        drop_request: probability that a request is lost before delivery (the caller
            gets :class:`ReadError`; the receiver never sees it).
        drop_reply: probability that the reply is lost after the receiver handled the
            request (the work was done; the caller gets :class:`ReadError`).
        duplicate: probability that a request is delivered twice (the caller gets the
            first reply).
        delay: upper bound, in seconds, of a random delay before delivery; concurrent
            requests then overtake each other (reordering).
        seed: seed of the random generator.
    """

    def __init__(
        self,
        inner: Transport,
        *,
        drop_request: float = 0.0,
        drop_reply: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        seed: int = 0,
    ) -> None:
        for name, p in (
            ("drop_request", drop_request),
            ("drop_reply", drop_reply),
            ("duplicate", duplicate),
        ):
            if not 0.0 <= p <= 1.0:
                raise UsageError(f"{name} must be a probability, got {p!r}")
        if delay < 0:
            raise UsageError("delay must be >= 0")
        self.inner = inner
        self.binding = inner.binding
        self.drop_request = drop_request
        self.drop_reply = drop_reply
        self.duplicate = duplicate
        self.delay = delay
        self.random = random.Random(seed)
        self.stats = FaultStats()
        self._down = False

    def disconnect(self) -> None:
        """Refuse every request (:class:`ConnectError`) until :meth:`reconnect`."""
        self._down = True

    def reconnect(self) -> None:
        self._down = False

    async def _maybe_delay(self) -> None:
        if self.delay:
            self.stats.delayed += 1
            await anyio.sleep(self.random.uniform(0, self.delay))

    async def request(self, address: str, frame: bytes, *, timeout: float | None = None) -> bytes:
        self.stats.requests += 1
        if self._down:
            self.stats.refused += 1
            raise ConnectError(f"injected outage: cannot reach {address!r}")
        if self.random.random() < self.drop_request:
            self.stats.dropped_requests += 1
            raise ReadError("injected fault: request lost")
        await self._maybe_delay()
        reply = await self.inner.request(address, frame, timeout=timeout)
        if self.random.random() < self.duplicate:
            self.stats.duplicated += 1
            await self.inner.request(address, frame, timeout=timeout)
        if self.random.random() < self.drop_reply:
            self.stats.dropped_replies += 1
            raise ReadError("injected fault: reply lost")
        return reply

    async def notify(self, address: str, frame: bytes) -> None:
        if self._down:
            raise ConnectError(f"injected outage: cannot reach {address!r}")
        if self.random.random() < self.drop_request:
            self.stats.dropped_requests += 1
            return
        await self._maybe_delay()
        await self.inner.notify(address, frame)
        if self.random.random() < self.duplicate:
            self.stats.duplicated += 1
            await self.inner.notify(address, frame)

    async def bind(self, address: str, handler: FrameHandler) -> str:
        return await self.inner.bind(address, handler)

    async def unbind(self, address: str) -> None:
        await self.inner.unbind(address)

    async def aclose(self) -> None:
        await self.inner.aclose()
