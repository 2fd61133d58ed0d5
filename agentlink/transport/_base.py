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

__all__ = ["FrameHandler", "Origin", "Transport"]


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
