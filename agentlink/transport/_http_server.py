"""The HTTP binding's server side: a plain ASGI application served by uvicorn.

One server hosts many agents; each has the base URL ``/agents/{id}`` and the paths of the
binding below it (protocol/SPEC.md, HTTP binding). The first agent bound is also served at
the root, so a single-agent server answers at ``http://host:port/rpc``.

Status codes: 200 for every JSON-RPC response (errors included), 204 when nothing is
owed, 404 for an unknown agent or task, 405 for a wrong HTTP method, 413 for an oversized
body, 415 for a wrong content type, 500 when a handler crashed; an SSE stream refused
before it starts gets 401 (``unauthorized``), 403 (``forbidden``) or 429 (``overloaded``).

Over mutual TLS (:func:`identity_protocol`), each connection's verified client certificate
names the caller (its ``urn:agentlink:agent:<id>`` URI SAN); the server puts that agent id
in the ASGI scope and every frame of the connection reaches its handler with
``Origin.identity`` set to it. A connection whose certificate names no agent is closed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qs

import anyio
import orjson

from agentlink.core._codec import DEFAULT_MAX_BYTES, encode_error
from agentlink.model import (
    PROTOCOL_VERSION,
    AgentNotFound,
    InvalidParams,
    PayloadTooLarge,
    RpcError,
    error_from_wire,
)
from agentlink.security._tls import agent_id_of

from ._base import FrameHandler, Origin
from ._http_wire import count

__all__ = ["CONNECTION_SCOPE_KEY", "Connection", "HttpApp", "connection_protocol"]

log = logging.getLogger("agentlink.http")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON: Final = [(b"content-type", b"application/json")]
#: The agent id of a registry (protocol/SPEC.md, Registry).
REGISTRY_ADDRESS: Final = "registry"
SSE_KEEPALIVE_MS: Final = 15_000
#: The ASGI scope key holding the :class:`Connection` a request came on.
CONNECTION_SCOPE_KEY: Final = "agentlink.connection"


class HttpApp:
    """ASGI application that routes HTTP requests to bound frame handlers."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, tls: bool = False) -> None:
        self.max_bytes = max_bytes
        #: Served over TLS: identities come from the scope (set by :func:`identity_protocol`).
        self.tls = tls
        self.handlers: dict[str, FrameHandler] = {}
        self.default: str | None = None
        self._ids = 0

    def bind(self, address: str, handler: FrameHandler) -> None:
        self.handlers[address] = handler
        self.default = self._pick_default()

    def unbind(self, address: str) -> None:
        self.handlers.pop(address, None)
        self.default = self._pick_default()

    def _pick_default(self) -> str | None:
        """The agent served at the root: the first agent bound, the registry only when it
        is alone (a runtime binds its registry before its agents)."""
        agents = [a for a in self.handlers if a != REGISTRY_ADDRESS]
        return agents[0] if agents else next(iter(self.handlers), None)

    def _route(self, path: str) -> tuple[str | None, str]:
        if path.startswith("/agents/"):
            agent, _, rest = path[len("/agents/") :].partition("/")
            return agent, "/" + rest
        return self.default, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        agent, path = self._route(scope["path"])
        handler = self.handlers.get(agent) if agent is not None else None
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        connection: Connection | None = scope.get(CONNECTION_SCOPE_KEY)
        origin = Origin(
            "http",
            remote=None if client is None else f"{client[0]}:{client[1]}",
            identity=connection.identity if self.tls and connection is not None else None,
            headers=headers,
        )
        try:
            if handler is None:
                await _error(
                    send, 404, AgentNotFound(f"no agent {agent!r} here", data={"agent_id": agent})
                )
            elif path == "/rpc":
                if method != "POST":
                    await _plain(send, 405, b"use POST for /rpc", [(b"allow", b"POST")])
                else:
                    await self._rpc(handler, origin, headers, receive, send, connection)
            elif path == "/.well-known/agentlink.json" and method == "GET":
                await self._card(handler, origin, send)
            elif path.startswith("/tasks/") and path.endswith("/events") and method == "GET":
                task_id = path[len("/tasks/") : -len("/events")]
                await self._sse(
                    handler,
                    origin,
                    scope,
                    receive,
                    send,
                    "tasks/subscribe",
                    {"task_id": task_id},
                    "task-event",
                )
            elif path == "/events" and method == "GET":
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                topics = query.get("topic") or [">"]
                await self._sse(
                    handler,
                    origin,
                    scope,
                    receive,
                    send,
                    "events/subscribe",
                    {"topics": topics},
                    "event",
                )
            elif path == "/registry/watch" and method == "GET":
                await self._sse(
                    handler, origin, scope, receive, send, "registry/watch", {}, "registry-change"
                )
            else:
                await _plain(send, 404, b"not found")
        except Exception:
            log.exception("HTTP handler for %s %s crashed", method, scope["path"])
            await _plain(send, 500, b"internal server error")

    async def _rpc(
        self,
        handler: FrameHandler,
        origin: Origin,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
        connection: Connection | None,
    ) -> None:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            await _plain(send, 415, b"Content-Type must be application/json")
            return
        declared = headers.get("content-length")
        size = None if declared is None else count(declared)
        if size is not None and size > self.max_bytes:
            await _too_large(send, self.max_bytes, size)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(send, self.max_bytes, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # A caller that goes away cancels its work: our own server cancels it when the
        # connection is lost; under another ASGI server a task watches for the disconnect.
        reply: bytes | None = None
        if connection is not None:
            with anyio.CancelScope() as scope:
                connection.running.add(scope)
                try:
                    reply = await handler(body, origin)
                finally:
                    connection.running.discard(scope)
            if scope.cancelled_caught:
                return  # nobody is left to answer
        else:
            async with _until_disconnect(receive):
                reply = await handler(body, origin)
        if reply is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _respond(send, 200, reply)

    def _frame(self, method: str, params: dict[str, Any], origin: Origin) -> bytes:
        self._ids += 1
        meta: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "message_id": f"http-{self._ids}"}
        auth = origin.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            meta["auth"] = auth[7:].strip()
        return orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": self._ids,
                "method": method,
                "params": {**params, "_meta": meta},
            }
        )

    async def _call(
        self, handler: FrameHandler, origin: Origin, method: str, params: dict[str, Any]
    ) -> Any:
        reply = await handler(self._frame(method, params, origin), origin)
        decoded = orjson.loads(reply) if reply else {}
        if "error" in decoded:
            raise error_from_wire(decoded["error"])
        return decoded.get("result")

    async def _card(self, handler: FrameHandler, origin: Origin, send: Send) -> None:
        try:
            card = await self._call(handler, origin, "agent/card", {})
        except RpcError as exc:
            await _error(send, 404 if isinstance(exc, AgentNotFound) else 500, exc)
            return
        await _respond(send, 200, orjson.dumps(card))

    async def _sse(
        self,
        handler: FrameHandler,
        origin: Origin,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        params: dict[str, Any],
        event_name: str,
    ) -> None:
        """Stream a long-polled sequence as Server-Sent Events, resuming after Last-Event-ID."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        start = origin.headers.get("last-event-id") or (query.get("after_seq") or ["0"])[0]
        seq = count(start)
        if seq is None or seq >= 2**63:
            await _error(send, 400, InvalidParams("Last-Event-ID / after_seq must be an integer"))
            return
        items_key = {"tasks/subscribe": "events", "events/subscribe": "events"}.get(
            method, "changes"
        )
        try:
            first = await self._call(
                handler, origin, method, {**params, "after_seq": seq, "wait_ms": 0}
            )
        except RpcError as exc:
            await _error(send, _SSE_STATUS.get(exc.code, 400), exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        async with _until_disconnect(receive):
            page = first
            while True:
                items = page[items_key]
                chunk = b"".join(
                    b"id: %d\nevent: %s\ndata: %s\n\n"
                    % (item["seq"], event_name.encode(), orjson.dumps(item))
                    for item in items
                )
                if items:
                    seq = items[-1]["seq"]
                await send(
                    {
                        "type": "http.response.body",
                        "body": chunk or b": keep-alive\n\n",
                        "more_body": True,
                    }
                )
                if method == "tasks/subscribe" and _task_over(page, seq):
                    break
                try:
                    page = await self._call(
                        handler,
                        origin,
                        method,
                        {**params, "after_seq": seq, "wait_ms": SSE_KEEPALIVE_MS},
                    )
                except RpcError:
                    # Refused mid-stream (the caller's token expired, a limit): the stream
                    # ends; the client reconnects with Last-Event-ID and new credentials.
                    break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@asynccontextmanager
async def _until_disconnect(receive: Receive) -> AsyncIterator[None]:
    """Run the body while a task watches the ASGI connection: a client that goes away
    cancels the body (which then ends quietly)."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        yield
        tg.cancel_scope.cancel()


#: HTTP status of a stream refused before it starts, by error code (others: 400).
_SSE_STATUS: Final = {-32001: 404, -32010: 404, -32021: 401, -32022: 403, -32026: 429}


def _task_over(page: dict[str, Any], seq: int) -> bool:
    task = page["task"]
    return bool(
        task["state"] in ("completed", "failed", "canceled", "rejected") and seq >= task["seq"]
    )


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, error: RpcError) -> None:
    await _respond(send, status, encode_error(None, error))


async def _too_large(send: Send, limit: int, size: int) -> None:
    error = PayloadTooLarge(
        f"body of {size} bytes exceeds the limit of {limit} bytes",
        data={"kind": "bytes", "limit": limit, "size": size},
    )
    await _respond(send, 413, encode_error(None, error))


async def _plain(
    send: Send, status: int, text: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": text})


class Connection:
    """What the server knows of one HTTP connection: the agent id of its verified client
    certificate, and the requests running on it, cancelled when the connection is lost."""

    __slots__ = ("identity", "running")

    def __init__(self, identity: str | None) -> None:
        self.identity = identity
        self.running: set[anyio.CancelScope] = set()

    def lost(self) -> None:
        for scope in self.running:
            scope.cancel()


def connection_protocol(base: Any, *, tls: bool, require_identity: bool) -> Any:
    """A uvicorn HTTP protocol class (subclass of ``base``) that hands the application a
    :class:`Connection` in the scope under :data:`CONNECTION_SCOPE_KEY`.

    Over TLS the agent id of the verified client certificate is read once, when the
    connection is made. When the connection is lost, the requests running on it are
    cancelled: a caller that goes away takes its pending work with it, at no cost per
    request (no watcher task).

    Args:
        tls: the connection is TLS: read the client certificate.
        require_identity: close TLS connections whose certificate names no agent (mutual
            TLS); otherwise they are served with no identity.
    """

    class ConnectionProtocol(base):  # type: ignore[misc]
        app: Any
        refused = False
        connection: Connection | None = None

        def connection_made(self, transport: Any) -> None:
            identity = None
            if tls:
                ssl_object = transport.get_extra_info("ssl_object")
                identity = None if ssl_object is None else agent_id_of(ssl_object.getpeercert())
            super().connection_made(transport)
            if tls and identity is None and require_identity:
                log.warning(
                    "closing a TLS connection from %s: its certificate names no agent "
                    "(a URI SAN urn:agentlink:agent:<id>)",
                    transport.get_extra_info("peername"),
                )
                self.refused = True
                transport.abort()
                return
            app = self.app
            connection = self.connection = Connection(identity)

            async def with_connection(scope: Scope, receive: Receive, send: Send) -> None:
                scope[CONNECTION_SCOPE_KEY] = connection
                await app(scope, receive, send)

            self.app = with_connection

        def data_received(self, data: bytes) -> None:
            # A closing TLS transport still hands over what it had already read.
            if not self.refused:
                super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.connection is not None:
                self.connection.lost()
            super().connection_lost(exc)

    return ConnectionProtocol
