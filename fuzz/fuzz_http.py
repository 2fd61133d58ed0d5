"""Coverage-guided fuzzing of the HTTP endpoint with atheris (libFuzzer for Python).

Not a test: pytest does not collect it. Run it from the repository root::

    pip install atheris
    python fuzz/fuzz_http.py asgi -max_total_time=300 -dict=fuzz/http.dict   # the ASGI app
    python fuzz/fuzz_http.py codec -max_total_time=300 -dict=fuzz/http.dict  # frames only

Extra arguments go to libFuzzer (``-max_total_time``, ``-runs``, a corpus directory, ...);
without a corpus directory a temporary one is seeded with a few good requests.
``fuzz/http.dict`` lists JSON-RPC and agentlink tokens for the mutator.

``asgi`` drives the application a real server runs (the same as over uvicorn, minus the
HTTP parser) with the method, path, query, headers, content type and body chunks taken from
the input; ``codec`` feeds the input as one frame to the dispatcher of an agent. Both check
every answer with the oracle of the pytest fuzz tests (tests/security/http_fuzz_helpers.py):
a documented status and body, a JSON-RPC error code from the error table, never a crash,
never longer than ten seconds, and a good request still answered every thousand inputs.
An assertion failing, or an exception escaping, is a finding: libFuzzer saves the input.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["agentlink", "orjson"]):
    import orjson

    from agentlink.core._dispatch import Dispatcher
    from agentlink.runtime import Runtime
    from agentlink.transport import HttpTransport
    from tests.security.http_fuzz_helpers import (
        GOOD,
        MAX_BYTES,
        METHODS,
        asgi_request,
        check_answer,
        check_response,
        expected_frame_error,
        fuzz_agent,
    )

PATHS = [
    "/rpc",
    "/agents/cnc-7/rpc",
    "/agents/registry/rpc",
    "/agents/nobody/rpc",
    "/.well-known/agentlink.json",
    "/agents/cnc-7/events",
    "/tasks/t-1/events",
    "/agents/registry/registry/watch",
]
HTTP_METHODS = ["POST", "POST", "POST", "POST", "GET", "PUT"]
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
    None,
]
HEADER_NAMES = [b"last-event-id", b"authorization", b"content-length", b"x-junk", b"expect"]
SEEDS = [
    GOOD,
    b"[" + GOOD + b"," + GOOD + b"]",
    orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "registry/search",
            "params": {"_meta": {"protocol": "agentlink/0.1", "message_id": "m"}, "limit": 1},
        }
    ),
    orjson.dumps(
        {
            "jsonrpc": "2.0",
            "method": "events/publish",
            "params": {
                "_meta": {"protocol": "agentlink/0.1", "message_id": "m"},
                "topic": "spindle.load",
                "data": {},
            },
        }
    ),
]


class Served:
    """A runtime with the fuzzed agent on a loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = HttpTransport(max_bytes=MAX_BYTES)
        self.dispatcher: Dispatcher | None = None
        ready = threading.Event()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def host() -> None:
            async with Runtime(agents=[fuzz_agent()], transport=self.http) as runtime:
                self.dispatcher = runtime.servers["cnc-7"].dispatcher
                ready.set()
                await asyncio.Event().wait()

        asyncio.run_coroutine_threadsafe(host(), self.loop)
        if not ready.wait(30):
            raise RuntimeError("the runtime did not start")

    def run(self, coroutine: Any) -> Any:
        """Run on the server's loop; more than ten seconds is a hang, a finding."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)


def asgi_input(data: bytes) -> dict[str, Any]:
    """The request an input describes. Its layout keeps the body a plain suffix, so that
    the mutator works on JSON: byte 0 picks the method, 1 the path, 2 the content type,
    3 the number of extra headers (low 2 bits) and body cuts (next 2 bits); then per header
    a name byte, a length byte and the value; per cut two bytes; the rest is the body."""
    head, rest = data[:4].ljust(4, b"\0"), memoryview(data)[4:]
    method = HTTP_METHODS[head[0] % len(HTTP_METHODS)]
    path = PATHS[head[1] % len(PATHS)]
    content_type = CONTENT_TYPES[head[2] % len(CONTENT_TYPES)]
    headers = []
    for _ in range(head[3] & 3):
        if len(rest) < 2:
            break
        name, size = HEADER_NAMES[rest[0] % len(HEADER_NAMES)], rest[1] % 24
        headers.append((name, bytes(rest[2 : 2 + size])))
        rest = rest[2 + size :]
    cuts = []
    for _ in range((head[3] >> 2) & 3):
        if len(rest) < 2:
            break
        cuts.append(int.from_bytes(rest[:2], "big"))
        rest = rest[2:]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    body = bytes(rest)
    chunks, last = [], 0
    for cut in sorted(min(c, len(body)) for c in cuts):
        chunks.append(body[last:cut])
        last = cut
    chunks.append(body[last:])
    return {
        "method": method,
        "path": path,
        "query": b"",
        "headers": headers,
        "chunks": chunks,
        "body": body,
        "content_type": content_type,
    }


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in ("asgi", "codec") else None
    if target is None:
        sys.exit(__doc__)
    served = Served()
    count = 0
    started = time.monotonic()

    def still_serving() -> None:
        answer = served.run(
            asgi_request(
                served.http.app,
                method="POST",
                path="/agents/cnc-7/rpc",
                headers=[(b"content-type", b"application/json")],
                chunks=[GOOD],
            )
        )
        assert orjson.loads(answer.body)["result"] == {"output": {"text": "still here"}}

    def one_asgi(data: bytes) -> None:
        request = asgi_input(data)
        # A content-length header the fuzzer wrote may make the app refuse the body early.
        declared = [v for k, v in request["headers"] if k == b"content-length"]
        answer = served.run(
            asgi_request(
                served.http.app,
                method=request["method"],
                path=request["path"],
                query=request["query"],
                headers=request["headers"],
                chunks=request["chunks"],
            )
        )
        body = request["body"]
        if declared and answer.status == 413:
            body = b"x" * (MAX_BYTES + 1)
        check_answer(
            answer,
            method=request["method"],
            path=request["path"],
            body=body,
            content_type=request["content_type"],
        )

    def one_codec(data: bytes) -> None:
        assert served.dispatcher is not None
        reply = served.run(served.dispatcher.handle(data, now=time.time()))
        if reply is None:
            return
        decoded = orjson.loads(reply)
        expected = expected_frame_error(data) if len(data) <= (1 << 20) else {-32025}
        if expected is not None:
            assert check_response(decoded) in expected, decoded
            return
        for item in decoded if isinstance(decoded, list) else [decoded]:
            check_response(item)

    one = one_asgi if target == "asgi" else one_codec

    def test_one_input(data: bytes) -> None:
        nonlocal count
        count += 1
        one(data)
        if count % 1000 == 0:
            still_serving()

    args = [arg for arg in sys.argv if arg != target]
    if not any(Path(a).is_dir() for a in args[1:] if not a.startswith("-")):
        corpus = tempfile.mkdtemp(prefix=f"agentlink-fuzz-{target}-")
        for i, seed in enumerate(SEEDS):
            prefix = b"\x01\x01\x00\x00" if target == "asgi" else b""
            Path(corpus, f"seed-{i}").write_bytes(prefix + seed)
        args.append(corpus)
    assert METHODS  # the oracle's method list is what the seeds draw from
    # libFuzzer ends the process itself (time up, or a finding): report from atexit.
    atexit.register(
        lambda: print(
            f"{target}: {count} inputs in {time.monotonic() - started:.0f} s", file=sys.stderr
        )
    )
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
