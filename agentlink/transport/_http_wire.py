"""HTTP/1.1 request and response bytes for the client's call path, sans I/O.

A call is one POST and one whole response: the request goes out as one buffer, and
:class:`ResponseReader` turns the bytes that come back into a response. It reads what an
HTTP/1.1 server may send to such a request (RFC 9112): a status line, header fields, and
a body delimited by ``Content-Length``, by ``chunked`` transfer coding, or by the end of
the connection. Anything else is a :class:`RemoteProtocolError`. It exists because a
general HTTP state machine (h11) cost the client 75 us of a 100 us call here; the streams
of Server-Sent Events still go through h11.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from agentlink.model import RemoteProtocolError, UsageError

__all__ = ["MAX_HEAD", "ResponseReader", "count", "request_bytes"]

#: The most bytes a response's status line and header fields may take.
MAX_HEAD: Final = 65_536
_FORBIDDEN_IN_HEADERS: Final = frozenset("\r\n\0")


def request_bytes(
    method: str, path: str, host: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The request, head and body, as one buffer.

    Raises:
        UsageError: a header name or value holds CR, LF or NUL (it would split the
            request), or a name holds a colon or space.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers:
        if not name or _FORBIDDEN_IN_HEADERS.intersection(name + value) or ":" in name:
            raise UsageError(f"not a valid HTTP header: {name!r}")
        if " " in name:
            raise UsageError(f"not a valid HTTP header name: {name!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseReader:
    """Reads one response to a request made with ``method``; feed it what arrives.

    Attributes:
        status: the status code, once the head is read.
        headers: the header fields, lower-case names (repeated fields joined by ``,``).
        keep_alive: whether the connection may carry another request afterwards.
    """

    def __init__(self, method: str, *, max_body: int) -> None:
        self._head_only = method == "HEAD"
        self._max_body = max_body
        self._buffer = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self._length: int | None = None  # the body's length (None: until the end)
        self._chunked = False
        self._chunks: list[bytes] = []
        self._in_head = True
        self._done = False
        self.body = b""

    @property
    def done(self) -> bool:
        """Whether the whole response has been read."""
        return self._done

    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the connection; b"" means it was closed. True once the
        response is complete.

        Raises:
            RemoteProtocolError: the bytes are not a valid response, or too large.
        """
        if self._done:
            if data:
                raise RemoteProtocolError("the server sent more than one response")
            return True
        eof = not data
        self._buffer += data
        if self._in_head:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise RemoteProtocolError(f"a response head over {MAX_HEAD} bytes")
                if eof:
                    raise RemoteProtocolError("the connection closed before a response")
                return False
            self._read_head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
            self._in_head = False
        if self._chunked:
            self._done = self._read_chunks()
        elif self._length is not None:
            if len(self._buffer) > self._length:
                raise RemoteProtocolError("the server sent more than its Content-Length")
            self._done = len(self._buffer) == self._length
            if self._done:
                self.body = bytes(self._buffer)
        else:
            self._check_size(len(self._buffer))
            self._done = eof
            if eof:
                self.body = bytes(self._buffer)
        if eof and not self._done:
            raise RemoteProtocolError("the connection closed in the middle of a response")
        return self._done

    def _read_head(self, head: bytes) -> None:
        status_line, *fields = head.split(b"\r\n")
        version, _, rest = status_line.partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise RemoteProtocolError(f"not an HTTP/1.1 status line: {status_line[:60]!r}")
        self.status = int(code)
        if self.status < 200:
            raise RemoteProtocolError(f"an unexpected interim response {self.status}")
        for field in fields:
            name, colon, value = field.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise RemoteProtocolError(f"a malformed header field: {field[:60]!r}")
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        self.keep_alive = "close" not in tokens and (
            version == b"HTTP/1.1" or "keep-alive" in tokens
        )
        coding = self.headers.get("transfer-encoding")
        if self._head_only or self.status in (204, 304):
            self._length = 0
        elif coding is not None:
            if coding.lower() != "chunked":
                raise RemoteProtocolError(f"an unsupported transfer coding {coding!r}")
            self._chunked = True
        elif "content-length" in self.headers:
            self._length = _length(self.headers["content-length"])
            self._check_size(self._length)
        else:
            self.keep_alive = False  # the body runs to the end of the connection

    def _read_chunks(self) -> bool:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > 1024:
                    raise RemoteProtocolError("a chunk size line over 1 KiB")
                return False
            size = _length(bytes(buffer[:line_end]).split(b";")[0], base=16)
            if size == 0:
                # The last chunk; trailer fields (none expected) end with an empty line.
                end = buffer.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return False
                del buffer[: end + 4]
                self.body = b"".join(self._chunks)
                return True
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return False
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise RemoteProtocolError("a chunk not followed by CRLF")
            self._chunks.append(bytes(buffer[start : start + size]))
            self._check_size(sum(map(len, self._chunks)))
            del buffer[: start + size + 2]

    def _check_size(self, size: int) -> None:
        if size > self._max_body:
            raise RemoteProtocolError(f"a response body over {self._max_body} bytes")


def count(text: str | bytes, *, base: int = 10, max_digits: int = 4000) -> int | None:
    """A non-negative integer written in ASCII digits of ``base`` (10 or 16), surrounding
    spaces aside, else None. (``str.isdigit`` also takes digits such as ``²`` that ``int``
    refuses, and ``int`` refuses more than 4,300 digits: neither may crash a request.)"""
    raw = (text.encode("latin-1", "replace") if isinstance(text, str) else text).strip()
    digits = b"0123456789abcdefABCDEF" if base == 16 else b"0123456789"
    if not raw or len(raw) > max_digits or raw.strip(digits):
        return None
    return int(raw, base)


def _length(text: str | bytes, *, base: int = 10) -> int:
    """A length in a response (at most 16 digits), or a :class:`RemoteProtocolError`."""
    value = count(text, base=base, max_digits=16)
    if value is None:
        raw = text if isinstance(text, bytes) else text.encode("latin-1", "replace")
        raise RemoteProtocolError(f"not a valid length: {raw[:20]!r}")
    return value
