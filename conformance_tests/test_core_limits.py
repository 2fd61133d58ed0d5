"""Core profile, unit core-limits: frame size and nesting depth limits.

The fixture's limits are fixed by the spec: frames up to exactly 1 MiB, nesting depth up to
exactly 64."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wire import Target, check_error

MIB = 1_048_576
FIXTURE_DEPTH_LIMIT = 64


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def nested(depth: int) -> Any:
    """A JSON array value of nesting depth ``depth`` (``[]`` is depth 1)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def frame_of_depth(target: Target, depth: int, method: str = "agent/ping", **params: Any):
    """A request whose whole frame has nesting depth ``depth`` (an ignored params member
    ``x`` carries the nesting: frame 1, params 2, ``x`` 3 and on)."""
    frame = target.frame(method, {**params, "x": nested(depth - 2)})
    assert depth_of(frame) == depth
    return frame


def echo_frame_of_size(target: Target, size: int) -> tuple[bytes, str]:
    """An ``echo`` request of exactly ``size`` bytes, and its text."""
    frame = target.frame("tools/call", {"name": "echo", "arguments": {"text": ""}})
    overhead = len(json.dumps(frame).encode())
    text = "a" * (size - overhead)
    frame["params"]["arguments"]["text"] = text
    body = json.dumps(frame).encode()
    assert len(body) == size
    return body, text


def response_of(target: Target, body: bytes) -> dict[str, Any]:
    reply = target.post(body)
    response: dict[str, Any] = json.loads(reply.body)
    return response


@pytest.mark.req("ALP-CORE-016")
def test_a_frame_of_exactly_1_mib_is_accepted(target: Target) -> None:
    body, text = echo_frame_of_size(target, MIB)
    response = response_of(target, body)
    assert "error" not in response, response.get("error")
    assert response["result"]["output"]["text"] == text


@pytest.mark.req("ALP-CORE-016")
def test_a_batch_totalling_almost_1_mib_is_accepted(target: Target) -> None:
    text = "b" * (MIB // 4 - 400)
    batch = [
        target.frame("tools/call", {"name": "echo", "arguments": {"text": text}}, id=f"big-{i}")
        for i in range(4)
    ]
    body = json.dumps(batch).encode()
    assert len(body) <= MIB
    responses = json.loads(target.post(body).body)
    assert isinstance(responses, list), f"the batch was refused: {responses}"
    for response in responses:
        assert response["id"] in {f"big-{i}" for i in range(4)}
        assert response["result"]["output"]["text"] == text


@pytest.mark.req("ALP-CORE-017")
@pytest.mark.parametrize("excess", [1, 4096, MIB], ids=["one-byte", "4-KiB", "1-MiB"])
def test_a_frame_over_the_size_limit_gets_payload_too_large_and_runs_nothing(
    target: Target, excess: int
) -> None:
    before = actuations(target)
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}, "pad": ""})
    overhead = len(json.dumps(frame).encode())
    frame["params"]["pad"] = "p" * (MIB + excess - overhead)
    body = json.dumps(frame).encode()
    assert len(body) == MIB + excess
    response = response_of(target, body)
    assert response["id"] is None
    assert "result" not in response
    details = check_error(response["error"], "payload_too_large", kind="bytes", limit=MIB)
    assert details["limit"] <= 16 * MIB
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-017")
def test_the_size_limit_applies_before_json_syntax(target: Target) -> None:
    response = response_of(target, b"{" * (MIB + 10))
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="bytes", limit=MIB)


@pytest.mark.req("ALP-CORE-017")
def test_a_batch_over_the_size_limit_is_refused_whole(target: Target) -> None:
    before = actuations(target)
    stop = target.frame("tools/call", {"name": "stop", "arguments": {}})
    pad = target.frame("agent/ping", {"pad": "p" * MIB})
    response = response_of(target, json.dumps([stop, pad]).encode())
    assert isinstance(response, dict), "an oversized batch gets one response, not an array"
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="bytes", limit=MIB)
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-018")
@pytest.mark.parametrize("depth", [3, 16, 31, 32])
def test_frames_nested_up_to_depth_32_are_accepted(target: Target, depth: int) -> None:
    response = response_of(target, json.dumps(frame_of_depth(target, depth)).encode())
    assert "error" not in response, response.get("error")
    assert response["result"]["ok"] is True


@pytest.mark.req("ALP-CORE-018")
def test_a_batch_nested_to_depth_32_is_accepted(target: Target) -> None:
    element = target.frame("agent/ping", {"x": nested(29)}, id="deep")
    batch = [element]
    assert depth_of(batch) == 32
    responses = json.loads(target.post(json.dumps(batch).encode()).body)
    assert isinstance(responses, list), responses
    assert responses[0]["id"] == "deep"
    assert responses[0]["result"]["ok"] is True


@pytest.mark.req("ALP-CORE-019")
def test_the_fixture_accepts_exactly_its_depth_limit(target: Target) -> None:
    frame = frame_of_depth(target, FIXTURE_DEPTH_LIMIT)
    response = response_of(target, json.dumps(frame).encode())
    assert "error" not in response, response.get("error")


@pytest.mark.req("ALP-CORE-019")
@pytest.mark.parametrize("depth", [FIXTURE_DEPTH_LIMIT + 1, 257, 300])
def test_a_frame_nested_too_deep_gets_payload_too_large_and_runs_nothing(
    target: Target, depth: int
) -> None:
    before = actuations(target)
    frame = frame_of_depth(target, depth, "tools/call", name="stop", arguments={})
    response = response_of(target, json.dumps(frame).encode())
    assert response["id"] is None
    assert "result" not in response
    details = check_error(
        response["error"], "payload_too_large", kind="depth", limit=FIXTURE_DEPTH_LIMIT
    )
    assert details["limit"] <= 256
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-019")
def test_a_frame_far_deeper_than_any_allowed_limit_gets_payload_too_large(target: Target) -> None:
    frame = target.frame("agent/ping", {"x": 0})
    head, tail = json.dumps(frame).split('"x": 0')
    levels = 500  # far beyond the largest depth limit allowed (256)
    body = (head + '"x": ' + "[" * levels + "]" * levels + tail).encode()
    response = response_of(target, body)
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="depth", limit=FIXTURE_DEPTH_LIMIT)
    assert target.result("agent/ping")["ok"] is True


@pytest.mark.req("ALP-CORE-019")
def test_nesting_in_objects_counts_like_nesting_in_arrays(target: Target) -> None:
    value: Any = {}
    for _ in range(FIXTURE_DEPTH_LIMIT - 2):
        value = {"k": value}
    frame = target.frame("agent/ping", {"x": value})
    assert depth_of(frame) == FIXTURE_DEPTH_LIMIT + 1
    response = response_of(target, json.dumps(frame).encode())
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="depth", limit=FIXTURE_DEPTH_LIMIT)


@pytest.mark.req("ALP-CORE-019")
def test_a_too_deep_batch_element_refuses_the_whole_batch(target: Target) -> None:
    before = actuations(target)
    stop = target.frame("tools/call", {"name": "stop", "arguments": {}})
    deep = target.frame("agent/ping", {"x": nested(FIXTURE_DEPTH_LIMIT)})
    batch = [stop, deep]
    assert depth_of(batch) > FIXTURE_DEPTH_LIMIT
    response = json.loads(target.post(json.dumps(batch).encode()).body)
    assert isinstance(response, dict), "a too-deep batch gets one response, not an array"
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="depth", limit=FIXTURE_DEPTH_LIMIT)
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-019")
def test_the_depth_limit_applies_before_request_structure(target: Target) -> None:
    frame = frame_of_depth(target, FIXTURE_DEPTH_LIMIT + 1)
    frame["jsonrpc"] = "1.0"
    frame["id"] = 1.5
    response = response_of(target, json.dumps(frame).encode())
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="depth", limit=FIXTURE_DEPTH_LIMIT)
