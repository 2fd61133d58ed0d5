"""The in-process binding: the embedded default.

A request is a direct await of the receiver's frame handler: no task, no stream, no
copy. Frames still go through the codec on both sides, so behaviour equals the wire.
Because the handler runs in the caller's task, cancelling the caller cancels the work,
and the caller's deadline scope covers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agentlink.model import AgentNotFound, TransportClosed, UsageError

from ._base import FrameHandler, Origin, call_local

__all__ = ["MemoryNetwork", "MemoryTransport"]


@dataclass
class MemoryNetwork:
    """The address table that memory transports in one process share."""

    handlers: dict[str, FrameHandler] = field(default_factory=dict)


class MemoryTransport:
    """In-process transport. Transports built on the same :class:`MemoryNetwork` reach
    each other; each gets its own by default.

    Example:
        >>> import anyio
        >>> async def echo(frame: bytes, origin: Origin) -> bytes:
        ...     return frame
        >>> async def main() -> bytes:
        ...     t = MemoryTransport()
        ...     await t.bind("a", echo)
        ...     return await t.request("a", b"{}")
        >>> anyio.run(main)
        b'{}'
    """

    binding = "memory"

    def __init__(self, network: MemoryNetwork | None = None, *, identity: str | None = None):
        self.network = network if network is not None else MemoryNetwork()
        self._origin = Origin("memory", identity=identity)
        self._bound: set[str] = set()
        self._closed = False

    def _handler(self, address: str) -> FrameHandler:
        if self._closed:
            raise TransportClosed("memory transport is closed")
        handler = self.network.handlers.get(address)
        if handler is None:
            raise AgentNotFound(f"no agent {address!r} on this network", data={"agent_id": address})
        return handler

    async def request(
        self,
        address: str,
        frame: bytes,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        origin = self._origin if not headers else self._with(headers)
        return await call_local(self._handler(address), frame, origin, address, timeout)

    async def notify(
        self, address: str, frame: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        origin = self._origin if not headers else self._with(headers)
        await self._handler(address)(frame, origin)

    def _with(self, headers: Mapping[str, str]) -> Origin:
        """This transport's origin carrying ``headers`` (names in lower case)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        return Origin("memory", identity=self._origin.identity, headers=lowered)

    async def bind(self, address: str, handler: FrameHandler) -> str:
        if self._closed:
            raise TransportClosed("memory transport is closed")
        if address in self.network.handlers:
            raise UsageError(f"address {address!r} is already bound")
        self.network.handlers[address] = handler
        self._bound.add(address)
        return f"memory://{address}"

    async def unbind(self, address: str) -> None:
        if address in self._bound:
            self._bound.discard(address)
            self.network.handlers.pop(address, None)

    async def aclose(self) -> None:
        for address in list(self._bound):
            await self.unbind(address)
        self._closed = True
