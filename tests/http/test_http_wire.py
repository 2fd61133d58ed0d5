"""The client's HTTP/1.1 call path, sans I/O: requests as bytes, responses read from bytes
however they are split, and every malformed response a typed error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.model import RemoteProtocolError, UsageError
from agentlink.transport._http_wire import MAX_HEAD, ResponseReader, request_bytes

BODY = b'{"jsonrpc":"2.0","id":1,"result":{"text":"hello"}}'
LENGTH = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n" % len(BODY) + BODY
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b"5\r\n" + BODY[:5] + b"\r\n" + b"%x;ext=1\r\n" % (len(BODY) - 5) + BODY[5:] + b"\r\n0\r\n\r\n"
)
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + BODY


def read(response: bytes, *parts: int, method: str = "POST", eof: bool = False) -> ResponseReader:
    """Feed ``response`` split at ``parts`` (then the end of the connection if ``eof``)."""
    reader = ResponseReader(method, max_body=1 << 20)
    start = 0
    for cut in (*sorted(parts), len(response)):
        if cut > start:
            reader.feed(response[start:cut])
        start = cut
    if eof:
        reader.feed(b"")
    return reader


def test_a_request_is_one_buffer_with_host_and_length() -> None:
    data = request_bytes("POST", "/agents/cnc/rpc", "127.0.0.1:80", b"{}", [("X-A", "1")])
    assert data == (
        b"POST /agents/cnc/rpc HTTP/1.1\r\nHost: 127.0.0.1:80\r\nContent-Length: 2\r\n"
        b"X-A: 1\r\n\r\n{}"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-A", "1\r\nX-Evil: 2"), ("X-A", "1\n"), ("X-A\r\n", "1"), ("X:A", "1"), ("X A", "1")],
)
def test_a_header_that_would_split_the_request_is_refused(name: str, value: str) -> None:
    with pytest.raises(UsageError):
        request_bytes("POST", "/", "h:1", b"", [(name, value)])


@pytest.mark.parametrize(
    ("response", "eof"), [(LENGTH, False), (CHUNKED, False), (UNTIL_CLOSE, True)]
)
def test_each_way_of_ending_a_body_reads_the_same_response(response: bytes, eof: bool) -> None:
    reader = read(response, eof=eof)
    assert reader.done
    assert (reader.status, reader.body) == (200, BODY)
    assert reader.keep_alive is not eof  # a body to the end of the connection ends it


@given(data=st.data())
def test_a_response_split_anywhere_reads_the_same(data: st.DataObject) -> None:
    response = data.draw(st.sampled_from([LENGTH, CHUNKED]))
    cuts = data.draw(st.lists(st.integers(1, len(response) - 1), max_size=6, unique=True))
    reader = read(response, *cuts)
    assert reader.done
    assert reader.body == BODY
    assert reader.headers["content-type" if response is LENGTH else "transfer-encoding"]


def test_not_done_until_the_whole_body_is_there() -> None:
    reader = ResponseReader("POST", max_body=1 << 20)
    assert reader.feed(LENGTH[:-1]) is False
    assert not reader.done
    assert reader.feed(LENGTH[-1:]) is True


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection_field(head: bytes, keep_alive: bool) -> None:
    reader = read(head)
    assert reader.done
    assert reader.body == b""
    assert reader.keep_alive is keep_alive


def test_a_head_request_has_no_body_whatever_its_length() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", method="HEAD")
    assert reader.done
    assert reader.body == b""


def test_repeated_fields_are_joined() -> None:
    reader = read(b"HTTP/1.1 204 No Content\r\nVia: a\r\nVia: b\r\n\r\n")
    assert reader.headers["via"] == "a, b"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n : empty name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xc2\xb2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    ],
)
def test_a_malformed_response_is_a_protocol_error(response: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        read(response, eof=True)


@pytest.mark.parametrize(
    "response",
    [b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", CHUNKED[:-4]],
)
def test_a_connection_closed_mid_response_is_a_protocol_error(response: bytes) -> None:
    reader = ResponseReader("POST", max_body=1 << 20)
    if response:
        reader.feed(response)
    with pytest.raises(RemoteProtocolError, match="closed"):
        reader.feed(b"")


def test_a_head_or_body_over_the_limit_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="head over"):
        ResponseReader("POST", max_body=10).feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD)
    with pytest.raises(RemoteProtocolError, match="body over"):
        ResponseReader("POST", max_body=10).feed(LENGTH)
    with pytest.raises(RemoteProtocolError, match="body over"):
        ResponseReader("POST", max_body=10).feed(CHUNKED)
    with pytest.raises(RemoteProtocolError, match="body over"):
        ResponseReader("POST", max_body=10).feed(UNTIL_CLOSE)


def test_a_second_response_is_refused() -> None:
    reader = read(LENGTH)
    with pytest.raises(RemoteProtocolError, match="more than one"):
        reader.feed(b"HTTP/1.1 200 OK\r\n")
