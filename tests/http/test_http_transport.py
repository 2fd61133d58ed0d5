"""The HTTP binding: the transport contract, status codes, bad input on the wire, SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import orjson
import pytest

from agentlink.model import AgentNotFound, ConnectError, Message, ReadError, TransportError
from agentlink.runtime import Agent, Runtime, ToolContext
from agentlink.testing import CHECKS
from agentlink.transport import HttpTransport, Origin, Transport
from agentlink.transport._http_client import HttpClient

pytestmark = pytest.mark.anyio

META = {"protocol": "agentlink/0.1", "message_id": "m-1"}


@asynccontextmanager
async def http_pair() -> AsyncIterator[tuple[Transport, Transport]]:
    async with HttpTransport() as server:

        async def resolve(address: str) -> str | None:
            return f"{server.url}/agents/{address}"

        async with HttpTransport(serve=False, resolve=resolve) as client:
            yield server, client


@pytest.mark.parametrize("check", sorted(CHECKS))
async def test_http_passes_the_transport_contract(check: str) -> None:
    await CHECKS[check](http_pair)


def cell() -> list[Agent]:
    mill = Agent("cnc-7", role="execution", assets=["cnc-7"])
    mill.emits("spindle.load")

    @mill.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    @mill.tool(task=True)
    async def job(steps: int, ctx: ToolContext) -> dict[str, int]:
        for i in range(steps):
            await ctx.progress((i + 1) / steps)
        return {"steps": steps}

    return [mill, Agent("mes", role="demand")]


async def post(client: HttpClient, url: str, body: bytes, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    return await client.request("POST", url, body=body, headers=[("Content-Type", content_type)])


def rpc(method: str, params: dict | None = None, id_: int = 1) -> bytes:  # type: ignore[type-arg]
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": id_, "method": method, "params": {"_meta": META, **(params or {})}}
    )


async def test_status_codes_and_bad_input_on_the_wire() -> None:
    http = HttpTransport(max_bytes=4096)
    async with Runtime(agents=cell(), transport=http):
        base = f"{http.url}/agents/cnc-7"
        client = HttpClient()
        try:
            ok = await post(
                client,
                base + "/rpc",
                rpc("tools/call", {"name": "echo", "arguments": {"text": "hi"}}),
            )
            assert ok.status == 200
            assert ok.headers["content-type"] == "application/json"
            assert orjson.loads(ok.body)["result"] == {"output": {"text": "hi"}}

            malformed = await post(client, base + "/rpc", b'{"jsonrpc": "2.0", "id": 1,')
            assert malformed.status == 200
            assert orjson.loads(malformed.body)["error"]["code"] == -32700
            assert orjson.loads(malformed.body)["id"] is None

            unknown = await post(client, base + "/rpc", rpc("tools/frobnicate"))
            assert orjson.loads(unknown.body)["error"]["code"] == -32601

            bad_meta = await post(
                client,
                base + "/rpc",
                orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "agent/ping",
                        "params": {"_meta": {"protocol": "agentlink/0.1"}},
                    }
                ),
            )
            assert orjson.loads(bad_meta.body)["error"]["code"] == -32602

            wrong_type = await post(client, base + "/rpc", rpc("agent/ping"), "text/plain")
            assert wrong_type.status == 415

            huge = await post(client, base + "/rpc", b'{"pad": "' + b"x" * 8192 + b'"}')
            assert huge.status == 413
            error = orjson.loads(huge.body)["error"]
            assert (error["code"], error["data"]["kind"], error["data"]["limit"]) == (
                -32025,
                "bytes",
                4096,
            )

            notification = await post(
                client,
                base + "/rpc",
                orjson.dumps({"jsonrpc": "2.0", "method": "agent/ping", "params": {"_meta": META}}),
            )
            assert (notification.status, notification.body) == (204, b"")

            get_rpc = await client.request("GET", base + "/rpc")
            assert get_rpc.status == 405

            nobody = await post(client, f"{http.url}/agents/ghost/rpc", rpc("agent/ping"))
            assert nobody.status == 404
            assert orjson.loads(nobody.body)["error"]["data"] == {
                "name": "agent_not_found",
                "agent_id": "ghost",
            }

            card = await client.request("GET", base + "/.well-known/agentlink.json")
            assert card.status == 200
            card_json = orjson.loads(card.body)
            assert card_json["id"] == "cnc-7"
            assert card_json["endpoints"] == [{"binding": "http", "url": base}]

            # After all that, the server still serves.
            again = await post(client, base + "/rpc", rpc("agent/ping"))
            assert orjson.loads(again.body)["result"]["ok"] is True
        finally:
            await client.aclose()


async def test_sse_task_stream_resumes_after_last_event_id() -> None:
    http = HttpTransport()
    async with Runtime(agents=cell(), transport=http):
        base = f"{http.url}/agents/cnc-7"
        client = HttpClient()
        try:
            started = orjson.loads(
                (
                    await post(
                        client,
                        base + "/rpc",
                        rpc("tools/call", {"name": "job", "arguments": {"steps": 3}}),
                    )
                ).body
            )
            task_id = started["result"]["task"]["id"]
            events = []
            with anyio.fail_after(10):
                async for status, line in client.stream_lines(f"{base}/tasks/{task_id}/events"):
                    assert status == 200
                    if line.startswith(b"data: "):
                        events.append(orjson.loads(line[6:]))
            seqs = [e["seq"] for e in events]
            assert seqs == list(range(1, len(seqs) + 1))
            assert events[-1]["state"] == "completed"
            resumed = []
            with anyio.fail_after(10):
                async for _, line in client.stream_lines(
                    f"{base}/tasks/{task_id}/events", headers=[("Last-Event-ID", "2")]
                ):
                    if line.startswith(b"data: "):
                        resumed.append(orjson.loads(line[6:])["seq"])
            assert resumed == seqs[2:]
            missing = []
            async for status, line in client.stream_lines(f"{base}/tasks/nope/events"):
                missing.append((status, line))
            assert missing[0][0] == 404
        finally:
            await client.aclose()


async def test_sse_event_stream_delivers_published_events_in_order() -> None:
    http = HttpTransport()
    agents = cell()
    async with Runtime(agents=agents, transport=http):
        for load in (10, 20, 30):
            await agents[0].publish("spindle.load", {"pct": load})
        base = f"{http.url}/agents/cnc-7"
        client = HttpClient()
        got = []
        try:
            with anyio.move_on_after(10):
                async for _, line in client.stream_lines(
                    f"{base}/events?topic=spindle.*&after_seq=1"
                ):
                    if line.startswith(b"data: "):
                        got.append(orjson.loads(line[6:])["data"]["pct"])
                        if len(got) == 2:
                            break
        finally:
            await client.aclose()
        assert got == [20, 30]


async def test_two_runtimes_talk_over_http_through_the_registry() -> None:
    hub = HttpTransport()
    async with Runtime(agents=cell(), transport=hub):
        edge = HttpTransport()
        camera = Agent("cam-1", role="perception")
        async with Runtime(agents=[camera], transport=edge, registry=f"{hub.url}/agents/registry"):
            found = await camera.discover(role="execution")
            assert [c.id for c in found] == ["cnc-7"]
            assert found[0].endpoints[0].url == f"{hub.url}/agents/cnc-7"
            assert await camera.peer("cnc-7").call("echo", text="over http") == {
                "text": "over http"
            }
            reply = await camera.peer("cnc-7").send(Message(performative="query", content={}))
            assert reply is not None
            assert reply.performative == "not-understood"
            with pytest.raises(AgentNotFound):
                await camera.peer("nobody-here").call("echo", text="x")


async def test_killed_server_gives_a_prompt_transport_error() -> None:
    started, stop = anyio.Event(), anyio.Event()

    async def slow(frame: bytes, origin: Origin) -> bytes:
        started.set()
        await anyio.sleep(30)
        return frame

    async def run_server(*, task_status: anyio.abc.TaskStatus[str]) -> None:
        async with HttpTransport() as server:
            task_status.started(await server.bind("slow", slow))
            await stop.wait()

    async with HttpTransport(serve=False) as client, anyio.create_task_group() as tg:
        url = await tg.start(run_server)

        async def kill() -> None:
            await started.wait()
            stop.set()  # the server shuts down with the call in flight

        tg.start_soon(kill)
        with anyio.fail_after(5), pytest.raises(TransportError) as info:
            await client.request(url, b"{}")
        assert isinstance(info.value, (ReadError, ConnectError))
    with anyio.fail_after(5), pytest.raises(ConnectError):
        async with HttpTransport(serve=False) as again:
            await again.request(url, b"{}")


async def test_agents_register_again_after_the_registry_restarts() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    registry = f"http://127.0.0.1:{port}/agents/registry"
    mill = Agent("cnc-7", role="execution")
    # Agents start first: the registry is not there yet; they serve and keep trying.
    async with Runtime(agents=[mill], transport=HttpTransport(), registry=registry, lease_ttl=0.6):
        for _ in range(2):  # the registry comes up, goes away, and comes back empty
            async with Runtime(transport=HttpTransport(port=port)) as hub:
                with anyio.fail_after(10):
                    changes = await hub.peer("registry").request(
                        "registry/watch", {"after_seq": 0, "wait_ms": 5000}
                    )
                assert [c["agent_id"] for c in changes["changes"]] == ["cnc-7"]
                assert [c.id for c in await hub.discover(role="execution")] == ["cnc-7"]


async def test_a_caller_that_goes_away_cancels_its_work() -> None:
    """The connection closes while a tool runs: the tool is cancelled, and the server goes
    on serving."""
    started, cancelled = anyio.Event(), anyio.Event()
    press = Agent("press", role="execution")

    @press.tool
    async def hold(seconds: float) -> dict[str, bool]:
        started.set()
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        return {"held": True}

    @press.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    server = HttpTransport()
    async with Runtime(agents=[press], transport=server, registry=None):
        frame = rpc("tools/call", {"name": "hold", "arguments": {"seconds": 600}})
        request = (
            f"POST /agents/press/rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(frame)}\r\n\r\n"
        ).encode() + frame
        with anyio.fail_after(10):
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            await stream.send(request)
            await started.wait()
            await stream.aclose()
            await cancelled.wait()
        client = HttpClient()
        try:
            answer = await post(
                client,
                f"{server.url}/agents/press/rpc",
                rpc("tools/call", {"name": "echo", "arguments": {"text": "still here"}}, 2),
            )
            assert orjson.loads(answer.body)["result"]["output"] == {"text": "still here"}
        finally:
            await client.aclose()
