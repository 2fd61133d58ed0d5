"""Fuzzing the HTTP endpoint's request handling: anything a client sends gets a documented
answer, nothing crashes or hangs, and the server answers a good request afterwards.

Most examples drive the ASGI application in-process (cheap); a few go over a real socket to
uvicorn, where the HTTP framing itself (chunked bodies, lying lengths, broken headers) is
fuzzed too. The oracle is tests/security/http_fuzz_helpers.py; fuzz/fuzz_http.py runs the
same oracle under atheris for longer runs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any
from urllib.parse import quote

import anyio
import anyio.abc
import h11
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlink.runtime import Runtime
from agentlink.transport import HttpTransport
from tests.security.http_fuzz_helpers import (
    GOOD,
    MAX_BYTES,
    METHODS,
    asgi_request,
    check_answer,
    check_response,
    fuzz_agent,
)

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[HttpTransport]:
    http = HttpTransport(max_bytes=MAX_BYTES)
    async with Runtime(agents=[fuzz_agent()], transport=http):
        yield http


# -- strategies ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(),
    st.text(max_size=10),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.just(2**80),
)
metas = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.sampled_from(["agentlink/0.1", "agentlink/9.9", "", 1]),
        "message_id": st.one_of(st.text(max_size=12), st.integers(), st.just("")),
        "sender": st.one_of(st.sampled_from(["mes", "cnc-7", "bad id!"]), st.integers()),
        "receiver": st.sampled_from(["cnc-7", "registry", "other", ""]),
        "deadline": st.sampled_from(
            ["2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "soon", "2099-13-45T99:99:99Z", 5]
        ),
        "idempotency_key": st.one_of(st.text(max_size=10), st.integers()),
        "traceparent": st.sampled_from(
            ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "garbage"]
        ),
        "auth": st.text(max_size=10),
    },
)
tool_params = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["echo", "add", "fail", "job", "nope", ""]),
        "arguments": st.one_of(
            st.fixed_dictionaries({"text": json_scalars}),
            st.fixed_dictionaries({"a": json_scalars, "b": json_scalars}),
            st.fixed_dictionaries({"steps": st.integers(-5, 10**30)}),
            json_values,
        ),
    }
)


@st.composite
def requests(draw: st.DrawFn) -> Any:
    """A JSON-RPC request, mostly plausible, often wrong in one member."""
    params: Any = draw(
        st.one_of(
            tool_params,
            st.dictionaries(
                st.sampled_from(
                    [
                        "task_id",
                        "topics",
                        "after_seq",
                        "wait_ms",
                        "card",
                        "ttl_s",
                        "cursor",
                        "limit",
                        "message",
                        "agent_id",
                    ]
                ),
                json_values,
                max_size=3,
            ),
            json_values,
        )
    )
    if isinstance(params, dict) and draw(st.booleans()):
        params = {**params, "_meta": draw(metas)}
    if isinstance(params, dict) and "_meta" in params and isinstance(params["_meta"], dict):
        params["_meta"].setdefault("protocol", "agentlink/0.1")
        params["_meta"].setdefault("message_id", "m-1")
    request: dict[str, Any] = {
        "jsonrpc": draw(st.sampled_from(["2.0", "2.0", "1.0", 2])),
        "method": draw(st.one_of(st.sampled_from(METHODS), st.text(max_size=12))),
        "params": params,
    }
    if draw(st.integers(0, 4)):
        request["id"] = draw(ids)
    if not draw(st.integers(0, 9)):
        request.pop(draw(st.sampled_from(sorted(request))))
    if not draw(st.integers(0, 9)):
        request["result"] = draw(json_values)
    return request


def deep(n: int, open_: str, close: str) -> bytes:
    return (open_ * n + close * n).encode()


bodies = st.one_of(
    st.binary(max_size=300),
    requests().map(lambda r: json.dumps(r).encode()),
    st.lists(requests(), min_size=0, max_size=70).map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(2, 3000).map(lambda n: deep(n, "[", "]")),
    st.integers(2, 200).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.sampled_from(
        [
            b'{"jsonrpc":"2.0","id":1,"method":"agent/ping","params":{"_meta":{"protocol":'
            b'"agentlink/0.1","message_id":"m","x":' + b"9" * 5000 + b"}}}",
            b'{"jsonrpc":"2.0","id":1e999,"method":"agent/ping"}',
            b'{"jsonrpc":"2.0","id":-0,"method":"agent/ping","params":[]}',
            b'{"jsonrpc":"2.0","id":"\xff\xfe","method":"agent/ping"}',
            b'{"jsonrpc":"2.0","id":"\\ud800","method":"agent/ping"}',
            b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"agent/ping"}',
            b'{"jsonrpc":"2.0","id":1,"method":"agent/ping"} trailing',
            b'{"jsonrpc":"2.0","id":1,"id":2,"method":"agent/ping"}',
            b"[" + b",".join([GOOD] * 65) + b"]",
            b"[]",
            b"",
            b"null",
            b" " * 100,
            b"x" * (MAX_BYTES + 1),
            b"[" * (MAX_BYTES // 2),
        ]
    ),
)


def mutate(data: bytes, cuts: list[int], junk: bytes) -> bytes:
    """``data`` with ``junk`` spliced in at a few positions."""
    out = bytearray(data)
    for cut in cuts:
        position = cut % (len(out) + 1)
        out[position:position] = junk
    return bytes(out)


mutated = st.builds(
    mutate,
    requests().map(lambda r: json.dumps(r).encode()),
    st.lists(st.integers(0, 10_000), max_size=3),
    st.sampled_from([b"\x00", b"\xff", b'"', b"}", b"\\u", b"\xc3", b"1e400", b","]),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/json;charset=latin-1",
            "text/plain",
            "application/jsonx",
            "",
            "multipart/form-data; boundary=x",
        ]
    ),
    st.none(),
    st.text(max_size=20),
)
paths = st.sampled_from(
    [
        "/rpc",
        "/agents/cnc-7/rpc",
        "/agents/registry/rpc",
        "/agents/nobody/rpc",
        "/.well-known/agentlink.json",
        "/agents/cnc-7/.well-known/agentlink.json",
        "/tasks/none/events",
        "/agents/cnc-7/events",
        "/agents/registry/registry/watch",
        "/registry/watch",
        "/agents//rpc",
        "/agents/cnc-7/rpc/extra",
        "/",
    ]
)
# Numbers as a sloppy parser would accept them: Unicode digits, signs, too many digits.
odd_numbers = st.sampled_from(["\u00b2", "\u00b9\u00b2", "-1", "+5", " 7", "0x10", "9" * 5000, ""])
extra_headers = st.lists(
    st.tuples(
        st.sampled_from(["last-event-id", "authorization", "x-junk", "content-encoding", "expect"]),
        st.one_of(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=30),
            odd_numbers,
        ),
    ),
    max_size=3,
)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks, last = [], 0
    for point in points:
        chunks.append(body[last:point])
        last = point
    chunks.append(body[last:])
    return chunks


# -- in-process: the ASGI application ----------------------------------------------------


async def good_request_answers(server: HttpTransport) -> None:
    answer = await asgi_request(
        server.app,
        method="POST",
        path="/agents/cnc-7/rpc",
        headers=[(b"content-type", b"application/json")],
        chunks=[GOOD],
    )
    assert answer.status == 200
    assert orjson.loads(answer.body)["result"] == {"output": {"text": "still here"}}


@FUZZ
@given(
    body=st.one_of(bodies, mutated),
    content_type=st.one_of(st.just("application/json"), content_types),
    path=st.one_of(st.just("/agents/cnc-7/rpc"), paths),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"]),
    length=st.sampled_from(["right", "none", "short", "long", "garbage", "huge", "odd"]),
    cuts=st.lists(st.integers(0, 10**6), max_size=4),
    extra=extra_headers,
    query=st.one_of(
        st.sampled_from([b"", b"topic=spindle.%3E", b"after_seq=-1", b"after_seq=x", b"topic="]),
        odd_numbers.map(lambda n: b"after_seq=" + quote(n).encode()),
    ),
)
async def test_every_request_gets_a_documented_answer(
    server: HttpTransport,
    body: bytes,
    content_type: str | None,
    path: str,
    method: str,
    length: str,
    cuts: list[int],
    extra: list[tuple[str, str]],
    query: bytes,
) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("utf-8")))
    declared = {
        "right": str(len(body)),
        "none": None,
        "short": str(max(0, len(body) - 1)),
        "long": str(len(body) + 10),
        "garbage": "12abc",
        "huge": str(10**12),
        "odd": "\u00b2\u00b2",
    }[length]
    if declared is not None:
        headers.append((b"content-length", declared.encode()))
    with anyio.fail_after(10):
        answer = await asgi_request(
            server.app,
            method=method,
            path=path,
            query=query,
            headers=headers,
            chunks=split(body, cuts),
        )
    media = None if content_type is None else content_type
    if length == "huge" and method == "POST" and path.endswith("/rpc") and answer.status == 413:
        body = b"x" * (MAX_BYTES + 1)  # refused on the declared length alone: fine
    check_answer(answer, method=method, path=path, body=body, content_type=media)
    with anyio.fail_after(10):
        await good_request_answers(server)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(
        ["/agents/cnc-7/events", "/agents/registry/registry/watch", "/tasks/t-1/events"]
    ),
    position=st.one_of(odd_numbers, st.text(max_size=12), st.integers(0, 10**30).map(str)),
    where=st.sampled_from(["header", "query"]),
)
async def test_every_stream_resume_position_gets_a_documented_answer(
    server: HttpTransport, path: str, position: str, where: str
) -> None:
    headers: list[tuple[bytes, bytes]] = []
    query = b""
    if where == "header":
        try:
            headers.append((b"last-event-id", position.encode("latin-1")))
        except UnicodeEncodeError:
            return  # not a header value
    else:
        query = b"after_seq=" + quote(position).encode()
    with anyio.fail_after(10):
        answer = await asgi_request(
            server.app, method="GET", path=path, query=query, headers=headers
        )
    check_answer(answer, method="GET", path=path, body=b"", content_type=None)


@FUZZ
@given(batch=st.lists(requests(), min_size=1, max_size=8))
async def test_a_batch_gets_one_answer_per_request_with_an_id(
    server: HttpTransport, batch: list[Any]
) -> None:
    body = json.dumps(batch).encode()
    with anyio.fail_after(10):
        answer = await asgi_request(
            server.app,
            method="POST",
            path="/agents/cnc-7/rpc",
            headers=[(b"content-type", b"application/json")],
            chunks=[body],
        )
    check_answer(
        answer, method="POST", path="/agents/cnc-7/rpc", body=body, content_type="application/json"
    )
    if answer.status == 204:
        return
    replies = orjson.loads(answer.body)
    replies = replies if isinstance(replies, list) else [replies]
    for reply in replies:
        check_response(reply)
    # Every request with a valid id is answered with that id. (An integer beyond 64 bits
    # is read as a float, so it is no valid id.)
    answered_ids = [r["id"] for r in replies if r["id"] is not None]
    asked = [r["id"] for r in batch if is_request_with_id(r)]
    assert all(i in answered_ids for i in asked)


def is_request_with_id(r: Any) -> bool:
    if not isinstance(r, dict) or "method" not in r or "result" in r:
        return False
    valid_id = type(r.get("id")) is str or (
        type(r.get("id")) is int and -(2**63) <= r["id"] < 2**64
    )
    return valid_id and r.get("jsonrpc") == "2.0"


# -- over a real socket: uvicorn's HTTP parsing in front of the app -----------------------


async def raw_exchange(port: int, data: bytes) -> list[h11.Event]:
    """Send raw bytes and parse the first HTTP/1.1 response that comes back; [] when the
    server closes without one. A request the server is still reading (its length lies) is
    ended by half-closing the connection after a moment, as a client that gives up does."""
    parser = h11.Connection(h11.CLIENT)
    # h11 reads a response only after a request of its own; the bytes sent are ours.
    parser.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    parser.send(h11.EndOfMessage())
    events: list[h11.Event] = []

    async def read_response(stream: anyio.abc.ByteStream) -> None:
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                try:
                    parser.receive_data(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    parser.receive_data(b"")
                continue
            if isinstance(event, h11.ConnectionClosed):
                return
            events.append(event)
            if isinstance(event, h11.EndOfMessage):
                return

    with anyio.fail_after(15):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            # The server may close early (oversized, malformed).
            with suppress(anyio.BrokenResourceError, OSError):
                await stream.send(data)
            with anyio.move_on_after(1):
                await read_response(stream)
                return events
            if not events:
                with suppress(anyio.BrokenResourceError, OSError):
                    await stream.send_eof()
                await read_response(stream)
    return events


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    body = draw(st.one_of(bodies, mutated, st.just(GOOD)))
    method = draw(st.sampled_from([b"POST", b"GET", b"PATCH", b"P\x00ST", b""]))
    target = draw(st.sampled_from([b"/agents/cnc-7/rpc", b"/rpc", b"/%ff", b"*", b"/rpc?x=\xff"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x"]))
    lines = [method + b" " + target + b" " + version, b"Host: 127.0.0.1"]
    lines.append(b"Content-Type: " + draw(st.sampled_from([b"application/json", b"text/plain"])))
    framing = draw(st.sampled_from(["length", "chunked", "bad-chunked", "both", "lying", "none"]))
    if framing in ("length", "both"):
        lines.append(b"Content-Length: %d" % len(body))
    if framing == "lying":
        lines.append(b"Content-Length: %d" % (len(body) + draw(st.integers(-5, 50))))
    if framing in ("chunked", "bad-chunked", "both"):
        lines.append(b"Transfer-Encoding: chunked")
        parts = split(body, draw(st.lists(st.integers(0, 10**6), max_size=3)))
        if framing == "bad-chunked":
            encoded = b"".join(
                b"%s\r\n%s\r\n" % (draw(st.sampled_from([b"zz", b"-1", b"%x" % (len(p) + 3)])), p)
                for p in parts
            )
        else:
            encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p)
        body = encoded + b"0\r\n\r\n"
    lines.extend(
        draw(
            st.lists(
                st.sampled_from(
                    [
                        b"X: \xff\xfe",
                        b"Bad Header: x",
                        b"X-Long: " + b"a" * 9000,
                        b": empty",
                        b"Expect: 100-continue",
                    ]
                ),
                max_size=2,
            )
        )
    )
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=raw_requests())
async def test_raw_http_on_a_real_socket_gets_a_well_formed_answer(
    server: HttpTransport, data: bytes
) -> None:
    events = await raw_exchange(server.port, data)
    responses = [e for e in events if isinstance(e, h11.Response)]
    if responses:
        status = responses[0].status_code
        assert status != 500, data[:200]
        assert status in (200, 204, 400, 404, 405, 413, 415, 422, 431, 501, 505), status
        body = b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))
        content_type = dict(responses[0].headers).get(b"content-type", b"")
        if status == 200 and content_type == b"application/json":
            reply = orjson.loads(body)
            for item in reply if isinstance(reply, list) else [reply]:
                check_response(item)
    # And the server still answers a good request, on a fresh connection.
    good = (
        b"POST /agents/cnc-7/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n%s" % (len(GOOD), GOOD)
    )
    events = await raw_exchange(server.port, good)
    assert isinstance(events[0], h11.Response)
    assert events[0].status_code == 200
