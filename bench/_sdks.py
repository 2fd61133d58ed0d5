"""The same call through the official A2A and MCP SDKs (optional: ``pip install
agentlink[bench]``); a group whose SDK is missing is skipped with a note.

- ``a2a``: the A2A SDK client (``create_client``, non-streaming ``send_message``) sends a
  message whose one data part holds the arguments; the server (the SDK's JSON-RPC routes
  and ``DefaultRequestHandler`` on uvicorn, in a process of its own) answers with a
  message carrying the same data. Beside it, in the same alternating rounds, the bare HTTP
  floor and agentlink over HTTP (their servers in another process).
- ``mcp``: ``call_tool("echo", ...)`` on an ``MCPServer`` whose echo tool has input and
  output schemas from its type hints: in process through ``mcp.Client(server)`` (the SDK's
  in-memory client; by default a direct dispatch without JSON-RPC framing) and through its
  legacy mode (JSON-RPC messages over memory streams), and over Streamable HTTP (the SDK's
  default server settings, in a process of its own). Beside them, in the same alternating
  rounds, the in-process and bare HTTP floors and agentlink in process and over HTTP.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from ._calls import add_call_figures, agentlink_http, agentlink_inproc, measure
from ._floors import bare_http_floor, direct_orjson
from ._payload import ARGUMENTS
from ._procs import Unavailable, served
from ._report import Group
from ._serve import mcp_server
from ._settings import Settings

__all__ = ["a2a", "mcp"]


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise Unavailable(f"{module} is not installed (pip install 'agentlink[bench]')") from None


async def a2a(group: Group, settings: Settings) -> None:
    """A2A SDK message send and reply over HTTP, beside the bare HTTP floor."""
    _require("a2a")
    from a2a.client import ClientConfig, create_client
    from a2a.helpers import get_data_parts, new_data_message
    from a2a.types import Role, SendMessageRequest

    async with AsyncExitStack() as stack:
        addresses = await stack.enter_async_context(served("floor-http", "agentlink-http"))
        addresses |= await stack.enter_async_context(served("a2a"))
        floor = await stack.enter_async_context(bare_http_floor(addresses["floor-http"]))
        agentlink = await stack.enter_async_context(agentlink_http(addresses["agentlink-http"]))
        client = await create_client(addresses["a2a"], ClientConfig(streaming=False))
        await stack.enter_async_context(client)

        async def sdk() -> Any:
            message = new_data_message(ARGUMENTS, role=Role.ROLE_USER)
            async for response in client.send_message(SendMessageRequest(message=message)):
                (data,) = get_data_parts(response.message.parts)
                return data
            raise RuntimeError("the A2A server sent no reply")

        results = await measure(
            {"bare-http": floor, "a2a-sdk": sdk, "agentlink http": agentlink}, settings
        )
    add_call_figures(
        group,
        results,
        floors={"bare-http": None, "a2a-sdk": "bare-http", "agentlink http": "bare-http"},
        anchors={"agentlink http": "a2a-sdk"},
    )


async def mcp(group: Group, settings: Settings) -> None:
    """MCP SDK call_tool in process and over Streamable HTTP, beside their floors."""
    _require("mcp")
    from mcp import Client

    server = mcp_server()
    async with AsyncExitStack() as stack:
        direct = await stack.enter_async_context(Client(server))
        streams = await stack.enter_async_context(Client(server, mode="legacy"))
        inproc = await stack.enter_async_context(agentlink_inproc())
        addresses = await stack.enter_async_context(served("floor-http", "agentlink-http"))
        addresses |= await stack.enter_async_context(served("mcp-http"))
        floor_http = await stack.enter_async_context(bare_http_floor(addresses["floor-http"]))
        remote = await stack.enter_async_context(Client(addresses["mcp-http"]))
        http = await stack.enter_async_context(agentlink_http(addresses["agentlink-http"]))

        def caller(client: Any) -> Any:
            async def call() -> Any:
                result = await client.call_tool("echo", ARGUMENTS)
                return result.structured_content

            return call

        results = await measure(
            {
                "direct+orjson": direct_orjson(),
                "mcp in-memory": caller(direct),
                "mcp in-memory streams": caller(streams),
                "agentlink in-process": inproc,
                "bare-http": floor_http,
                "mcp streamable-http": caller(remote),
                "agentlink http": http,
            },
            settings,
        )
    add_call_figures(
        group,
        results,
        floors={
            "direct+orjson": None,
            "mcp in-memory": "direct+orjson",
            "mcp in-memory streams": "direct+orjson",
            "agentlink in-process": "direct+orjson",
            "bare-http": None,
            "mcp streamable-http": "bare-http",
            "agentlink http": "bare-http",
        },
        anchors={"agentlink in-process": "mcp in-memory", "agentlink http": "mcp streamable-http"},
    )
