"""The HTTP binding: agents in other processes and on other hosts.

::

    async with HttpTransport(port=8700) as http:
        url = await http.bind("cnc-7", handler)   # http://127.0.0.1:8700/agents/cnc-7
        reply = await http.request("http://10.0.0.5:8700/agents/mes", frame)

An address is either a base URL (``http://host:port/agents/{id}``) or an agent id that
``routes`` or ``resolve`` turns into one (the runtime resolves ids through the registry).

With ``tls`` (a :class:`~agentlink.security.TlsConfig`) the transport serves HTTPS and
calls ``https://`` URLs with the same certificate: mutual TLS (ALP-SEC-011). The
handshake refuses a client without a certificate signed by the CA; a client's agent id
(its certificate's ``urn:agentlink:agent:<id>``) reaches every handler as
``Origin.identity``, and the transport's :attr:`security_schemes` lists ``mtls`` for the
cards of the agents it serves.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from types import TracebackType
from typing import Any, Self

import anyio
import orjson
import uvicorn
from anyio.abc import TaskGroup

from agentlink.core._codec import DEFAULT_MAX_BYTES
from agentlink.model import (
    AgentNotFound,
    ReadError,
    RemoteProtocolError,
    SecurityScheme,
    TransportClosed,
    UsageError,
    error_from_wire,
)
from agentlink.security._tls import TlsConfig

from ._base import FrameHandler, Origin, call_local
from ._http_client import HttpClient
from ._http_server import HttpApp, connection_protocol

__all__ = ["HttpTransport"]

Resolver = Callable[[str], Awaitable[str | None]]
_LOCAL = Origin("http", remote="local")
_JSON_HEADERS = [("Content-Type", "application/json")]


class HttpTransport:
    """Serves bound agents over HTTP and calls others over HTTP.

    Args:
        host: interface to listen on.
        port: port to listen on (0: any free port; see :attr:`url`).
        serve: listen at all (False: client only).
        routes: agent id -> base URL, for agents known in advance.
        resolve: async agent id -> base URL (or None) for everything else.
        max_bytes: largest request body served.
        public_url: the base URL to advertise, if not ``http://host:port``.
        tls: serve HTTPS and call ``https://`` URLs with this certificate and CA
            (mutual TLS unless ``tls.require_client_cert`` is False).
    """

    binding = "http"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        serve: bool = True,
        routes: Mapping[str, str] | None = None,
        resolve: Resolver | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        public_url: str | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.serve = serve
        self.routes = dict(routes or {})
        self.resolve = resolve
        self.public_url = public_url
        self.tls = tls
        self.app = HttpApp(max_bytes=max_bytes, tls=tls is not None)
        # Contexts are built now so that a bad certificate path fails here, not at the
        # first call.
        self._server_ssl = tls.server_context() if tls is not None and serve else None
        self.client = HttpClient(ssl_context=None if tls is None else tls.client_context())
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._tg: TaskGroup | None = None
        self._entered = False
        self._closed = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise UsageError("an HttpTransport can be entered once")
        self._entered = True
        if self.serve:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit it: replies go out at once, not after an ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
            # Listening now means connections queue in the backlog until uvicorn accepts
            # them: the transport is usable as soon as it is entered, no start-up wait.
            sock.listen(2048)
            self.port = sock.getsockname()[1]
            scheme = "http" if self._server_ssl is None else "https"
            self.url = self.public_url or f"{scheme}://{self.host}:{self.port}"
            config = uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
                timeout_keep_alive=30,
                **self._protocol_options(),
            )
            self._server = server = uvicorn.Server(config)
            self._tg = anyio.create_task_group()
            await self._tg.__aenter__()
            # Server._serve is serve() without taking over the process's signal handlers,
            # which belong to the application that embeds the transport.
            serve = getattr(server, "_serve", server.serve)
            self._tg.start_soon(serve, [sock])
        return self

    def _protocol_options(self) -> dict[str, Any]:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        if self._server_ssl is None or self.tls is None:
            plain = connection_protocol(AutoHTTPProtocol, tls=False, require_identity=False)
            return {"http": plain}
        context = self._server_ssl
        return {
            "ssl_context_factory": lambda config, default: context,
            "http": connection_protocol(
                AutoHTTPProtocol, tls=True, require_identity=self.tls.require_client_cert
            ),
        }

    @property
    def security_schemes(self) -> list[SecurityScheme]:
        """The schemes this transport makes callers use, for the cards it serves."""
        if self.tls is None or not self.tls.require_client_cert:
            return []
        return [
            SecurityScheme(
                type="mtls",
                description="TLS client certificate naming urn:agentlink:agent:<agent id>",
            )
        ]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
        tg, self._tg = self._tg, None
        if tg is not None:
            # Exited in the task and scope it was entered in; uvicorn drains and returns.
            await tg.__aexit__(None, None, None)

    def _base_url(self, address: str) -> str | None:
        if address.startswith(("http://", "https://")):
            return address.rstrip("/")
        if address in self.app.handlers and self.url is not None:
            return f"{self.url}/agents/{address}"
        return self.routes.get(address)

    async def _url(self, address: str) -> str:
        base = self._base_url(address)
        if base is None and self.resolve is not None:
            base = await self.resolve(address)
        if base is None:
            raise AgentNotFound(
                f"no HTTP endpoint known for {address!r}", data={"agent_id": address}
            )
        return base

    async def request(
        self,
        address: str,
        frame: bytes,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Send a request; ``headers`` (such as ``Authorization``) go with it.

        Raises:
            UsageError: an ``Authorization`` header would travel over plain HTTP to another
                host (bearer tokens travel only over TLS or on the host, ALP-SEC-009).
        """
        if self._closed:
            raise TransportClosed("HTTP transport is closed")
        local = self.app.handlers.get(address)
        if local is not None:  # served by this very transport
            origin = _LOCAL if not headers else _local_origin(headers)
            return await call_local(local, frame, origin, address, timeout)
        url = await self._url(address) + "/rpc"
        sent = _JSON_HEADERS if not headers else _with_headers(url, headers)
        with anyio.fail_after(timeout) if timeout is not None else nullcontext():
            response = await self.client.request("POST", url, body=frame, headers=sent)
        if response.status == 200:
            return response.body
        raise _status_error(url, response.status, response.body)

    async def notify(
        self, address: str, frame: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        if self._closed:
            raise TransportClosed("HTTP transport is closed")
        url = await self._url(address) + "/rpc"
        sent = _JSON_HEADERS if not headers else _with_headers(url, headers)
        response = await self.client.request("POST", url, body=frame, headers=sent)
        if response.status not in (200, 204):
            raise _status_error(url, response.status, response.body)

    async def bind(self, address: str, handler: FrameHandler) -> str:
        if self._closed:
            raise TransportClosed("HTTP transport is closed")
        if not self.serve or self.url is None:
            raise UsageError("this HttpTransport does not serve; enter it with serve=True first")
        if address in self.app.handlers:
            raise UsageError(f"address {address!r} is already bound")
        self.app.bind(address, handler)
        return f"{self.url}/agents/{address}"

    async def unbind(self, address: str) -> None:
        self.app.unbind(address)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self.client.aclose()
        if self._server is not None:
            self._server.should_exit = True


def _local_origin(headers: Mapping[str, str]) -> Origin:
    return Origin("http", remote="local", headers={k.lower(): v for k, v in headers.items()})


_LOOPBACK = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})


def _with_headers(url: str, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The request headers; a credential goes only over TLS or to this host."""
    if url.startswith("http://") and any(k.lower() == "authorization" for k in headers):
        host = url[len("http://") :].split("/", 1)[0].rsplit(":", 1)[0]
        if host not in _LOOPBACK:
            raise UsageError(
                f"refusing to send a bearer token over plain HTTP to {host}; use https "
                "(protocol/SPEC.md ALP-SEC-009)"
            )
    return [*_JSON_HEADERS, *headers.items()]


def _status_error(url: str, status: int, body: bytes) -> Exception:
    """The error for a non-200 answer: the JSON-RPC error it carries, else a transport one."""
    try:
        decoded: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), dict):
        return error_from_wire(decoded["error"])
    if status >= 500:
        return ReadError(f"{url} failed with HTTP {status}")
    return RemoteProtocolError(f"{url} answered HTTP {status}: {body[:200]!r}")
