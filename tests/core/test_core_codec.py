from __future__ import annotations

import orjson
import pytest

from agentlink.core._codec import (
    Invalid,
    Notification,
    Request,
    Response,
    decode,
    encode_request,
    read_reply,
    reply_value,
)
from agentlink.model import (
    InvalidRequest,
    ParseError,
    PayloadTooLarge,
    RemoteProtocolError,
    ToolNotFound,
)

META = {"protocol": "agentlink/0.1", "message_id": "m-1"}


def test_request_round_trips_through_the_codec() -> None:
    frame = encode_request(7, "tools/call", {"_meta": META, "name": "echo"})
    decoded = decode(frame)
    assert not decoded.batch
    assert decoded.items == [Request(7, "tools/call", {"_meta": META, "name": "echo"})]


def test_notification_has_no_id() -> None:
    decoded = decode(encode_request(None, "events/publish", {"_meta": META}))
    assert decoded.items == [Notification("events/publish", {"_meta": META})]


@pytest.mark.parametrize(
    "frame",
    [b"{", b"", b"nul", b'{"a":1,}', b"\xff\xfe", b'"unterminated'],
)
def test_bytes_that_are_not_json_give_parse_error_with_null_id(frame: bytes) -> None:
    (item,) = decode(frame).items
    assert isinstance(item, Invalid)
    assert isinstance(item.error, ParseError)
    assert item.reply["id"] is None
    assert item.reply["error"]["code"] == -32700


@pytest.mark.parametrize(
    ("obj", "reply_id"),
    [
        (1, None),
        ("x", None),
        ({"jsonrpc": "1.0", "id": 1, "method": "agent/ping"}, 1),
        ({"id": 1, "method": "agent/ping"}, 1),
        ({"jsonrpc": "2.0", "id": 1, "method": ""}, 1),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, 1),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "agent/ping"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "agent/ping"}, None),
        ({"jsonrpc": "2.0", "id": None, "method": "agent/ping"}, None),
        ({"jsonrpc": "2.0", "id": [1], "method": "agent/ping"}, None),
        ({"jsonrpc": "2.0", "id": "a", "method": "agent/ping", "params": 3}, "a"),
        ({"jsonrpc": "2.0", "id": "a"}, "a"),
        ({"jsonrpc": "2.0", "id": "a", "result": 1, "error": {"code": 1, "message": ""}}, "a"),
    ],
)
def test_json_that_is_not_json_rpc_gives_invalid_request(obj: object, reply_id: object) -> None:
    (item,) = decode(orjson.dumps(obj)).items
    assert isinstance(item, Invalid)
    assert isinstance(item.error, InvalidRequest)
    assert item.reply["id"] == reply_id
    assert item.reply["error"]["code"] == -32600


def test_empty_batch_is_one_invalid_request() -> None:
    decoded = decode(b"[]")
    assert not decoded.batch
    (item,) = decoded.items
    assert isinstance(item, Invalid)
    assert item.error.code == -32600


def test_batch_members_are_classified_one_by_one() -> None:
    frame = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "params": {"_meta": META}},
            {"jsonrpc": "2.0", "method": "agent/ping", "params": {"_meta": META}},
            7,
            {"jsonrpc": "2.0", "id": 2, "result": {"ok": True}},
        ]
    )
    decoded = decode(frame)
    assert decoded.batch
    kinds = [type(item) for item in decoded.items]
    assert kinds == [Request, Notification, Invalid, Response]


def test_oversized_frame_is_refused_before_parsing() -> None:
    frame = b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"pad":"' + b"a" * 200 + b'"}}'
    (item,) = decode(frame, max_bytes=100).items
    assert isinstance(item, Invalid)
    assert isinstance(item.error, PayloadTooLarge)
    assert item.error.data == {"kind": "bytes", "limit": 100, "size": len(frame)}


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep = b"[" * 65 + b"]" * 65
    (item,) = decode(deep, max_depth=64).items
    assert isinstance(item, Invalid)
    assert item.error.code == -32025
    ok = decode(b"[" * 10 + b"]" * 10, max_depth=64)
    assert ok.batch


def test_nesting_past_the_json_parser_recursion_limit_is_refused_not_crashed() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    (item,) = decode(deep, max_bytes=1 << 20).items
    assert isinstance(item, Invalid)
    assert item.error.code == -32025


def test_error_reply_becomes_the_matching_exception() -> None:
    frame = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 3,
            "error": {"code": -32011, "message": "no tool 'x'", "data": {"name": "tool_not_found"}},
        }
    )
    response = read_reply(frame)
    with pytest.raises(ToolNotFound) as info:
        reply_value(response)
    assert info.value.message == "no tool 'x'"
    assert info.value.data == {}


def test_reply_that_is_not_a_response_is_a_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError):
        read_reply(b'{"jsonrpc":"2.0","id":1,"method":"agent/ping"}')
    with pytest.raises(RemoteProtocolError):
        read_reply(b"not json")
    with pytest.raises(RemoteProtocolError):
        read_reply(b'[{"jsonrpc":"2.0","id":1,"result":1}]')
