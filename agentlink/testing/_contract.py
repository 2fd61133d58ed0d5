"""The transport contract: checks that every binding must pass.

A binding is tested by handing :func:`check_transport` (or each of :data:`CHECKS`) a
factory that opens a fresh pair of transports, one to serve and one to call, and closes
them afterwards. The same checks run over memory, HTTP and NATS, so the runtime can rely
on one behaviour::

    @asynccontextmanager
    async def memory_pair():
        network = MemoryNetwork()
        server, client = MemoryTransport(network), MemoryTransport(network)
        yield server, client
        await client.aclose(); await server.aclose()

    await check_transport(memory_pair)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final

import anyio
import anyio.lowlevel

from agentlink.model import AgentNotFound, TransportError
from agentlink.transport import Origin, Transport

__all__ = ["CHECKS", "TransportPair", "check_transport"]

#: Opens ``(server, client)``: the server binds addresses, the client calls them.
TransportPair = Callable[[], AbstractAsyncContextManager[tuple[Transport, Transport]]]
Check = Callable[[TransportPair], Awaitable[None]]

BOUND: Final = 10.0  # seconds any single check may take before it counts as a hang


async def _echo(frame: bytes, origin: Origin) -> bytes:
    return frame


def _fail(message: str) -> AssertionError:
    return AssertionError(f"transport contract: {message}")


async def request_reaches_handler_and_reply_returns(pair: TransportPair) -> None:
    seen: list[tuple[bytes, str]] = []

    async def handler(frame: bytes, origin: Origin) -> bytes:
        seen.append((frame, origin.binding))
        return b'{"reply":' + frame + b"}"

    async with pair() as (server, client):
        url = await server.bind("contract-a", handler)
        if not isinstance(url, str) or not url:
            raise _fail(f"bind() must return the endpoint URL, got {url!r}")
        with anyio.fail_after(BOUND):
            reply = await client.request("contract-a", b'{"n":1}')
        if reply != b'{"reply":{"n":1}}':
            raise _fail(f"reply changed on the way: {reply!r}")
        if seen != [(b'{"n":1}', server.binding)]:
            raise _fail(f"handler saw {seen!r}")


async def unknown_address_fails_fast(pair: TransportPair) -> None:
    async with pair() as (_, client):
        try:
            with anyio.fail_after(BOUND):
                await client.request("contract-nobody", b"{}")
        except AgentNotFound:
            return
        except TimeoutError:
            raise _fail("a request to an unknown address hung") from None
        raise _fail("a request to an unknown address succeeded")


async def unbind_stops_serving(pair: TransportPair) -> None:
    async with pair() as (server, client):
        await server.bind("contract-b", _echo)
        with anyio.fail_after(BOUND):
            await client.request("contract-b", b"{}")
        await server.unbind("contract-b")
        try:
            with anyio.fail_after(BOUND):
                await client.request("contract-b", b"{}")
        except AgentNotFound:
            return
        raise _fail("an unbound address still answered")


async def notification_is_delivered_without_reply(pair: TransportPair) -> None:
    arrived = anyio.Event()
    frames: list[bytes] = []

    async def handler(frame: bytes, origin: Origin) -> None:
        frames.append(frame)
        arrived.set()

    async with pair() as (server, client):
        await server.bind("contract-c", handler)
        with anyio.fail_after(BOUND):
            await client.notify("contract-c", b'{"note":true}')
            await arrived.wait()
        if frames != [b'{"note":true}']:
            raise _fail(f"notification arrived as {frames!r}")


async def concurrent_requests_get_their_own_replies(pair: TransportPair) -> None:
    async def handler(frame: bytes, origin: Origin) -> bytes:
        await anyio.lowlevel.checkpoint()
        return frame + frame

    replies: dict[int, bytes] = {}
    async with pair() as (server, client):
        await server.bind("contract-d", handler)

        async def one(i: int) -> None:
            replies[i] = await client.request("contract-d", str(i).encode())

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(one, i)
    wrong = {i: r for i, r in replies.items() if r != str(i).encode() * 2}
    if len(replies) != 50 or wrong:
        raise _fail(f"replies crossed or got lost: {wrong!r}")


async def large_frame_moves_intact(pair: TransportPair) -> None:
    frame = b'{"blob":"' + b"x" * (512 * 1024) + b'"}'
    async with pair() as (server, client):
        await server.bind("contract-e", _echo)
        with anyio.fail_after(BOUND):
            reply = await client.request("contract-e", frame)
    if reply != frame:
        raise _fail(f"a {len(frame)}-byte frame came back as {len(reply)} bytes")


async def handler_crash_is_a_transport_error(pair: TransportPair) -> None:
    async def handler(frame: bytes, origin: Origin) -> bytes:
        raise RuntimeError("server bug")

    async with pair() as (server, client):
        await server.bind("contract-f", handler)
        try:
            with anyio.fail_after(BOUND):
                await client.request("contract-f", b"{}")
        except TransportError:
            pass
        except Exception as exc:
            raise _fail(f"a crashed handler gave {exc!r}, not a TransportError") from None
        else:
            raise _fail("a crashed handler produced a reply")
        await server.bind("contract-g", _echo)
        with anyio.fail_after(BOUND):
            if await client.request("contract-g", b"{}") != b"{}":
                raise _fail("the transport stopped serving after a handler crash")


async def timeout_is_honoured(pair: TransportPair) -> None:
    release = anyio.Event()

    async def handler(frame: bytes, origin: Origin) -> bytes:
        await release.wait()
        return frame

    async with pair() as (server, client):
        await server.bind("contract-h", handler)
        outcome = "hung"
        with anyio.move_on_after(BOUND):
            try:
                await client.request("contract-h", b"{}", timeout=0.2)
                outcome = "answered"
            except (TimeoutError, TransportError):
                # A binding reports its timeout as TimeoutError or as a transport error.
                outcome = "timed out"
        release.set()
    if outcome != "timed out":
        raise _fail(f"a request with timeout=0.2 {outcome} instead of timing out")


async def cancelled_caller_returns_promptly(pair: TransportPair) -> None:
    started = anyio.Event()

    async def handler(frame: bytes, origin: Origin) -> bytes:
        started.set()
        await anyio.sleep(3600)
        return frame

    async with pair() as (server, client):
        await server.bind("contract-i", handler)
        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await client.request("contract-i", b"{}")

                tg.start_soon(call)
                await started.wait()
                tg.cancel_scope.cancel()


#: Every check, by name.
CHECKS: dict[str, Check] = {
    check.__name__: check
    for check in (
        request_reaches_handler_and_reply_returns,
        unknown_address_fails_fast,
        unbind_stops_serving,
        notification_is_delivered_without_reply,
        concurrent_requests_get_their_own_replies,
        large_frame_moves_intact,
        handler_crash_is_a_transport_error,
        timeout_is_honoured,
        cancelled_caller_returns_promptly,
    )
}


async def check_transport(pair: TransportPair) -> None:
    """Run every contract check against the binding ``pair`` opens.

    Raises:
        AssertionError: naming the first rule the binding breaks.
    """
    for check in CHECKS.values():
        await check(pair)
