"""A small HTTP/1.1 client over anyio streams, with keep-alive connection pools.

It does what the binding needs and nothing more: POST a JSON body and read the whole
reply, GET a stream of Server-Sent Events, over plain TCP (``http://``) or TLS
(``https://``, with the client's ``ssl_context``; a certificate in it is presented to the
server, which is how an agent proves itself over mutual TLS). A general client (httpx)
costs about ten times more per small call here. A call's request and response are read and
written by :mod:`._http_wire` (sans I/O); event streams by h11; the I/O is anyio's.

Foreign errors are translated once, here: ``OSError`` and anyio stream errors become
:class:`ConnectError`, :class:`ReadError` or :class:`WriteError`; a malformed response
becomes :class:`RemoteProtocolError`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
from anyio.abc import SocketStream
from anyio.streams.tls import TLSStream

from agentlink.model import (
    ConnectError,
    ReadError,
    RemoteProtocolError,
    TransportClosed,
    UsageError,
    WriteError,
)

from ._http_wire import ResponseReader, request_bytes

__all__ = ["HttpClient", "HttpResponse"]

READ_SIZE: Final = 65_536
MAX_BODY: Final = 64 * 1024 * 1024
MAX_IDLE_PER_HOST: Final = 64
_STREAM_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def split_url(url: str) -> tuple[str, int, str]:
    """``(host, port, path)`` of an ``http://`` or ``https://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http:// or https:// URL: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), path


class _Connection:
    __slots__ = ("conn", "host", "keep", "responded", "reused", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.conn = h11.Connection(h11.CLIENT)
        self.reused = False
        self.responded = False
        # Whether the server lets the connection carry another request.
        self.keep = True

    async def write(self, data: bytes) -> None:
        """Send ``data`` in one write: a request split over several segments would wait for
        delayed ACKs (Nagle), about 40 ms a call."""
        try:
            await self.stream.send(data)
        except _STREAM_ERRORS as exc:
            raise WriteError(f"writing to {self.host} failed: {exc!r}") from exc

    async def receive(self) -> bytes:
        """The next bytes from the server; b"" once it has closed the connection."""
        try:
            return await self.stream.receive(READ_SIZE)
        except anyio.EndOfStream:
            return b""
        except _STREAM_ERRORS as exc:
            raise ReadError(f"reading from {self.host} failed: {exc!r}") from exc

    async def send(self, *events: h11.Event) -> None:
        """Send h11 events in one write."""
        data = b"".join(self.conn.send(event) or b"" for event in events)
        if data:
            await self.write(data)

    async def next_event(self) -> h11.Event:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self.conn.trailing_data[1]:
                    # Closed before a whole response: a lost connection, not a protocol
                    # breach (over TLS, how a server refuses a client certificate).
                    raise ReadError(
                        f"{self.host} closed the connection before answering{self.hint()}"
                    ) from exc
                raise RemoteProtocolError(f"{self.host} broke HTTP/1.1: {exc}") from exc
            if event is h11.PAUSED:
                raise RemoteProtocolError(f"{self.host} answered more than was asked")
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.receive())
                continue
            assert isinstance(event, h11.Event)
            return event

    def hint(self) -> str:
        if isinstance(self.stream, TLSStream):
            return " (was the client certificate refused?)"
        return ""

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await self.stream.aclose()


class HttpClient:
    """Keep-alive HTTP/1.1 client with one pool of idle connections per host and port.

    Args:
        connect_timeout: seconds to connect (and, for TLS, to shake hands).
        ssl_context: the TLS context of ``https://`` URLs (default: the system's trust
            store, no client certificate).
        max_body: the largest response body read; a larger one is a
            :class:`RemoteProtocolError`.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self.ssl_context = ssl_context
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._closed = False

    async def _connect(self, host: str, port: int, tls: bool = False) -> _Connection:
        try:
            with anyio.fail_after(self.connect_timeout):
                tcp = await anyio.connect_tcp(host, port)
                stream = await self._start_tls(tcp, host) if tls else tcp
        except TimeoutError:
            raise ConnectError(f"connecting to {host}:{port} timed out") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS with {host}:{port} failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
        except _STREAM_ERRORS as exc:
            raise ConnectError(f"TLS with {host}:{port} failed: {exc!r}") from exc
        with contextlib.suppress(OSError, anyio.TypedAttributeLookupError):
            stream.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        return _Connection(stream, f"{host}:{port}")

    async def _start_tls(self, stream: SocketStream, host: str) -> anyio.abc.ByteStream:
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        try:
            return await TLSStream.wrap(
                stream, hostname=host, ssl_context=self.ssl_context, standard_compatible=False
            )
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
                await stream.aclose()
            raise

    async def _acquire(self, host: str, port: int, tls: bool) -> _Connection:
        if self._closed:
            raise TransportClosed("HTTP client is closed")
        idle = self._idle.get((host, port))
        if idle:
            connection = idle.pop()
            connection.reused = True
            return connection
        return await self._connect(host, port, tls)

    def _release(self, host: str, port: int, connection: _Connection) -> bool:
        """Keep a connection for reuse if both sides allow it."""
        if connection.keep and not self._closed:
            connection.responded = False
            idle = self._idle.setdefault((host, port), deque())
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append(connection)
                return True
        return False

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        """Send one request and read the whole response.

        A request on a reused connection that the server had already closed is sent again
        once on a fresh connection: no byte of it was read by the server then.
        """
        host, port, path = split_url(url)
        tls = url.startswith("https:")
        for attempt in (1, 2):
            connection = await self._acquire(host, port, tls)
            try:
                response = await self._exchange(connection, method, host, port, path, body, headers)
            except (ReadError, WriteError, RemoteProtocolError):
                await connection.aclose()
                # A reused connection the server had closed shows no response at all.
                if attempt == 1 and connection.reused and not connection.responded:
                    continue
                raise
            except BaseException:
                # Cancelled mid-exchange: the connection is in an unknown state.
                await connection.aclose()
                raise
            if not self._release(host, port, connection):
                await connection.aclose()
            return response
        raise AssertionError("unreachable")

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        host: str,
        port: int,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]] | None,
    ) -> HttpResponse:
        await connection.write(request_bytes(method, path, f"{host}:{port}", body, headers or ()))
        reader = ResponseReader(method, max_body=self.max_body)
        while True:
            data = await connection.receive()
            if not data and not connection.responded:
                # Closed before a byte of a response: a lost connection, not a protocol
                # breach (over TLS, how a server refuses a client certificate).
                raise ReadError(
                    f"{connection.host} closed the connection before answering{connection.hint()}"
                )
            connection.responded = True
            try:
                if reader.feed(data):
                    break
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{connection.host} broke HTTP/1.1: {exc}") from None
        connection.keep = reader.keep_alive
        return HttpResponse(reader.status, reader.headers, reader.body)

    async def stream_lines(
        self, url: str, *, headers: list[tuple[str, str]] | None = None
    ) -> AsyncIterator[tuple[int, bytes]]:
        """GET ``url`` and yield ``(status, line)`` for each line of the body as it arrives
        (for Server-Sent Events). The connection is not reused."""
        host, port, path = split_url(url)
        connection = await self._connect(host, port, url.startswith("https:"))
        try:
            all_headers = [("Host", f"{host}:{port}"), ("Accept", "text/event-stream")]
            all_headers.extend(headers or [])
            await connection.send(
                h11.Request(method="GET", target=path, headers=all_headers), h11.EndOfMessage()
            )
            event = await connection.next_event()
            if not isinstance(event, h11.Response):
                raise RemoteProtocolError(f"{connection.host} sent {type(event).__name__} first")
            status = event.status_code
            buffer = b""
            while True:
                event = await connection.next_event()
                if isinstance(event, h11.Data):
                    buffer += bytes(event.data)
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        yield status, line.rstrip(b"\r")
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    if buffer:
                        yield status, buffer
                    return
        finally:
            await connection.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()
