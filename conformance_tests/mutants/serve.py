"""Serve the reference fixture with one mutant's defect: ``python serve.py NAME PORT``.

``NAME`` ``none`` serves the unmodified fixture (the baseline). Prints ``listening URL``
once the server accepts connections, and runs until terminated.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import MUTANTS, Mutant


def _wrap(handler: Any, mutant: Mutant) -> Any:
    def rewrite_requests(frame: bytes) -> tuple[bytes, Any]:
        # Only well-formed UTF-8 JSON is touched: a frame the suite malformed on purpose
        # must reach the implementation exactly as sent.
        try:
            parsed = json.loads(frame.decode("utf-8"))
        except (ValueError, RecursionError):
            return frame, None
        if mutant.request is None:
            return frame, parsed
        try:
            if isinstance(parsed, dict):
                parsed = mutant.request(parsed)
            elif isinstance(parsed, list):
                parsed = [mutant.request(p) if isinstance(p, dict) else p for p in parsed]
        except (TypeError, ValueError, AttributeError):
            return frame, parsed
        return json.dumps(parsed).encode(), parsed

    def rewrite_reply(reply: bytes | None, parsed_request: Any) -> bytes | None:
        if reply is None or mutant.reply is None:
            return reply
        answer = json.loads(reply)
        if isinstance(answer, dict):
            request = parsed_request if isinstance(parsed_request, dict) else None
            answer = mutant.reply(answer, request)
        elif isinstance(answer, list):
            by_id = {r.get("id"): r for r in parsed_request or [] if isinstance(r, dict)}
            answer = [mutant.reply(a, by_id.get(a.get("id"))) for a in answer]
        return json.dumps(answer).encode()

    async def mutated(frame: bytes, origin: Any) -> bytes | None:
        frame, parsed = rewrite_requests(frame)
        reply = rewrite_reply(await handler(frame, origin), parsed)
        if mutant.frame is not None:
            reply = mutant.frame(reply, frame)
        return reply

    return mutated


async def main(name: str, port: int) -> None:
    from agentlink.conformance import fixture_agent
    from agentlink.runtime import Runtime
    from agentlink.transport import HttpTransport

    mutant = MUTANTS.get(name)
    if mutant is not None and mutant.patch is not None:
        mutant.patch()
    transport = HttpTransport(host="127.0.0.1", port=port)
    async with Runtime(agents=[fixture_agent()], transport=transport) as runtime:
        if mutant is not None:
            handlers = transport.app.handlers
            handlers["fixture"] = _wrap(handlers["fixture"], mutant)
            if mutant.transport is not None:
                mutant.transport(transport, runtime)
        print(f"listening {transport.url}", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                return


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
