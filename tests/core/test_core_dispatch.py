from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentlink.core._codec import encode_request, read_reply, reply_value
from agentlink.core._dispatch import Call, Dispatcher
from agentlink.model import (
    ERROR_CLASSES,
    DeadlineExceeded,
    InvalidParams,
    MethodNotFound,
    ToolCallParams,
    ToolNotFound,
    VersionUnsupported,
)
from tests.helpers import run_sync

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
META = {"protocol": "agentlink/0.1", "message_id": "m-1", "sender": "planner-1"}
Drive = Callable[[Any], Any]


def make_dispatcher() -> tuple[Dispatcher, list[Call]]:
    seen: list[Call] = []
    dispatcher = Dispatcher()

    async def ping(call: Call) -> dict[str, Any]:
        seen.append(call)
        return {"ok": True, "time": "2027-01-15T08:00:00Z"}

    async def call_tool(call: Call) -> dict[str, Any]:
        seen.append(call)
        params = call.model
        assert isinstance(params, ToolCallParams)
        if params.name != "echo":
            raise ToolNotFound(f"no tool {params.name!r}", data={"tool": params.name})
        return {"output": params.arguments}

    async def explode(call: Call) -> None:
        seen.append(call)
        raise ZeroDivisionError("boom")

    async def not_json(call: Call) -> object:
        return object()

    dispatcher.add("agent/ping", ping)
    dispatcher.add("tools/call", call_tool, params_model=ToolCallParams)
    dispatcher.add("x-test/explode", explode)
    dispatcher.add("x-test/not-json", not_json)
    return dispatcher, seen


def roundtrip(drive: Drive, dispatcher: Dispatcher, method: str, params: Any, **kw: Any) -> Any:
    frame = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    reply = drive(dispatcher.handle(frame, now=kw.pop("now", NOW), **kw))
    assert reply is not None
    return reply_value(read_reply(reply))


def test_two_engines_back_to_back_call_a_tool(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    result = roundtrip(
        drive, dispatcher, "tools/call", {"_meta": META, "name": "echo", "arguments": {"x": 1}}
    )
    assert result == {"output": {"x": 1}}
    assert seen[0].sender == "planner-1"
    assert seen[0].deadline is None


def test_handler_rpc_error_reaches_caller_as_same_class(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    with pytest.raises(ToolNotFound) as info:
        roundtrip(drive, dispatcher, "tools/call", {"_meta": META, "name": "nope"})
    assert info.value.data == {"tool": "nope"}


def test_unknown_method_is_method_not_found(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    with pytest.raises(MethodNotFound):
        roundtrip(drive, dispatcher, "tools/frobnicate", {"_meta": META})
    assert seen == []


def test_missing_meta_is_invalid_params_and_handler_never_runs(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    with pytest.raises(InvalidParams) as info:
        roundtrip(drive, dispatcher, "agent/ping", {})
    assert info.value.data["errors"][0]["pointer"] == ""  # reported at the params object
    with pytest.raises(InvalidParams):
        roundtrip(drive, dispatcher, "agent/ping", [1, 2])
    assert seen == []


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("message_id", ""),
        ("message_id", 5),
        ("sender", "has space"),
        ("deadline", "tomorrow"),
        ("deadline", "2027-01-15T08:00:00Z\n"),
        ("traceparent", "00-abc"),
        ("idempotency_key", "k" * 257),
        ("sent_at", 1700000000),
    ],
)
def test_bad_meta_member_is_invalid_params_with_pointer(
    drive: Drive, member: str, value: object
) -> None:
    dispatcher, seen = make_dispatcher()
    with pytest.raises(InvalidParams) as info:
        roundtrip(drive, dispatcher, "agent/ping", {"_meta": {**META, member: value}})
    assert info.value.data["errors"][0]["pointer"] == f"/_meta/{member}"
    assert seen == []


def test_unsupported_version_lists_the_supported_ones(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    with pytest.raises(VersionUnsupported) as info:
        roundtrip(drive, dispatcher, "agent/ping", {"_meta": {**META, "protocol": "agentlink/9.0"}})
    assert info.value.data["supported"] == ["agentlink/0.1"]


def test_expired_deadline_is_refused_before_the_handler(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    meta = {**META, "deadline": "2027-01-15T07:59:59.999Z"}
    with pytest.raises(DeadlineExceeded):
        roundtrip(drive, dispatcher, "agent/ping", {"_meta": meta})
    assert seen == []
    meta = {**META, "deadline": "2027-01-15T08:00:01Z"}
    roundtrip(drive, dispatcher, "agent/ping", {"_meta": meta})
    assert seen[0].deadline == NOW + 1


def test_params_model_errors_list_each_pointer(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    with pytest.raises(InvalidParams) as info:
        roundtrip(drive, dispatcher, "tools/call", {"_meta": META, "name": 5, "arguments": []})
    pointers = {e["pointer"] for e in info.value.data["errors"]}
    assert pointers == {"/name", "/arguments"}
    assert seen == []


def test_handler_crash_is_internal_error_and_dispatcher_keeps_serving(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    for _ in range(2):
        frame = encode_request(9, "x-test/explode", {"_meta": META})
        reply = orjson.loads(drive(dispatcher.handle(frame, now=NOW)))
        assert reply["id"] == 9
        assert reply["error"]["code"] == -32603
        assert reply["error"]["data"] == {"name": "internal_error"}
        assert reply["error"]["message"] == "internal error: ZeroDivisionError"
    assert roundtrip(drive, dispatcher, "agent/ping", {"_meta": META})["ok"] is True


def test_result_that_is_not_json_is_internal_error(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    reply = orjson.loads(
        drive(dispatcher.handle(encode_request(4, "x-test/not-json", {"_meta": META}), now=NOW))
    )
    assert reply["id"] == 4
    assert reply["error"]["code"] == -32603


def test_notification_gets_no_reply_even_when_it_fails(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    assert (
        drive(dispatcher.handle(encode_request(None, "agent/ping", {"_meta": META}), now=NOW))
        is None
    )
    assert len(seen) == 1
    assert drive(dispatcher.handle(encode_request(None, "nope", {"_meta": META}), now=NOW)) is None
    assert (
        drive(dispatcher.handle(encode_request(None, "x-test/explode", {"_meta": META}), now=NOW))
        is None
    )


def test_batch_answers_each_request_and_skips_notifications(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    frame = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": "a", "method": "agent/ping", "params": {"_meta": META}},
            {"jsonrpc": "2.0", "method": "agent/ping", "params": {"_meta": META}},
            {"jsonrpc": "2.0", "id": "b", "method": "nope", "params": {"_meta": META}},
            {"foo": "bar"},
        ]
    )
    replies = orjson.loads(drive(dispatcher.handle(frame, now=NOW)))
    assert [r["id"] for r in replies] == ["a", "b", None]
    assert "result" in replies[0]
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["error"]["code"] == -32600


def test_batch_of_only_notifications_gets_no_reply(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    frame = orjson.dumps(
        [{"jsonrpc": "2.0", "method": "agent/ping", "params": {"_meta": META}}] * 3
    )
    assert drive(dispatcher.handle(frame, now=NOW)) is None
    assert len(seen) == 3


def test_batch_over_the_limit_is_refused_whole(drive: Drive) -> None:
    dispatcher, seen = make_dispatcher()
    dispatcher.max_batch = 2
    frame = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": i, "method": "agent/ping", "params": {"_meta": META}}
            for i in range(3)
        ]
    )
    reply = orjson.loads(drive(dispatcher.handle(frame, now=NOW)))
    assert reply["id"] is None
    assert reply["error"]["code"] == -32025
    assert seen == []


def test_responses_sent_to_a_server_are_ignored(drive: Drive) -> None:
    dispatcher, _ = make_dispatcher()
    assert drive(dispatcher.handle(b'{"jsonrpc":"2.0","id":1,"result":{}}', now=NOW)) is None


DOCUMENTED_CODES = set(ERROR_CLASSES)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]) | json_values,
        "id": st.integers(-5, 5) | st.text(max_size=4) | json_values,
        "method": st.sampled_from(["agent/ping", "tools/call", "x-test/explode", "nope"])
        | json_values,
        "params": st.fixed_dictionaries(
            {},
            optional={
                "_meta": st.fixed_dictionaries(
                    {},
                    optional={
                        "protocol": st.sampled_from(["agentlink/0.1", "agentlink/0.2"])
                        | json_values,
                        "message_id": st.text(max_size=3) | json_values,
                        "deadline": st.sampled_from(
                            ["2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"]
                        )
                        | json_values,
                    },
                ),
                "name": st.sampled_from(["echo", "x"]) | json_values,
                "arguments": json_values,
            },
        )
        | json_values,
        "result": json_values,
        "error": json_values,
    },
)


def check_reply(reply: Any) -> None:
    assert isinstance(reply, dict)
    assert reply["jsonrpc"] == "2.0"
    assert ("result" in reply) != ("error" in reply)
    assert reply["id"] is None or type(reply["id"]) in (str, int)
    if "error" in reply:
        assert reply["error"]["code"] in DOCUMENTED_CODES
        assert isinstance(reply["error"]["message"], str)
        assert reply["error"]["data"]["name"] == ERROR_CLASSES[reply["error"]["code"]].name


@settings(max_examples=400, deadline=None)
@given(st.one_of(messages, st.lists(messages, max_size=5)))
def test_random_frames_always_get_a_valid_reply_or_none(frame_obj: Any) -> None:
    dispatcher, _ = make_dispatcher()
    reply = run_sync(dispatcher.handle(orjson.dumps(frame_obj), now=NOW))
    if reply is None:
        return
    parsed = orjson.loads(reply)
    for one in parsed if isinstance(parsed, list) else [parsed]:
        check_reply(one)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_random_bytes_never_crash_the_dispatcher(frame: bytes) -> None:
    dispatcher, _ = make_dispatcher()
    reply = run_sync(dispatcher.handle(frame, now=NOW))
    if reply is not None:
        parsed = orjson.loads(reply)
        for one in parsed if isinstance(parsed, list) else [parsed]:
            check_reply(one)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_frames_never_crash(data: st.DataObject) -> None:
    base = encode_request(1, "tools/call", {"_meta": META, "name": "echo", "arguments": {"t": "x"}})
    index = data.draw(st.integers(0, len(base) - 1))
    op = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    byte = data.draw(st.integers(0, 255))
    if op == "flip":
        frame = base[:index] + bytes([byte]) + base[index + 1 :]
    elif op == "drop":
        frame = base[:index] + base[index + 1 :]
    else:
        frame = base[:index] + bytes([byte]) + base[index:]
    dispatcher, _ = make_dispatcher()
    reply = run_sync(dispatcher.handle(frame, now=NOW))
    if reply is not None:
        parsed = orjson.loads(reply)
        for one in parsed if isinstance(parsed, list) else [parsed]:
            check_reply(one)
