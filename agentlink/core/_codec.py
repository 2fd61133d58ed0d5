"""JSON-RPC 2.0 codec: bytes in, classified messages out; replies and requests to bytes.

The rules (protocol/SPEC.md, area CORE):

- A frame is one UTF-8 JSON value: an object (one message) or a non-empty array (a batch).
- A frame larger than ``max_bytes`` or nested deeper than ``max_depth`` is refused with
  ``payload_too_large`` before any member is looked at.
- Bytes that are not JSON give ``parse_error``; JSON that is not a JSON-RPC message gives
  ``invalid_request``; both are answered with ``id: null``.
- An object with ``method`` is a request (with ``id``) or a notification (without); an
  object with ``result`` or ``error`` and no ``method`` is a response.
- ``params`` must be an object carrying ``_meta``; that is checked by :func:`check_meta`,
  not here, so that an unknown method is reported before a bad envelope.

This module is the hot path of every call: plain dicts and hand-written checks, no pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from agentlink.model import (
    InvalidRequest,
    ParseError,
    PayloadTooLarge,
    RemoteProtocolError,
    RpcError,
    UsageError,
    error_from_wire,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "Decoded",
    "Invalid",
    "Notification",
    "Request",
    "Response",
    "decode",
    "dumps",
    "encode_error",
    "encode_request",
    "encode_result",
    "error_reply",
    "read_reply",
    "reply_value",
    "result_reply",
]

DEFAULT_MAX_BYTES: Final = 1 << 20
DEFAULT_MAX_DEPTH: Final = 64

dumps = orjson.dumps


@dataclass(slots=True)
class Request:
    """A call that expects a reply."""

    id: str | int
    method: str
    params: Any


@dataclass(slots=True)
class Notification:
    """A call without an id: it gets no reply, not even an error."""

    method: str
    params: Any


@dataclass(slots=True)
class Response:
    """A reply: exactly one of ``result`` (``error`` is None) or ``error`` (a wire dict)."""

    id: str | int | None
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass(slots=True)
class Invalid:
    """A member of a frame that is not a valid message; ``reply`` answers it."""

    error: RpcError
    id: str | int | None = None

    @property
    def reply(self) -> dict[str, Any]:
        return error_reply(self.id, self.error)


Item = Request | Notification | Response | Invalid


@dataclass(slots=True)
class Decoded:
    """The messages of one frame, and whether they came as a batch."""

    items: list[Item]
    batch: bool


def _valid_id(value: object) -> bool:
    return type(value) is str or type(value) is int


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if type(node) is dict:
            stack.extend((child, depth + 1) for child in node.values())
        elif type(node) is list:
            stack.extend((child, depth + 1) for child in node)
    return False


def classify(obj: Any) -> Item:
    """Classify one parsed JSON value as a request, notification, response or invalid."""
    if type(obj) is not dict:
        return Invalid(InvalidRequest("a JSON-RPC message must be a JSON object"))
    raw_id = obj.get("id")
    reply_id = raw_id if _valid_id(raw_id) else None
    if obj.get("jsonrpc") != "2.0":
        return Invalid(InvalidRequest('"jsonrpc" must be exactly "2.0"'), reply_id)
    if "method" in obj:
        method = obj["method"]
        if type(method) is not str or not method:
            return Invalid(InvalidRequest('"method" must be a non-empty string'), reply_id)
        params = obj.get("params")
        if "params" in obj and type(params) is not dict and type(params) is not list:
            return Invalid(InvalidRequest('"params" must be an object or an array'), reply_id)
        if "id" not in obj:
            return Notification(method, params)
        if reply_id is None:
            return Invalid(InvalidRequest('"id" must be a string or an integer'))
        return Request(reply_id, method, params)
    has_result = "result" in obj
    has_error = "error" in obj
    if has_result == has_error:
        return Invalid(
            InvalidRequest('a message needs "method", or exactly one of "result" and "error"'),
            reply_id,
        )
    if "id" not in obj or (raw_id is not None and reply_id is None):
        return Invalid(InvalidRequest('a response "id" must be a string, an integer or null'))
    if has_result:
        return Response(reply_id, obj["result"])
    error = obj["error"]
    if (
        type(error) is not dict
        or type(error.get("code")) is not int
        or type(error.get("message")) is not str
    ):
        return Invalid(InvalidRequest('"error" needs an integer "code" and a string "message"'))
    return Response(reply_id, None, error)


def decode(
    frame: bytes | bytearray | memoryview | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Decoded:
    """Parse one frame into its messages. Never raises for bad input: problems become
    :class:`Invalid` items whose ``reply`` is the documented error."""
    size = len(frame.encode("utf-8")) if isinstance(frame, str) else len(frame)
    if size > max_bytes:
        return Decoded(
            [
                Invalid(
                    PayloadTooLarge(
                        f"frame of {size} bytes exceeds the limit of {max_bytes} bytes",
                        data={"kind": "bytes", "limit": max_bytes, "size": size},
                    )
                )
            ],
            False,
        )
    raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            return Decoded([Invalid(_too_deep(max_depth))], False)
        return Decoded([Invalid(ParseError(f"not valid UTF-8 JSON: {exc}"))], False)
    # Cheap pre-check: a frame with fewer brackets than the limit cannot nest that deep.
    if (
        len(raw) > 2 * max_depth
        and raw.count(b"{") + raw.count(b"[") > max_depth
        and _depth_exceeds(obj, max_depth)
    ):
        return Decoded([Invalid(_too_deep(max_depth))], False)
    if type(obj) is list:
        if not obj:
            return Decoded([Invalid(InvalidRequest("a batch must not be empty"))], False)
        return Decoded([classify(member) for member in obj], True)
    return Decoded([classify(obj)], False)


def _too_deep(max_depth: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"frame nests deeper than {max_depth} levels", data={"kind": "depth", "limit": max_depth}
    )


def result_reply(request_id: str | int | None, result: Any) -> dict[str, Any]:
    """The success reply to a request."""
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_reply(request_id: str | int | None, error: RpcError) -> dict[str, Any]:
    """The error reply to a request (``id`` is null when it could not be read)."""
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_wire()}


def encode_result(request_id: str | int | None, result: Any) -> bytes:
    """Bytes of a success reply."""
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def encode_error(request_id: str | int | None, error: RpcError) -> bytes:
    """Bytes of an error reply."""
    return orjson.dumps(error_reply(request_id, error))


def encode_request(request_id: str | int | None, method: str, params: dict[str, Any]) -> bytes:
    """Bytes of a request, or of a notification when ``request_id`` is None."""
    if not method:
        raise UsageError("method must be a non-empty string")
    if request_id is None:
        return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def read_reply(
    frame: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Response:
    """Parse the reply to one request on the client side.

    Raises:
        RemoteProtocolError: the frame is not a single JSON-RPC response.
    """
    decoded = decode(frame, max_bytes=max_bytes, max_depth=max_depth)
    item = decoded.items[0]
    if decoded.batch or not isinstance(item, Response):
        detail = item.error.message if isinstance(item, Invalid) else "not a single response"
        raise RemoteProtocolError(f"malformed reply: {detail}")
    return item


def reply_value(response: Response) -> Any:
    """The result of a response, or its error raised as the matching exception."""
    if response.error is not None:
        raise error_from_wire(response.error)
    return response.result
