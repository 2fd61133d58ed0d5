"""What the HTTP endpoint may answer to anything at all: the oracle of the fuzz tests
(tests/security/test_fuzz_http.py) and of the atheris harness (fuzz/fuzz_http.py).

Every answer is one the binding documents (protocol/SPEC.md, HTTP binding): a JSON-RPC
response with a code from the error table (status 200), nothing (204), or one of the
statuses 400, 404, 405, 413, 415 with the body the server module documents. A 500 means a
handler crashed: always a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from agentlink.model import ERROR_CLASSES, Message
from agentlink.runtime import Agent, MessageContext, ToolContext

MAX_BYTES = 16_384
#: A request that must be served after any input: the server is still up.
GOOD = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": "good",
        "method": "tools/call",
        "params": {
            "_meta": {"protocol": "agentlink/0.1", "message_id": "m-good"},
            "name": "echo",
            "arguments": {"text": "still here"},
        },
    }
)
MAX_DEPTH = 64  # the dispatcher's default (ALP-CORE-018 allows down to 32)
METHODS = (
    "agent/card",
    "agent/ping",
    "tools/list",
    "tools/call",
    "message/send",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/subscribe",
    "tasks/input",
    "tasks/approve",
    "events/publish",
    "events/subscribe",
    "registry/register",
    "registry/heartbeat",
    "registry/deregister",
    "registry/search",
    "registry/watch",
)


def fuzz_agent() -> Agent:
    """The agent under fuzzing: quick tools only (nothing a fuzzer can make sleep)."""
    mill = Agent("cnc-7", role="execution", capabilities=["machining.milling"])
    mill.emits("spindle.load", schema={"type": "object"})

    @mill.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    @mill.tool
    async def add(a: float, b: float) -> dict[str, float]:
        return {"sum": a + b}

    @mill.tool
    async def fail() -> dict[str, str]:
        raise RuntimeError("always")

    @mill.tool(task=True)
    async def job(steps: int, ctx: ToolContext) -> dict[str, int]:
        for i in range(max(0, min(steps, 3))):
            await ctx.progress((i + 1) / 3)
        return {"steps": steps}

    @mill.on_message()
    async def inbox(message: Message, ctx: MessageContext) -> None:
        return None

    return mill


@dataclass
class Answer:
    """What came back for one HTTP request."""

    status: int
    headers: dict[str, str]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)


async def asgi_request(
    app: Any,
    *,
    method: str,
    path: str,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (b"",),
) -> Answer:
    """Drive the ASGI app once as uvicorn would; the client leaves once the answer has
    started (so an SSE stream ends after its first chunk)."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or (b"",))
    ]
    answered = anyio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8700),
    }
    await app(scope, receive, send)
    assert sent, "the app sent nothing"
    start = sent[0]
    assert start["type"] == "http.response.start", start
    bodies = sent[1:]
    assert all(m["type"] == "http.response.body" for m in bodies), sent
    assert bodies, "no body"
    assert not bodies[-1].get("more_body", False), "the response never ended"
    chunks_out = [m.get("body", b"") for m in bodies]
    response_headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Answer(start["status"], response_headers, b"".join(chunks_out), chunks_out)


def check_error(error: Any) -> int:
    """An ``error`` member as the error table documents it; returns its code."""
    assert isinstance(error, dict), error
    code = error.get("code")
    assert type(code) is int, error
    assert isinstance(error.get("message"), str), error
    assert code in ERROR_CLASSES, f"undocumented code {code}"
    data = error.get("data")
    assert isinstance(data, dict), error
    assert data.get("name") == ERROR_CLASSES[code].name, error
    return code


def check_response(item: Any) -> int | None:
    """One JSON-RPC response; returns its error code, or None for a result."""
    assert isinstance(item, dict), item
    assert item.get("jsonrpc") == "2.0", item
    assert "id" in item, item
    assert item["id"] is None or type(item["id"]) in (int, str), item
    assert ("result" in item) != ("error" in item), item
    return check_error(item["error"]) if "error" in item else None


def nesting(value: Any) -> int:
    depth, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            depth = max(depth, level)
            stack.extend(
                (child, level + 1) for child in (node.values() if isinstance(node, dict) else node)
            )
    return depth


def expected_frame_error(body: bytes) -> set[int] | None:
    """The codes a frame-level fault must get (parse, depth, empty batch), or None when
    the frame is well-formed JSON and the answer depends on its content."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Not UTF-8 JSON, or deeper than the parser goes.
        return {-32700, -32025}
    if nesting(parsed) > MAX_DEPTH:
        return {-32025}
    if parsed == []:
        return {-32600}
    if not isinstance(parsed, dict | list):
        return {-32600}
    return None


def check_rpc_answer(answer: Answer, body: bytes, content_type: str | None) -> None:
    """The answer to a POST to ``/rpc`` with ``body``."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        assert answer.status == 415, answer
        return
    if len(body) > MAX_BYTES:
        assert answer.status == 413, answer
        reply = orjson.loads(answer.body)
        assert check_response(reply) == -32025, reply
        assert reply["id"] is None, reply
        assert reply["error"]["data"]["kind"] == "bytes", reply
        return
    if answer.status == 204:
        assert answer.body == b"", answer
        return
    assert answer.status == 200, answer
    assert answer.headers.get("content-type") == "application/json", answer
    reply = orjson.loads(answer.body)
    expected = expected_frame_error(body)
    if expected is not None:
        assert isinstance(reply, dict), reply
        assert check_response(reply) in expected, reply
        assert reply["id"] is None, reply
        return
    items = reply if isinstance(reply, list) else [reply]
    assert items, "an empty batch reply is sent as 204"
    for item in items:
        check_response(item)


def check_answer(
    answer: Answer, *, method: str, path: str, body: bytes, content_type: str | None
) -> None:
    """Any answer of the app: documented status, well-formed body, never a crash."""
    assert answer.status != 500, f"the server crashed: {answer}"
    rpc = path.endswith("/rpc") and (path == "/rpc" or path.startswith("/agents/"))
    agent = path.removeprefix("/agents/").split("/")[0] if path.startswith("/agents/") else "cnc-7"
    if answer.status == 404:
        if answer.headers.get("content-type") == "application/json":
            check_response(orjson.loads(answer.body))
        return
    if rpc and agent in ("cnc-7", "registry"):
        if method != "POST":
            assert answer.status == 405, answer
            return
        check_rpc_answer(answer, body, content_type)
        return
    assert answer.status in (200, 400, 401, 403, 405, 429), answer
    if answer.status == 200:
        media = answer.headers.get("content-type")
        if media == "application/json":
            assert isinstance(orjson.loads(answer.body), dict)
        else:
            assert media == "text/event-stream", answer
            for line in answer.body.split(b"\n"):
                assert line == b"" or line.startswith((b":", b"id: ", b"event: ", b"data: ")), line
    elif answer.headers.get("content-type") == "application/json":
        check_response(orjson.loads(answer.body))
