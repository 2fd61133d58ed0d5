"""The call every group makes: an ``echo`` tool over a ~200-byte JSON request.

The same arguments, schemas and handler serve every subject, so that figures differ only
by what carries the call: agentlink on a binding, the floor, or another SDK.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from pydantic import BaseModel

__all__ = [
    "ARGUMENTS",
    "ECHO_SCHEMA",
    "EchoArgs",
    "EchoReply",
    "EchoRequest",
    "echo",
    "floor_reply",
    "floor_request",
]

#: The tool's arguments (and its output: echo returns them).
ARGUMENTS: Final[dict[str, Any]] = {
    "text": "spindle 7: vibration within limits, coolant flow nominal",
    "seq": 4217,
    "unit": "MMS",
    "values": [2.81, 2.79, 2.84, 2.9],
}

#: JSON Schema of the arguments and of the output (the same object comes back).
ECHO_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "maxLength": 1000},
        "seq": {"type": "integer", "minimum": 0},
        "unit": {"type": "string", "pattern": "^[A-Z0-9]{1,3}$"},
        "values": {"type": "array", "items": {"type": "number"}, "maxItems": 64},
    },
    "required": ["text", "seq", "unit", "values"],
    "additionalProperties": False,
}


async def echo(text: str, seq: int, unit: str, values: list[float]) -> dict[str, Any]:
    """Return the arguments unchanged."""
    return {"text": text, "seq": seq, "unit": unit, "values": values}


def floor_request(request_id: int) -> bytes:
    """The floor's JSON-RPC request frame (about 200 bytes)."""
    return orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": ARGUMENTS},
        }
    )


def floor_reply(request_id: Any, output: Any) -> bytes:
    """The floor's JSON-RPC reply frame."""
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"output": output}})


class EchoArgs(BaseModel):
    text: str
    seq: int
    unit: str
    values: list[float]


class _Params(BaseModel):
    name: str
    arguments: EchoArgs


class EchoRequest(BaseModel):
    """The floor's request, as a pydantic model (the second anchor)."""

    jsonrpc: str = "2.0"
    id: int
    method: str
    params: _Params


class _Result(BaseModel):
    output: EchoArgs


class EchoReply(BaseModel):
    """The floor's reply, as a pydantic model."""

    jsonrpc: str = "2.0"
    id: int
    result: _Result
