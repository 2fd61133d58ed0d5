"""The floors: the same call with nothing but the underlying library.

- in-process: a direct await of the echo with orjson encoding and decoding the request
  and the reply (and, as a second anchor, the same round trip through pydantic models);
- HTTP: a bare HTTP/1.1 keep-alive client over anyio streams (one connection per
  concurrent caller, the request written in one segment), and httpx, both against a bare
  ASGI endpoint on uvicorn;
- NATS: bare nats-py request/reply.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import orjson

from ._measure import AsyncCall
from ._payload import (
    ARGUMENTS,
    EchoArgs,
    EchoReply,
    EchoRequest,
    echo,
    floor_reply,
    floor_request,
)

__all__ = [
    "BareHttpClient",
    "bare_http_floor",
    "direct_orjson",
    "direct_pydantic",
    "httpx_floor",
    "nats_floor",
]


def direct_orjson() -> AsyncCall:
    """The in-process floor: encode the request, decode it, await the echo, encode the
    reply, decode it; what any in-process binding that goes through JSON must do."""
    ids = count(1)

    async def call() -> Any:
        request = orjson.loads(floor_request(next(ids)))
        output = await echo(**request["params"]["arguments"])
        return orjson.loads(floor_reply(request["id"], output))["result"]["output"]

    return call


def direct_pydantic() -> AsyncCall:
    """The same round trip through pydantic models (validated on both sides)."""
    ids = count(1)
    arguments = EchoArgs(**ARGUMENTS)

    async def call() -> Any:
        frame = EchoRequest(
            id=next(ids), method="tools/call", params={"name": "echo", "arguments": arguments}
        ).model_dump_json()
        request = EchoRequest.model_validate_json(frame)
        output = await echo(**request.params.arguments.model_dump())
        reply = EchoReply(id=request.id, result={"output": output}).model_dump_json()
        return EchoReply.model_validate_json(reply).result.output

    return call


class _Connection:
    __slots__ = ("buffer", "stream")

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""


class BareHttpClient:
    """The least an HTTP/1.1 client can do: keep-alive connections, one write per request,
    read the head, then ``Content-Length`` bytes of body. No chunked bodies, no redirects,
    no error handling beyond the status line: a floor, not a client."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self._head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []

    async def _connect(self) -> _Connection:
        stream = await anyio.connect_tcp(self.host, self.port)
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(stream)
        self._all.append(connection)
        return connection

    async def post(self, body: bytes) -> bytes:
        """POST ``body``; the response body."""
        connection = self._idle.pop() if self._idle else await self._connect()
        stream = connection.stream
        await stream.send(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        data = connection.buffer
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += await stream.receive(65536)
        head, rest = data[:end], data[end + 4 :]
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"bare HTTP floor got {head[:40]!r}")
        start = head.lower().find(b"content-length:") + len(b"content-length:")
        line_end = head.find(b"\r\n", start)
        length = int(head[start : line_end if line_end >= 0 else None])
        while len(rest) < length:
            rest += await stream.receive(65536)
        connection.buffer = rest[length:]
        self._idle.append(connection)
        return rest[:length]

    async def aclose(self) -> None:
        for connection in self._all:
            await connection.stream.aclose()
        self._all.clear()
        self._idle.clear()


@asynccontextmanager
async def bare_http_floor(url: str) -> AsyncIterator[AsyncCall]:
    """The HTTP floor: :class:`BareHttpClient` posting the floor's request to ``url``."""
    client = BareHttpClient(url)
    ids = count(1)

    async def call() -> Any:
        reply = await client.post(floor_request(next(ids)))
        return orjson.loads(reply)["result"]["output"]

    try:
        yield call
    finally:
        await client.aclose()


@asynccontextmanager
async def httpx_floor(url: str) -> AsyncIterator[AsyncCall]:
    """The same with httpx's AsyncClient (keep-alive pool of up to 64 connections)."""
    import httpx

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    ids = count(1)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(limits=limits) as client:

        async def call() -> Any:
            response = await client.post(url, content=floor_request(next(ids)), headers=headers)
            return orjson.loads(response.content)["result"]["output"]

        yield call


@asynccontextmanager
async def nats_floor(url: str, subject: str) -> AsyncIterator[AsyncCall]:
    """Bare nats-py request/reply on ``subject``."""
    import nats

    nc = await nats.connect(url)
    ids = count(1)

    async def call() -> Any:
        msg = await nc.request(subject, floor_request(next(ids)), timeout=30)
        return orjson.loads(msg.data)["result"]["output"]

    try:
        yield call
    finally:
        with anyio.CancelScope(shield=True):
            await nc.close()
