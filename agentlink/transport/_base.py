"""The transport contract: move frames between endpoints, open and close.

A transport knows addresses and bytes, never method names. The runtime hands it a
:data:`FrameHandler` per address it serves (``bind``) and asks it to deliver a request
frame to an address and bring back the reply frame (``request``). Every binding (memory,
HTTP, NATS) passes the same contract tests in :mod:`agentlink.testing`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from agentlink.model import AgentlinkError, ReadError, UsageError

__all__ = ["FrameHandler", "Origin", "Transport", "call_local"]


@dataclass(frozen=True, slots=True)
class Origin:
    """What a transport knows about where a frame came from.

    Attributes:
        binding: ``memory``, ``http`` or ``nats``.
        remote: the remote address as the binding sees it, if any.
        identity: the caller's identity as verified by the binding (None: unverified).
        headers: binding metadata (HTTP headers, NATS headers), lower-case names.
    """

    binding: str
    remote: str | None = None
    identity: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


#: Serves one frame: returns the reply frame, or None when no reply is owed.
FrameHandler = Callable[[bytes, Origin], Awaitable[bytes | None]]


async def call_local(
    handler: FrameHandler, frame: bytes, origin: Origin, address: str, timeout: float | None
) -> bytes:
    """Deliver a request to a handler in this process: a direct await, no task, no copy.

    Every binding uses it for the addresses it serves itself, so a handler's crash looks
    the same as on the wire (:class:`ReadError`) and ``timeout`` raises ``TimeoutError``.
    """
    try:
        if timeout is None:
            reply = await handler(frame, origin)
        else:
            with anyio.fail_after(timeout):
                reply = await handler(frame, origin)
    except (TimeoutError, AgentlinkError):
        raise
    except Exception as exc:
        raise ReadError(f"{address!r} failed to answer: {exc!r}") from exc
    if reply is None:
        # Only notifications go unanswered; a request without reply is a peer bug.
        raise UsageError("a request got no reply (was it a notification?)")
    return reply


@runtime_checkable
class Transport(Protocol):
    """A binding's client and server side."""

    #: The binding name written in card endpoints: ``memory``, ``http`` or ``nats``.
    binding: str

    async def request(self, address: str, frame: bytes, *, timeout: float | None = None) -> bytes:
        """Deliver a request frame to ``address`` and return the reply frame.

        Raises:
            AgentNotFound: nothing serves ``address``.
            TransportError: the frame could not be delivered or the reply not read.
            TimeoutError: ``timeout`` seconds passed without a reply.
        """
        ...

    async def notify(self, address: str, frame: bytes) -> None:
        """Deliver a frame that expects no reply (a notification)."""
        ...

    async def bind(self, address: str, handler: FrameHandler) -> str:
        """Serve ``address`` with ``handler``; returns the endpoint URL to advertise."""
        ...

    async def unbind(self, address: str) -> None:
        """Stop serving ``address``. Unknown addresses are ignored."""
        ...

    async def aclose(self) -> None:
        """Release every resource; later calls raise :class:`TransportClosed`."""
        ...
