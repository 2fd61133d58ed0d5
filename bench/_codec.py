"""Codec and validation cost per message, and where an in-process call spends its time.

Each agentlink step is timed beside the raw operation it wraps: decoding beside
``orjson.loads``, encoding beside ``orjson.dumps`` of the same object, validation against
the echo tool's JSON Schema beside jsonschema-rs called directly (with the pure-Python
reference validator and a pydantic model as anchors). The frames are the ones a
``peer.call("echo", ...)`` sends and receives.

The anatomy figures split a whole in-process call: the caller's side (``Peer.request``:
``_meta``, encoding, reading the reply) with the transport replaced by a canned reply, and
the callee's side (``AgentServer.handle_frame``: decoding, ``_meta`` checks, dispatch,
both validations, the echo, encoding). Handlers that never wait are driven synchronously,
so each is timed in a tight loop.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import jsonschema_rs
import orjson
from pydantic import TypeAdapter

from ._measure import time_ops
from ._payload import ARGUMENTS, ECHO_SCHEMA, EchoArgs, echo, floor_reply, floor_request
from ._report import Group
from ._serve import echo_agent
from ._settings import Settings

__all__ = ["codec"]


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the coroutine suspended; it cannot be timed synchronously")


async def codec(group: Group, settings: Settings) -> None:
    from agentlink.core._codec import decode, encode_request, encode_result, read_reply
    from agentlink.core._validator import SchemaValidator, reference_validator
    from agentlink.model import PROTOCOL_VERSION
    from agentlink.runtime import Runtime
    from agentlink.runtime._peer import Peer
    from agentlink.transport import Origin

    meta = {
        "protocol": PROTOCOL_VERSION,
        "message_id": "4f1c2a9e07-1",
        "receiver": "echo",
        "sender": "caller",
    }
    params = {"name": "echo", "arguments": ARGUMENTS, "_meta": meta}
    request = {"jsonrpc": "2.0", "id": "4f1c2a9e07-1", "method": "tools/call", "params": params}
    frame = orjson.dumps(request)
    result = {"output": ARGUMENTS}
    reply = encode_result("4f1c2a9e07-1", result)
    compiled = jsonschema_rs.validator_for(ECHO_SCHEMA)
    validator = SchemaValidator(ECHO_SCHEMA)
    reference = reference_validator(ECHO_SCHEMA)
    adapter = TypeAdapter(EchoArgs)

    async with Runtime(agents=[echo_agent()]) as runtime:
        server = runtime.servers["echo"]
        origin = Origin("memory")

        async def canned(address: str, sent: bytes, timeout: float | None) -> bytes:
            return encode_result(orjson.loads(sent)["id"], result)

        peer = Peer("echo", sender="caller", send=canned)
        floor_frame = floor_request(1)

        def floor_server() -> bytes:
            incoming = orjson.loads(floor_frame)
            output = _run(echo(**incoming["params"]["arguments"]))
            return floor_reply(incoming["id"], output)

        floor_reply_frame = floor_reply(1, ARGUMENTS)

        def floor_client() -> Any:
            orjson.dumps(request)
            return orjson.loads(floor_reply_frame)["result"]["output"]

        assert orjson.loads(_run(server.handle_frame(frame, origin)))["result"] == result
        assert _run(peer.call("echo", ARGUMENTS)) == ARGUMENTS
        ops = {
            "orjson.loads request": lambda: orjson.loads(frame),
            "decode request": lambda: decode(frame),
            "orjson.dumps request": lambda: orjson.dumps(request),
            "encode request": lambda: encode_request("4f1c2a9e07-1", "tools/call", params),
            "orjson.dumps reply": lambda: orjson.dumps(
                {"jsonrpc": "2.0", "id": "4f1c2a9e07-1", "result": result}
            ),
            "encode reply": lambda: encode_result("4f1c2a9e07-1", result),
            "orjson.loads reply": lambda: orjson.loads(reply),
            "read reply": lambda: read_reply(reply),
            "jsonschema-rs is_valid": lambda: compiled.is_valid(ARGUMENTS),
            "validate (agentlink)": lambda: validator.errors(ARGUMENTS),
            "validate (jsonschema reference)": lambda: reference.is_valid(ARGUMENTS),
            "validate (pydantic model)": lambda: adapter.validate_python(ARGUMENTS),
            "floor client side": floor_client,
            "client side (Peer.call)": lambda: _run(peer.call("echo", ARGUMENTS)),
            "floor server side": floor_server,
            "server side (handle_frame)": lambda: _run(server.handle_frame(frame, origin)),
        }
        ns = time_ops(ops, seconds=settings.micro_seconds, repeats=settings.micro_repeats)
    floors = {
        "decode request": "orjson.loads request",
        "encode request": "orjson.dumps request",
        "encode reply": "orjson.dumps reply",
        "read reply": "orjson.loads reply",
        "validate (agentlink)": "jsonschema-rs is_valid",
        "validate (jsonschema reference)": "jsonschema-rs is_valid",
        "validate (pydantic model)": "jsonschema-rs is_valid",
        "client side (Peer.call)": "floor client side",
        "server side (handle_frame)": "floor server side",
    }
    for name, value in ns.items():
        group.add(name, value, "ns/msg", better="lower", floor=floors.get(name))
    group.note = f"request frame {len(frame)} bytes, reply frame {len(reply)} bytes"
