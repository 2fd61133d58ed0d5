"""Core profile, unit core-batch: empty, mixed and notification-only batches, batch size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wire import Target, check_error

FIXTURE_BATCH_LIMIT = 64  # "Conformance fixture agent", Limits


def send(target: Target, frame: Any) -> Any:
    reply = target.post(json.dumps(frame).encode())
    return json.loads(reply.body) if reply.body else None


def notification(target: Target, method: str, params: dict[str, Any] | None = None):
    frame = target.frame(method, params)
    del frame["id"]
    return frame


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def by_id(responses: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {}
    for response in responses:
        assert isinstance(response, dict), response
        assert response.get("id") not in found, f"two responses for id {response.get('id')!r}"
        found[response.get("id")] = response
    return found


@pytest.mark.req("ALP-CORE-010")
@pytest.mark.parametrize("body", [b"[]", b" [ ] ", b"[\n]"], ids=["compact", "spaced", "newline"])
def test_an_empty_batch_gets_one_invalid_request_object_not_an_array(
    target: Target, body: bytes
) -> None:
    response = json.loads(target.post(body).body)
    assert isinstance(response, dict), f"expected a single response object, got {response!r}"
    assert response["id"] is None
    check_error(response["error"], "invalid_request")


@pytest.mark.req("ALP-CORE-011")
def test_a_mixed_batch_gets_one_response_per_request_and_per_invalid_element(
    target: Target,
) -> None:
    ping = target.frame("agent/ping", id="b-ping")
    echo = target.frame("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, id="b-echo")
    unknown = target.frame("no/such-method", id="b-unknown")
    no_method = {"jsonrpc": "2.0", "id": "b-no-method"}
    bad_id = target.frame("agent/ping")
    bad_id["id"] = 1.5
    batch = [
        ping,
        notification(target, "agent/ping"),
        5,
        echo,
        {"foo": 1},
        notification(target, "no/such-method"),
        unknown,
        no_method,
        notification(target, "tools/call", {"name": "fail", "arguments": {}}),
        bad_id,
        "text",
    ]
    responses = send(target, batch)
    assert isinstance(responses, list), responses
    nulls = [r for r in responses if r.get("id") is None]
    others = by_id([r for r in responses if r.get("id") is not None])
    assert set(others) == {"b-ping", "b-echo", "b-unknown", "b-no-method"}
    assert len(nulls) == 4, f"expected 4 id-null invalid_request responses, got {nulls!r}"
    for response in nulls:
        check_error(response["error"], "invalid_request")
    assert others["b-ping"]["result"]["ok"] is True
    assert others["b-echo"]["result"] == {"output": {"text": "hi"}}
    check_error(others["b-unknown"]["error"], "method_not_found", method="no/such-method")
    check_error(others["b-no-method"]["error"], "invalid_request")


@pytest.mark.req("ALP-CORE-011")
def test_a_batch_of_one_request_gets_an_array_of_one(target: Target) -> None:
    frame = target.frame("agent/ping", id="single")
    responses = send(target, [frame])
    assert isinstance(responses, list), responses
    assert len(responses) == 1
    assert responses[0]["id"] == "single"
    assert responses[0]["result"]["ok"] is True


@pytest.mark.req("ALP-CORE-012")
def test_a_batch_of_only_notifications_gets_no_reply(target: Target) -> None:
    batch = [
        notification(target, "agent/ping"),
        notification(target, "tools/call", {"name": "echo", "arguments": {"text": "n"}}),
        notification(target, "tools/call", {"name": "fail", "arguments": {}}),
        notification(target, "no/such-method"),
    ]
    reply = target.post(json.dumps(batch).encode())
    assert reply.body == b"", f"a notification-only batch was answered: {reply.body[:300]!r}"


@pytest.mark.req("ALP-CORE-013")
def test_batch_responses_are_matched_by_id_in_any_order(target: Target) -> None:
    """The receiver may answer in any order: the suite matches by id only, and every
    request's response is there exactly once."""
    batch = [
        target.frame("tools/call", {"name": "slow", "arguments": {"ms": 150}}, id="o-slow"),
        target.frame("agent/ping", id="o-ping"),
        target.frame("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, id="o-add"),
    ]
    responses = by_id(send(target, batch))
    assert set(responses) == {"o-slow", "o-ping", "o-add"}
    assert responses["o-slow"]["result"] == {"output": {"slept_ms": 150}}
    assert responses["o-add"]["result"] == {"output": {"sum": 3}}


@pytest.mark.req("ALP-CORE-014")
def test_a_batch_of_64_requests_is_accepted_whole(target: Target) -> None:
    batch = [
        target.frame("tools/call", {"name": "echo", "arguments": {"text": f"e{i}"}}, id=f"e{i}")
        for i in range(64)
    ]
    responses = send(target, batch)
    assert isinstance(responses, list), responses
    assert len(responses) == 64
    matched = by_id(responses)
    for i in range(64):
        assert matched[f"e{i}"]["result"] == {"output": {"text": f"e{i}"}}


@pytest.mark.req("ALP-CORE-015")
def test_a_batch_over_the_limit_is_refused_whole_and_nothing_runs(target: Target) -> None:
    before = actuations(target)
    batch = [
        target.frame("tools/call", {"name": "stop", "arguments": {}})
        for _ in range(FIXTURE_BATCH_LIMIT + 1)
    ]
    response = send(target, batch)
    assert isinstance(response, dict), "a refused batch is one response, not an array"
    assert response["id"] is None
    check_error(response["error"], "payload_too_large", kind="batch", limit=FIXTURE_BATCH_LIMIT)
    assert actuations(target) == before
