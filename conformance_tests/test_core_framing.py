"""Core profile, unit core-framing: JSON-RPC 2.0 frames, ids, responses, notifications,
unknown methods and params validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wire import METHOD_PROFILES, Target, check_error, in_seconds, pointers


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict(body: bytes) -> Any:
    """Parse a reply body as RFC 8259 JSON (no NaN or Infinity, UTF-8 only)."""
    return json.loads(body.decode("utf-8"), parse_constant=_no_constants)


def send(target: Target, frame: Any) -> Any:
    """POST a hand-built frame; the parsed reply body (None when there is none)."""
    reply = target.post(json.dumps(frame).encode())
    return strict(reply.body) if reply.body else None


def notification(target: Target, method: str, params: dict[str, Any] | None = None, **meta: Any):
    frame = target.frame(method, params, **meta)
    del frame["id"]
    return frame


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


# -- ALP-CORE-001: parse errors ------------------------------------------------------------

NOT_JSON = {
    "truncated": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "params": {',
    "trailing-garbage": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/ping"} x',
    "two-texts": b'{"jsonrpc": "2.0"} {"jsonrpc": "2.0"}',
    "empty": b"",
    "whitespace-only": b"  \r\n ",
    "single-quotes": b"{'jsonrpc': '2.0', 'id': 1, 'method': 'agent/ping'}",
    "unquoted-member": b'{jsonrpc: "2.0", "id": 1, "method": "agent/ping"}',
    "trailing-comma": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/ping",}',
    "nan-literal": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "params": {"x": NaN}}',
    "infinity-literal": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "x": Infinity}',
    "comment": b'{"jsonrpc": "2.0", /* c */ "id": 1, "method": "agent/ping"}',
    "invalid-utf8": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/\xff\xfeping"}',
    "overlong-utf8": b'{"jsonrpc": "2.0", "id": 1, "method": "\xc0\xaf"}',
    "latin1": '{"jsonrpc": "2.0", "id": 1, "method": "agent/pïng"}'.encode("latin-1"),
    "utf16": '{"jsonrpc": "2.0", "id": 1, "method": "agent/ping"}'.encode("utf-16-le"),
    "control-char-in-string": b'{"jsonrpc": "2.0", "id": 1, "method": "agent/\x01ping"}',
}


@pytest.mark.req("ALP-CORE-001", "ALP-CORE-004", "ALP-CORE-005")
@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_frame_that_is_not_utf8_json_gets_one_parse_error_with_null_id(
    target: Target, body: bytes
) -> None:
    response = strict(target.post(body).body)
    assert isinstance(response, dict), f"expected one response object, got {response!r}"
    assert response.get("jsonrpc") == "2.0"
    assert response["id"] is None
    assert "result" not in response
    check_error(response["error"], "parse_error")


@pytest.mark.req("ALP-CORE-001")
def test_responses_are_rfc8259_json_even_for_unrepresentable_numbers(target: Target) -> None:
    """A sum that overflows a double has no JSON representation: whatever the receiver
    answers must still be one RFC 8259 JSON text (no ``Infinity``)."""
    frame = target.frame("tools/call", {"name": "add", "arguments": {"a": 1e308, "b": 1e308}})
    reply = target.post(json.dumps(frame).encode())
    response = strict(reply.body)
    assert response["id"] == frame["id"]


# -- ALP-CORE-002 / ALP-CORE-003 / ALP-CORE-004: invalid requests -------------------------


def _broken(target: Target, change: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    frame = target.frame("agent/ping")
    frame.update(change)
    for member in drop:
        del frame[member]
    return frame


INVALID_WITH_ID = {
    "jsonrpc-missing": ({}, ("jsonrpc",)),
    "jsonrpc-1.0": ({"jsonrpc": "1.0"}, ()),
    "jsonrpc-number": ({"jsonrpc": 2.0}, ()),
    "jsonrpc-null": ({"jsonrpc": None}, ()),
    "method-missing": ({}, ("method",)),
    "method-empty": ({"method": ""}, ()),
    "method-number": ({"method": 5}, ()),
    "method-null": ({"method": None}, ()),
    "method-object": ({"method": {"name": "agent/ping"}}, ()),
    "params-string": ({"params": "x"}, ()),
    "params-number": ({"params": 5}, ()),
    "params-true": ({"params": True}, ()),
    "params-null": ({"params": None}, ()),
}


@pytest.mark.req("ALP-CORE-002")
@pytest.mark.parametrize(
    ("change", "drop"), INVALID_WITH_ID.values(), ids=list(INVALID_WITH_ID.keys())
)
def test_an_invalid_json_rpc_request_gets_invalid_request(
    target: Target, change: dict[str, Any], drop: tuple[str, ...]
) -> None:
    response = send(target, _broken(target, change, drop))
    assert isinstance(response, dict), response
    assert "result" not in response
    check_error(response["error"], "invalid_request")


@pytest.mark.req("ALP-CORE-004")
@pytest.mark.parametrize(
    ("change", "drop"), INVALID_WITH_ID.values(), ids=list(INVALID_WITH_ID.keys())
)
def test_an_error_for_an_invalid_request_with_a_valid_id_carries_that_id(
    target: Target, change: dict[str, Any], drop: tuple[str, ...]
) -> None:
    frame = _broken(target, change, drop)
    response = send(target, frame)
    assert isinstance(response, dict), response
    assert "error" in response, response
    assert type(response["id"]) is type(frame["id"])
    assert response["id"] == frame["id"]


INVALID_ID = {
    "null": None,
    "fraction": 1.5,
    "negative-fraction": -0.25,
    "true": True,
    "false": False,
    "object": {"id": 1},
    "array": [1],
}


@pytest.mark.req("ALP-CORE-002", "ALP-CORE-003", "ALP-CORE-004")
@pytest.mark.parametrize("bad_id", INVALID_ID.values(), ids=INVALID_ID.keys())
def test_a_request_with_an_invalid_id_gets_invalid_request_with_null_id(
    target: Target, bad_id: Any
) -> None:
    frame = target.frame("agent/ping")
    frame["id"] = bad_id
    response = send(target, frame)
    assert isinstance(response, dict), response
    assert response["id"] is None
    check_error(response["error"], "invalid_request")


@pytest.mark.req("ALP-CORE-003")
def test_an_invalid_id_on_a_state_changing_call_executes_nothing(target: Target) -> None:
    before = actuations(target)
    for bad_id in (None, 2.5, True):
        frame = target.frame("tools/call", {"name": "stop", "arguments": {}})
        frame["id"] = bad_id
        check_error(send(target, frame)["error"], "invalid_request")
    assert actuations(target) == before


NOT_OBJECTS = {"number": b"5", "string": b'"agent/ping"', "null": b"null", "true": b"true"}


@pytest.mark.req("ALP-CORE-002", "ALP-CORE-004")
@pytest.mark.parametrize("body", NOT_OBJECTS.values(), ids=NOT_OBJECTS.keys())
def test_a_frame_that_is_not_an_object_gets_invalid_request_with_null_id(
    target: Target, body: bytes
) -> None:
    response = strict(target.post(body).body)
    assert isinstance(response, dict), response
    assert response["id"] is None
    check_error(response["error"], "invalid_request")


@pytest.mark.req("ALP-CORE-003", "ALP-CORE-007")
def test_the_suite_sends_integer_ids_and_never_reuses_one(target: Target) -> None:
    """Caller rules, checked on the suite's own client: ids are integers (never null, a
    fraction or a boolean) and no id repeats, neither across requests nor in a batch."""
    frames = [target.frame("agent/ping") for _ in range(500)]
    ids = [frame["id"] for frame in frames]
    assert all(type(i) is int for i in ids)
    assert len(set(ids)) == len(ids)
    retried = target.retry(frames[0])
    assert type(retried["id"]) is int
    assert retried["id"] not in ids


# -- ALP-CORE-004: ids echoed with the same type and value --------------------------------

ECHOED_IDS = {
    "int": 42,
    "zero": 0,
    "negative": -7,
    "int32-overflow": 2**31 + 5,
    "beyond-double-precision": 2**53 + 1,
    "numeric-string": "42",
    "empty-string": "",
    "unicode-string": "req-\u00e9\u2603-\U0001f680",
    "long-string": "x" * 1000,
}


@pytest.mark.req("ALP-CORE-004", "ALP-CORE-005")
@pytest.mark.parametrize("request_id", ECHOED_IDS.values(), ids=ECHOED_IDS.keys())
def test_a_response_carries_the_request_id_with_the_same_type_and_value(
    target: Target, request_id: Any
) -> None:
    frame = target.frame("agent/ping", id=request_id)
    response = send(target, frame)
    assert type(response["id"]) is type(request_id)
    assert response["id"] == request_id
    assert "result" in response
    assert "error" not in response


@pytest.mark.req("ALP-CORE-004")
@pytest.mark.parametrize("request_id", ["e-1", 99, ""], ids=["string", "int", "empty-string"])
def test_an_error_response_carries_the_request_id(target: Target, request_id: Any) -> None:
    for method, params in (
        ("no/such-method", {}),
        ("tools/call", {"name": 5}),
        ("tools/call", {"name": "echo", "arguments": {"text": 5}}),
    ):
        frame = target.frame(method, params, id=request_id)
        response = send(target, frame)
        assert "error" in response, response
        assert type(response["id"]) is type(request_id)
        assert response["id"] == request_id


# -- ALP-CORE-005: exactly one of result and error ----------------------------------------


@pytest.mark.req("ALP-CORE-005")
def test_every_response_has_exactly_one_of_result_and_error(target: Target) -> None:
    frames = [
        target.frame("agent/ping"),
        target.frame("tools/call", {"name": "echo", "arguments": {"text": "x"}}),
        target.frame("tools/call", {"name": "fail", "arguments": {}}),
        target.frame("no/such"),
        target.frame("tools/call", {"name": 5}),
        _broken(target, {"jsonrpc": "1.0"}),
    ]
    responses = [send(target, frame) for frame in frames]
    responses.append(strict(target.post(b"{").body))
    batch = send(target, [target.frame("agent/ping"), target.frame("no/such"), 7])
    responses.extend(batch if isinstance(batch, list) else [batch])
    for response in responses:
        assert isinstance(response, dict), response
        assert response.get("jsonrpc") == "2.0", response
        assert ("result" in response) != ("error" in response), response


# -- ALP-CORE-006: notifications ----------------------------------------------------------


def _notifications(target: Target) -> dict[str, dict[str, Any]]:
    bad_meta = notification(target, "agent/ping")
    bad_meta["params"]["_meta"]["message_id"] = ""
    no_meta = notification(target, "agent/ping")
    del no_meta["params"]["_meta"]
    return {
        "valid": notification(target, "agent/ping"),
        "unknown-method": notification(target, "no/such-method"),
        "bad-meta": bad_meta,
        "no-meta": no_meta,
        "invalid-params": notification(target, "tools/call", {"name": 5}),
        "unsupported-version": notification(target, "agent/ping", protocol="agentlink/9.9"),
        "expired-deadline": notification(target, "agent/ping", deadline=in_seconds(-5)),
        "other-receiver": notification(target, "agent/ping", receiver="someone-else"),
        "unknown-tool": notification(target, "tools/call", {"name": "no-such-tool"}),
        "failing-tool": notification(target, "tools/call", {"name": "fail", "arguments": {}}),
        "invalid-tool-input": notification(target, "tools/call", {"name": "echo"}),
    }


@pytest.mark.req("ALP-CORE-006")
@pytest.mark.parametrize(
    "case",
    [
        "valid",
        "unknown-method",
        "bad-meta",
        "no-meta",
        "invalid-params",
        "unsupported-version",
        "expired-deadline",
        "other-receiver",
        "unknown-tool",
        "failing-tool",
        "invalid-tool-input",
    ],
)
def test_a_notification_gets_no_response_at_all(target: Target, case: str) -> None:
    frame = _notifications(target)[case]
    reply = target.post(json.dumps(frame).encode())
    assert reply.body == b"", f"a notification was answered: {reply.body[:300]!r}"


# -- ALP-CORE-008: unknown methods ---------------------------------------------------------

UNKNOWN_METHODS = [
    "no/such-method",
    "Agent/Ping",
    "agent/ping/",
    " agent/ping",
    "agent.ping",
    "tools/Call",
    "rpc.discover",
    "x",
]


@pytest.mark.req("ALP-CORE-008")
@pytest.mark.parametrize("method", UNKNOWN_METHODS)
def test_an_unknown_method_gets_method_not_found_naming_it(target: Target, method: str) -> None:
    response = target.rpc(method)
    assert "result" not in response
    check_error(response["error"], "method_not_found", method=method)


# -- ALP-CORE-056: params validated against the method's params schema -------------------

INVALID_PARAMS = {
    "name-number": ("tools/call", {"name": 5}, ["/name"]),
    "name-pattern": ("tools/call", {"name": "no such tool"}, ["/name"]),
    "name-too-long": ("tools/call", {"name": "t" * 129}, ["/name"]),
    "arguments-string": ("tools/call", {"name": "echo", "arguments": "x"}, ["/arguments"]),
    "arguments-array": ("tools/call", {"name": "echo", "arguments": [1]}, ["/arguments"]),
    "name-and-arguments": ("tools/call", {"name": 5, "arguments": 5}, ["/name", "/arguments"]),
    "cursor-number": ("tools/list", {"cursor": 5}, ["/cursor"]),
    "cursor-empty": ("tools/list", {"cursor": ""}, ["/cursor"]),
    "task-id-number": ("tasks/get", {"task_id": 5}, ["/task_id"]),
    "wait-too-long": ("tasks/subscribe", {"task_id": "t", "wait_ms": 60001}, ["/wait_ms"]),
    "after-seq-negative": ("tasks/subscribe", {"task_id": "t", "after_seq": -1}, ["/after_seq"]),
    "topics-empty": ("events/subscribe", {"topics": []}, ["/topics"]),
}


@pytest.mark.req("ALP-CORE-056")
@pytest.mark.parametrize(
    ("method", "params", "expected"), INVALID_PARAMS.values(), ids=INVALID_PARAMS.keys()
)
def test_params_that_break_the_params_schema_get_invalid_params_pointing_at_each_member(
    target: Target, method: str, params: dict[str, Any], expected: list[str]
) -> None:
    details = check_error(target.error(method, params), "invalid_params")
    found = pointers(details)
    for pointer in expected:
        assert pointer in found, f"no entry for {pointer!r} in {details['errors']!r}"


MISSING_REQUIRED = {
    "tools/call-name": ("tools/call", {}, ""),
    "tasks/get-task_id": ("tasks/get", {}, ""),
    "message/send-message": ("message/send", {}, ""),
    "_meta-protocol": ("agent/ping", {"_meta": {"message_id": "m-1"}}, "/_meta"),
    "_meta-message_id": ("agent/ping", {"_meta": {"protocol": "agentlink/0.1"}}, "/_meta"),
}


@pytest.mark.req("ALP-CORE-056")
@pytest.mark.parametrize(
    ("method", "params", "expected"), MISSING_REQUIRED.values(), ids=MISSING_REQUIRED.keys()
)
def test_a_missing_required_member_is_reported_at_the_object_that_lacks_it(
    target: Target, method: str, params: dict[str, Any], expected: str
) -> None:
    """Pointers are JSON Schema instance locations: a missing required member is reported at
    the object that lacks it (``""`` is ``params`` itself)."""
    target.require(METHOD_PROFILES[method])
    frame = target.frame(method)
    frame["params"] = {**frame["params"], **params}
    response = send(target, frame)
    details = check_error(response["error"], "invalid_params")
    assert expected in pointers(details), details


@pytest.mark.req("ALP-CORE-056")
def test_invalid_params_execute_nothing(target: Target) -> None:
    before = actuations(target)
    for params in (
        {"name": "stop", "arguments": "now"},
        {"name": "stop", "arguments": []},
        {"name": "stop", "arguments": None},
        {"name": ["stop"]},
    ):
        check_error(target.error("tools/call", params), "invalid_params")
    assert actuations(target) == before
