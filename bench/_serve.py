"""The servers of the network groups, run in a process of their own as a user deploys them.

::

    python -m bench._serve floor-http agentlink-http [--nats URL]

Each service named is started on 127.0.0.1 (a free port each); one JSON line on stdout then
maps every service to its address. The process serves until its standard input closes (the
benchmark ended or died) or it is terminated.

Services:

- ``floor-http``: a bare ASGI endpoint (orjson in, the echo, orjson out) on uvicorn.
- ``agentlink-http``: a Runtime serving the echo agent on :class:`HttpTransport`.
- ``floor-nats``: bare nats-py request/reply (orjson, the echo) on subject ``bench.echo``.
- ``agentlink-nats``: a Runtime serving the echo agent on :class:`NatsTransport`.
- ``a2a``: the A2A SDK's JSON-RPC server (Starlette routes, DefaultRequestHandler) with an
  executor that answers every message with the data it carried.
- ``mcp-http``: the MCP SDK's MCPServer with the echo tool, on Streamable HTTP.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import orjson
import uvicorn
from anyio.abc import TaskGroup

from ._payload import EchoArgs, echo, floor_reply, floor_request

__all__ = ["echo_agent", "main"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
FLOOR_SUBJECT = "bench.echo"


def echo_agent(agent_id: str = "echo") -> Any:
    """The agentlink agent every group calls: one ``echo`` tool with input and output
    schemas."""
    from agentlink.runtime import Agent

    from ._payload import ECHO_SCHEMA

    agent = Agent(agent_id, role="execution", capabilities=["bench.echo"])
    agent.tool(input_schema=ECHO_SCHEMA, output_schema=ECHO_SCHEMA)(echo)
    return agent


async def floor_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The bare ASGI JSON endpoint: the least an HTTP server can do for the call."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    request = orjson.loads(body)
    output = await echo(**request["params"]["arguments"])
    reply = floor_reply(request["id"], output)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(reply)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply})


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def _uvicorn(tg: TaskGroup, make_app: Callable[[str], Any], *, lifespan: str) -> str:
    """Serve ``make_app(base_url)`` on uvicorn in ``tg`` with the settings agentlink's
    server uses; returns the base URL."""
    sock = _listen()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        make_app(url),
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    # Server._serve is serve() without taking over the process's signal handlers.
    tg.start_soon(getattr(server, "_serve", server.serve), [sock])
    return url


async def _floor_nats(url: str) -> str:
    import nats
    import nats.errors

    nc = await nats.connect(url)

    async def respond(msg: Any) -> None:
        request = orjson.loads(msg.data)
        output = await echo(**request["params"]["arguments"])
        await msg.respond(floor_reply(request["id"], output))

    await nc.subscribe(FLOOR_SUBJECT, cb=respond)
    # Served once a request comes back: nats-py's flush can overtake a queued SUB.
    with anyio.fail_after(10):
        while True:
            try:
                await nc.request(FLOOR_SUBJECT, floor_request(0), timeout=1)
                break
            except nats.errors.NoRespondersError:
                await anyio.sleep(0.01)
    return FLOOR_SUBJECT


async def _agentlink(transport: Any, ready: anyio.Event) -> None:
    from agentlink.runtime import Runtime

    async with Runtime(agents=[echo_agent()], transport=transport, registry=None):
        ready.set()
        await anyio.sleep_forever()


async def _start_agentlink(tg: TaskGroup, transport: Any) -> None:
    ready = anyio.Event()
    tg.start_soon(_agentlink, transport, ready)
    await ready.wait()


def a2a_app(url: str) -> Any:
    """The A2A SDK's JSON-RPC server for one agent that echoes the data of each message."""
    from a2a.helpers import get_data_parts, new_data_message
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from starlette.applications import Starlette

    class Echo(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            assert context.message is not None
            (data,) = get_data_parts(context.message.parts)
            await event_queue.enqueue_event(new_data_message(data, context_id=context.context_id))

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            raise NotImplementedError("echo never runs long enough to be cancelled")

    card = AgentCard(
        name="echo",
        description="Answers every message with the data it carried.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url + "/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["application/json"],
        default_output_modes=["application/json"],
        skills=[AgentSkill(id="echo", name="echo", description="echo", tags=["bench"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")]
    return Starlette(routes=routes)


def mcp_server() -> Any:
    """The MCP SDK's MCPServer with the echo tool (input and output schema from its types)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench", log_level="WARNING")

    @server.tool()
    async def echo(text: str, seq: int, unit: str, values: list[float]) -> EchoArgs:
        """Return the arguments unchanged."""
        return EchoArgs(text=text, seq=seq, unit=unit, values=values)

    return server


async def serve(services: list[str], nats_url: str | None) -> None:
    async with anyio.create_task_group() as tg:
        addresses: dict[str, str] = {}
        for service in services:
            if service == "floor-http":
                addresses[service] = _uvicorn(tg, lambda url: floor_app, lifespan="off") + "/rpc"
            elif service == "agentlink-http":
                from agentlink.transport import HttpTransport

                transport = HttpTransport(host="127.0.0.1", port=0)
                await _start_agentlink(tg, transport)
                addresses[service] = f"{transport.url}/agents/echo"
            elif service in ("floor-nats", "agentlink-nats"):
                if nats_url is None:
                    raise SystemExit(f"{service} needs --nats URL")
                if service == "floor-nats":
                    addresses[service] = await _floor_nats(nats_url)
                else:
                    from agentlink.transport import NatsTransport

                    await _start_agentlink(tg, NatsTransport(nats_url))
                    addresses[service] = "echo"
            elif service == "a2a":
                addresses[service] = _uvicorn(tg, a2a_app, lifespan="on")
            elif service == "mcp-http":
                app = mcp_server().streamable_http_app()
                url = _uvicorn(tg, lambda _, app=app: app, lifespan="on")
                addresses[service] = url + "/mcp"
            else:
                raise SystemExit(f"unknown service {service!r}")
        print(orjson.dumps(addresses).decode(), flush=True)
        await anyio.sleep_forever()


def _exit_when_orphaned() -> None:
    """End the process when the benchmark closes our standard input (or dies)."""
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._serve")
    parser.add_argument("services", nargs="+")
    parser.add_argument("--nats", default=None)
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()
    try:
        anyio.run(serve, args.services, args.nats)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    main()
