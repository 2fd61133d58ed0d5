"""Core profile, unit core-errors: error codes and names, reserved ranges, the order in which
faults are reported, no side effect before execution, overload."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from wire import ERRORS, Target, check_error, in_seconds

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
TABLE_CODES = {code: name for name, (code, _) in ERRORS.items()}
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', '.py", line', "\n  at ")


def post(target: Target, body: bytes) -> Any:
    return json.loads(target.post(body).body)


def raw(frame: Any) -> bytes:
    return json.dumps(frame).encode()


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def publish_seq(target: Target) -> int:
    """Append one event to the target's log and return its ``seq``."""
    result = target.result(
        "events/publish", {"topic": "fixture.ticks", "data": {"n": uuid.uuid4().int % 10**9}}
    )
    return int(result["event"]["seq"])


def _with_meta(target: Target, method: str, params: dict[str, Any] | None = None, **meta: Any):
    return target.frame(method, params, **meta)


# -- ALP-CORE-029: each condition of the table gets its code, name and data members -------


def _conditions(target: Target) -> dict[str, tuple[bytes, str, dict[str, Any]]]:
    deadline = in_seconds(-3)
    bad_jsonrpc = target.frame("agent/ping")
    bad_jsonrpc["jsonrpc"] = "1.0"
    no_meta = target.frame("agent/ping")
    del no_meta["params"]["_meta"]
    return {
        "parse_error": (b'{"jsonrpc": "2.0", "id": 1,', "parse_error", {}),
        "invalid_request": (raw(bad_jsonrpc), "invalid_request", {}),
        "method_not_found": (
            raw(target.frame("no/such-method")),
            "method_not_found",
            {"method": "no/such-method"},
        ),
        "invalid_params": (raw(no_meta), "invalid_params", {}),
        "version_unsupported": (
            raw(target.frame("agent/ping", protocol="agentlink/8.8")),
            "version_unsupported",
            {"requested": "agentlink/8.8"},
        ),
        "deadline_exceeded": (
            raw(target.frame("agent/ping", deadline=deadline)),
            "deadline_exceeded",
            {"started": False},
        ),
        "payload_too_large-depth": (
            raw(target.frame("agent/ping", {"x": nested(80)})),
            "payload_too_large",
            {"kind": "depth"},
        ),
        "payload_too_large-batch": (
            raw([target.frame("agent/ping") for _ in range(65)]),
            "payload_too_large",
            {"kind": "batch"},
        ),
    }


@pytest.mark.req("ALP-CORE-029")
@pytest.mark.parametrize(
    "condition",
    [
        "parse_error",
        "invalid_request",
        "method_not_found",
        "invalid_params",
        "version_unsupported",
        "deadline_exceeded",
        "payload_too_large-depth",
        "payload_too_large-batch",
    ],
)
def test_each_condition_gets_its_code_name_and_data_members(target: Target, condition: str) -> None:
    body, name, data = _conditions(target)[condition]
    response = post(target, body)
    assert isinstance(response, dict), response
    details = check_error(response["error"], name, **data)
    if name == "payload_too_large":
        assert type(details["limit"]) is int
    if name == "version_unsupported":
        assert all(isinstance(v, str) for v in details["supported"])
    if name == "deadline_exceeded":
        assert isinstance(details["deadline"], str)
    if name == "invalid_params" and "errors" in details:
        assert isinstance(details["errors"], list)


@pytest.mark.req("ALP-CORE-029")
def test_error_objects_have_an_integer_code_and_a_message(target: Target) -> None:
    for body in (b"[1]", b"{", raw(target.frame("no/such")), raw(target.frame("tools/call"))):
        response = post(target, body)
        for item in response if isinstance(response, list) else [response]:
            error = item["error"]
            assert type(error["code"]) is int
            assert isinstance(error["message"], str)
            assert error["message"] != ""
            assert isinstance(error["data"], dict)


# -- ALP-CORE-030 / ALP-CORE-034: a sweep of faulty requests -------------------------------


def _sweep(target: Target) -> list[dict[str, Any]]:
    """The error objects a wide range of faulty requests produce."""
    frames: list[bytes] = [
        b"{",
        b"[]",
        b"5",
        b"[1, 2]",
        raw({"jsonrpc": "1.0", "id": 1, "method": "agent/ping"}),
        raw({"jsonrpc": "2.0", "id": 1.5, "method": "agent/ping"}),
        raw(_with_meta(target, "no/such-method")),
        raw({"jsonrpc": "2.0", "id": 2, "method": "agent/ping", "params": []}),
        raw(_with_meta(target, "agent/ping", message_id="")),
        raw(_with_meta(target, "agent/ping", protocol="agentlink/5.5")),
        raw(_with_meta(target, "agent/ping", receiver="someone-else")),
        raw(_with_meta(target, "agent/ping", deadline=in_seconds(-10))),
        raw(_with_meta(target, "tools/call", {"name": 5})),
        raw(_with_meta(target, "tools/call", {"name": "no-such-tool"})),
        raw(_with_meta(target, "tools/call", {"name": "echo", "arguments": {}})),
        raw(_with_meta(target, "tools/call", {"name": "fail", "arguments": {}})),
        raw(_with_meta(target, "tools/list", {"cursor": "not-a-cursor"})),
        raw(_with_meta(target, "tasks/get", {"task_id": "no-such-task"})),
        raw(_with_meta(target, "tasks/cancel", {"task_id": "no-such-task"})),
        raw(_with_meta(target, "tasks/input", {"task_id": "no-such-task", "input": {}})),
        raw(_with_meta(target, "events/publish", {"topic": "fixture.ticks", "data": {}})),
        raw(_with_meta(target, "events/subscribe", {"topics": ["a..b"]})),
        raw(_with_meta(target, "message/send", {"message": {"performative": "shout"}})),
        raw(_with_meta(target, "agent/ping", {"x": nested(100)})),
        raw([_with_meta(target, "agent/ping") for _ in range(65)]),
        raw([_with_meta(target, "no/such"), 7, {"jsonrpc": "2.0", "id": "x"}]),
    ]
    errors: list[dict[str, Any]] = []
    for body in frames:
        response = post(target, body)
        for item in response if isinstance(response, list) else [response]:
            if isinstance(item, dict) and "error" in item:
                errors.append(item["error"])
    assert len(errors) >= 20
    return errors


@pytest.mark.req("ALP-CORE-030")
def test_reserved_error_codes_come_only_from_the_table_and_names_are_snake_case(
    target: Target,
) -> None:
    for error in _sweep(target):
        code = error["code"]
        assert type(code) is int, error
        if -32099 <= code <= -32000 or -32768 <= code <= -32600:
            assert code in TABLE_CODES, f"reserved code {code} is not in the error table: {error}"
        details = error.get("data")
        assert isinstance(details, dict), error
        assert isinstance(details.get("name"), str), error
        assert SNAKE.match(details["name"]), f"data.name is not snake_case: {error}"


@pytest.mark.req("ALP-CORE-034")
def test_error_messages_and_data_carry_no_stack_traces(target: Target) -> None:
    for error in _sweep(target):
        text = json.dumps(error)
        for marker in TRACE_MARKERS:
            assert marker not in text, f"error looks like a stack trace: {text[:500]}"


@dataclass
class Canned(Target):
    """A client whose every request gets one canned response (no network)."""

    response: dict[str, Any] = field(default_factory=dict)

    def rpc(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> Any:
        return self.response


@pytest.mark.req("ALP-CORE-031")
def test_the_suite_never_treats_an_error_as_success() -> None:
    """Caller rule, checked on the suite's own client: an error response with a code it does
    not know (or any code) fails the request; it is never taken as a result."""
    for code in (-31999, -32099, 42, -32014):
        error = {"code": code, "message": "m", "data": {"name": "x_unknown"}}
        client = Canned("http://127.0.0.1:9", response={"jsonrpc": "2.0", "id": 1, "error": error})
        with pytest.raises(AssertionError):
            client.result("agent/ping")
        assert client.error("agent/ping") == error


# -- ALP-CORE-032: the order in which faults are reported ---------------------------------


def _order_cases(target: Target) -> dict[str, tuple[Callable[[], Any], str, dict[str, Any]]]:
    past = in_seconds(-5)

    def deep_invalid_json() -> Any:
        return post(target, b"[" * 100 + b"{")

    def deep_element_in_big_batch() -> Any:
        batch = [target.frame("agent/ping") for _ in range(64)]
        batch.append(target.frame("agent/ping", {"x": nested(80)}))
        return post(target, raw(batch))

    def big_batch_of_invalid_elements() -> Any:
        return post(target, raw([5] * 65))

    def bad_jsonrpc_and_no_meta() -> Any:
        frame = target.frame("agent/ping")
        frame["jsonrpc"] = "1.0"
        del frame["params"]["_meta"]
        return post(target, raw(frame))

    def frame(method: str, params: dict[str, Any] | None = None, **meta: Any) -> Callable:
        return lambda: post(target, raw(target.frame(method, params, **meta)))

    return {
        "syntax-before-depth": (deep_invalid_json, "parse_error", {}),
        "depth-before-batch-size": (
            deep_element_in_big_batch,
            "payload_too_large",
            {"kind": "depth"},
        ),
        "batch-size-before-structure": (
            big_batch_of_invalid_elements,
            "payload_too_large",
            {"kind": "batch"},
        ),
        "structure-before-meta": (bad_jsonrpc_and_no_meta, "invalid_request", {}),
        "meta-presence-before-version": (
            frame("agent/ping", protocol="agentlink/9.1", message_id=None),
            "invalid_params",
            {},
        ),
        "version-before-other-meta-members": (
            frame("agent/ping", protocol="agentlink/9.1", sender="-bad"),
            "version_unsupported",
            {"requested": "agentlink/9.1"},
        ),
        "version-before-method": (
            frame("no/such-method", protocol="agentlink/9.1"),
            "version_unsupported",
            {"requested": "agentlink/9.1"},
        ),
        "meta-before-method": (
            frame("no/such-method", message_id=""),
            "invalid_params",
            {},
        ),
        "method-before-deadline": (
            frame("no/such-method", deadline=past),
            "method_not_found",
            {"method": "no/such-method"},
        ),
        "deadline-before-params": (
            frame("tools/call", {"name": 5}, deadline=past),
            "deadline_exceeded",
            {"started": False},
        ),
        "deadline-before-receiver": (
            frame("agent/ping", deadline=past, receiver="someone-else"),
            "deadline_exceeded",
            {"started": False},
        ),
        "params-before-receiver": (
            frame("tools/call", {"name": "echo", "arguments": 5}, receiver="someone-else"),
            "invalid_params",
            {},
        ),
        "params-before-tool-checks": (
            frame("tools/call", {"name": "no-such-tool", "arguments": 5}),
            "invalid_params",
            {},
        ),
    }


ORDER_CASES = [
    "syntax-before-depth",
    "depth-before-batch-size",
    "batch-size-before-structure",
    "structure-before-meta",
    "meta-presence-before-version",
    "version-before-other-meta-members",
    "version-before-method",
    "meta-before-method",
    "method-before-deadline",
    "deadline-before-params",
    "deadline-before-receiver",
    "params-before-receiver",
    "params-before-tool-checks",
]


@pytest.mark.req("ALP-CORE-032")
@pytest.mark.parametrize("case", ORDER_CASES)
def test_the_first_fault_in_the_spec_order_is_reported(target: Target, case: str) -> None:
    send, name, data = _order_cases(target)[case]
    response = send()
    assert isinstance(response, dict), f"expected one response object, got {response!r}"
    check_error(response["error"], name, **data)


# -- ALP-CORE-033: errors before execution leave no side effect ---------------------------


@pytest.mark.req("ALP-CORE-033")
def test_errors_before_execution_leave_no_actuation(target: Target) -> None:
    before = actuations(target)
    stop = {"name": "stop", "arguments": {}}
    faults = [
        target.call("stop", {}, message_id=""),
        target.call("stop", {}, protocol="agentlink/4.2"),
        target.call("stop", {}, deadline=in_seconds(-2)),
        target.call("stop", {}, sender="-bad"),
        target.rpc("tools/call", {**stop, "arguments": "go"}),
        target.call("stop", {"force": True}),
    ]
    for response in faults:
        assert "error" in response, response
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-033")
def test_errors_before_execution_append_no_event(target: Target) -> None:
    first = publish_seq(target)
    params = {"topic": "fixture.ticks", "data": {"n": 1}}
    faults = [
        target.rpc("events/publish", params, message_id=""),
        target.rpc("events/publish", params, protocol="agentlink/4.2"),
        target.rpc("events/publish", params, deadline=in_seconds(-2)),
        target.rpc("events/publish", {**params, "topic": 5}),
    ]
    for response in faults:
        assert "error" in response, response
    assert publish_seq(target) == first + 1


# -- ALP-CORE-035: overload -----------------------------------------------------------------


@pytest.mark.req("ALP-CORE-035")
def test_overloaded_answers_carry_the_code_and_an_optional_retry_hint(target: Target) -> None:
    """Where the target sheds load, ``overloaded`` has its code and name, an integer
    ``retry_after_ms`` when present, and the request was not executed (``stop`` counts)."""

    def burst(_: int) -> list[dict[str, Any]]:
        client = Target(target.url, sender=target.sender)
        try:
            return [client.call("stop", {}) for _ in range(5)]
        finally:
            client.close()

    before = actuations(target)
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = [r for batch in pool.map(burst, range(16)) for r in batch]
    executed = actuations(target) - before
    shed = [r["error"] for r in responses if r.get("error", {}).get("code") == -32026]
    if not shed:
        pytest.skip("the target did not shed load under a burst of 80 calls")
    for error in shed:
        details = check_error(error, "overloaded")
        if "retry_after_ms" in details:
            assert type(details["retry_after_ms"]) is int
            assert details["retry_after_ms"] >= 0
    assert executed == len(responses) - len(shed)
