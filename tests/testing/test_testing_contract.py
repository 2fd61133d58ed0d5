"""The transport contract runs over every in-process binding and catches broken ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from agentlink.model import AgentNotFound
from agentlink.testing import CHECKS, FaultyTransport, MemoryNetwork, MemoryTransport
from agentlink.transport import FrameHandler, Transport

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def memory_pair() -> AsyncIterator[tuple[Transport, Transport]]:
    network = MemoryNetwork()
    server, client = MemoryTransport(network), MemoryTransport(network)
    yield server, client
    await client.aclose()
    await server.aclose()


@asynccontextmanager
async def faulty_pair() -> AsyncIterator[tuple[Transport, Transport]]:
    """A fault-free FaultyTransport must be a perfect pass-through."""
    network = MemoryNetwork()
    server = MemoryTransport(network)
    client = FaultyTransport(MemoryTransport(network))
    yield server, client
    await client.aclose()
    await server.aclose()


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("pair", [memory_pair, faulty_pair], ids=["memory", "faulty"])
async def test_binding_passes_the_transport_contract(check: str, pair: object) -> None:
    await CHECKS[check](pair)  # type: ignore[arg-type]


class SwappingTransport(MemoryTransport):
    """Broken on purpose: answers every request with the reply of the previous one."""

    def __init__(self, network: MemoryNetwork) -> None:
        super().__init__(network)
        self.previous = b"{}"

    async def request(self, address: str, frame: bytes, *, timeout: float | None = None) -> bytes:
        reply = await super().request(address, frame, timeout=timeout)
        previous, self.previous = self.previous, reply
        return previous


class HangingTransport(MemoryTransport):
    """Broken on purpose: waits forever for an address nobody serves."""

    async def request(self, address: str, frame: bytes, *, timeout: float | None = None) -> bytes:
        if address not in self.network.handlers:
            await anyio.sleep_forever()
        return await super().request(address, frame, timeout=timeout)


class CrashLeakingTransport(MemoryTransport):
    """Broken on purpose: lets a handler's exception reach the caller unwrapped."""

    async def request(self, address: str, frame: bytes, *, timeout: float | None = None) -> bytes:
        handler: FrameHandler = self._handler(address)
        reply = await handler(frame, self._origin)
        assert reply is not None
        return reply


def broken_pair(cls: type[MemoryTransport]) -> object:
    @asynccontextmanager
    async def pair() -> AsyncIterator[tuple[Transport, Transport]]:
        network = MemoryNetwork()
        yield MemoryTransport(network), cls(network)

    return pair


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (SwappingTransport, "request_reaches_handler_and_reply_returns"),
        (SwappingTransport, "concurrent_requests_get_their_own_replies"),
        (HangingTransport, "unknown_address_fails_fast"),
        (CrashLeakingTransport, "handler_crash_is_a_transport_error"),
    ],
)
async def test_contract_catches_a_broken_binding(cls: type[MemoryTransport], check: str) -> None:
    with anyio.fail_after(30), pytest.raises(AssertionError, match="transport contract"):
        await CHECKS[check](broken_pair(cls))  # type: ignore[arg-type]


async def test_memory_transport_refuses_unknown_address_at_once() -> None:
    transport = MemoryTransport()
    with pytest.raises(AgentNotFound) as info:
        await transport.request("cnc-404", b"{}")
    assert info.value.data == {"agent_id": "cnc-404"}
