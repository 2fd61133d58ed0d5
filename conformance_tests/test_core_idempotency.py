"""Core profile, unit core-idempotency: replay of a remembered request, conflicting reuse of
a key, keys not used up by refused requests, retention, the caller's retries.

Every test uses its own sender and fresh keys, so the scopes of different tests never meet.
``stop`` counts its executions (``actuation_count``), which makes executing twice visible."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from wire import Target, check_error


def key() -> str:
    return f"idem-{uuid.uuid4().hex}"


@pytest.fixture
def caller(target: Target) -> Iterator[Target]:
    """A client with a sender of its own (idempotency scopes include the sender)."""
    client = Target(target.url, sender=f"idem-{uuid.uuid4().hex[:16]}")
    client.claimed, client.tools = target.claimed, target.tools
    yield client
    client.close()


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def send(target: Target, frame: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = json.loads(target.post(json.dumps(frame).encode()).body)
    assert response["id"] == frame["id"]
    return response


def stop_frame(client: Target, idempotency_key: str) -> dict[str, Any]:
    return client.frame(
        "tools/call", {"name": "stop", "arguments": {}}, idempotency_key=idempotency_key
    )


# -- ALP-CORE-043 / ALP-CORE-044: a repeated request is answered from memory ---------------


@pytest.mark.req("ALP-CORE-043", "ALP-CORE-044")
def test_a_repeated_call_runs_once_and_gets_the_same_result(caller: Target) -> None:
    k = key()
    before = actuations(caller)
    first = send(caller, stop_frame(caller, k))
    assert first.get("result") == {"output": {"stopped": True}}, first
    for _ in range(3):
        again = send(caller, caller.retry(stop_frame(caller, k)))
        assert again["result"] == first["result"]
    assert actuations(caller) == before + 1


@pytest.mark.req("ALP-CORE-044")
def test_the_digest_ignores_member_order_and_whitespace(caller: Target) -> None:
    k = key()
    before = actuations(caller)
    first = send(caller, stop_frame(caller, k))
    meta = json.dumps(caller.meta(idempotency_key=k))
    body = (
        '{ "params" : {\n  "arguments" : { } ,\t"_meta": ' + meta + ',  "name":"stop" },'
        ' "method": "tools/call", "id": "reordered", "jsonrpc": "2.0" }'
    ).encode()
    again = json.loads(caller.post(body).body)
    assert again["id"] == "reordered"
    assert again.get("result") == first["result"]
    assert actuations(caller) == before + 1


@pytest.mark.req("ALP-CORE-044")
def test_a_repeated_failure_gets_the_same_error(caller: Target) -> None:
    k = key()
    params = {"name": "fail", "arguments": {"attempt": 1}}
    first = caller.rpc("tools/call", params, idempotency_key=k)
    first.pop("id")
    for _ in range(2):
        again = caller.rpc("tools/call", params, idempotency_key=k)
        again.pop("id")
        assert again == first


@pytest.mark.req("ALP-CORE-044")
def test_a_repeated_publish_appends_one_event(caller: Target) -> None:
    caller.require("events")
    k = key()
    params = {"topic": "fixture.ticks", "data": {"n": uuid.uuid4().int % 10**9}}
    first = caller.result("events/publish", params, idempotency_key=k)
    again = caller.result("events/publish", params, idempotency_key=k)
    assert again == first
    after = caller.result("events/publish", {"topic": "fixture.ticks", "data": {"n": 1}})
    assert after["event"]["seq"] == first["event"]["seq"] + 1


@pytest.mark.req("ALP-CORE-044")
def test_a_repeat_of_a_request_still_running_waits_for_its_response(caller: Target) -> None:
    k = key()
    params = {"name": "slow", "arguments": {"ms": 500}}

    def call(delay: float) -> tuple[dict[str, Any], float]:
        time.sleep(delay)
        client = Target(caller.url, sender=caller.sender)
        try:
            response = client.rpc("tools/call", params, idempotency_key=k)
            return response, time.monotonic()
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(call, 0.0)
        second = pool.submit(call, 0.15)
        (r1, t1), (r2, t2) = first.result(), second.result()
    assert r1.get("result") == {"output": {"slept_ms": 500}}, r1
    assert r2.get("result") == r1["result"]
    assert t2 >= t1 - 0.05, "the repeat was answered before the first request finished"


@pytest.mark.req("ALP-CORE-043", "ALP-CORE-044")
def test_the_scope_includes_the_sender(caller: Target) -> None:
    k = key()
    before = actuations(caller)
    send(caller, stop_frame(caller, k))
    other = Target(caller.url, sender=f"{caller.sender}-b")
    try:
        response = send(other, stop_frame(other, k))
    finally:
        other.close()
    assert response.get("result") == {"output": {"stopped": True}}, response
    assert actuations(caller) == before + 2


@pytest.mark.req("ALP-CORE-043", "ALP-CORE-045")
def test_the_scope_includes_the_method(caller: Target) -> None:
    caller.require("events")
    k = key()
    caller.result("tools/call", {"name": "echo", "arguments": {"text": "a"}}, idempotency_key=k)
    params = {"topic": "fixture.ticks", "data": {"n": 3}}
    published = caller.rpc("events/publish", params, idempotency_key=k)
    assert "error" not in published, published["error"]


# -- ALP-CORE-045: the same key for different params ---------------------------------------


@pytest.mark.req("ALP-CORE-045")
def test_a_key_reused_with_other_params_gets_duplicate(caller: Target) -> None:
    k = key()
    call = {"name": "echo", "arguments": {"text": "first"}}
    assert caller.result("tools/call", call, idempotency_key=k) == {"output": {"text": "first"}}
    other = {"name": "echo", "arguments": {"text": "second"}}
    error = caller.error("tools/call", other, idempotency_key=k)
    check_error(error, "duplicate", idempotency_key=k)


@pytest.mark.req("ALP-CORE-045")
def test_a_duplicate_is_not_executed(caller: Target) -> None:
    k = key()
    caller.result("tools/call", {"name": "actuation_count", "arguments": {}}, idempotency_key=k)
    before = actuations(caller)
    response = send(caller, stop_frame(caller, k))
    check_error(response.get("error"), "duplicate", idempotency_key=k)
    assert actuations(caller) == before


@pytest.mark.req("ALP-CORE-045")
def test_an_added_member_changes_the_digest(caller: Target) -> None:
    k = key()
    caller.result("tools/call", {"name": "echo", "arguments": {"text": "x"}}, idempotency_key=k)
    params = {"name": "echo", "arguments": {"text": "x"}, "x-note": "different"}
    check_error(caller.error("tools/call", params, idempotency_key=k), "duplicate")


# -- ALP-CORE-046: refused requests do not use up their key --------------------------------


@pytest.mark.req("ALP-CORE-046")
@pytest.mark.parametrize(
    "refused",
    [
        {"name": "stop", "arguments": "now"},
        {"name": "stop", "arguments": [1]},
        {"name": 5, "arguments": {}},
    ],
    ids=["arguments-string", "arguments-array", "name-number"],
)
def test_a_request_refused_before_execution_does_not_use_up_its_key(
    caller: Target, refused: dict[str, Any]
) -> None:
    k = key()
    check_error(caller.error("tools/call", refused, idempotency_key=k), "invalid_params")
    before = actuations(caller)
    response = send(caller, stop_frame(caller, k))
    assert response.get("result") == {"output": {"stopped": True}}, response
    assert actuations(caller) == before + 1
    again = send(caller, caller.retry(stop_frame(caller, k)))
    assert again.get("result") == response["result"]
    assert actuations(caller) == before + 1


# -- ALP-CORE-047: retention ---------------------------------------------------------------


@pytest.mark.req("ALP-CORE-047")
def test_a_key_is_still_remembered_after_a_pause(caller: Target) -> None:
    """Retention of at least 600 s cannot be waited for in a fast suite: this checks that a
    key outlives the exchange (a repeat after a pause is still answered from memory)."""
    k = key()
    before = actuations(caller)
    first = send(caller, stop_frame(caller, k))
    time.sleep(1.0)
    again = send(caller, caller.retry(stop_frame(caller, k)))
    assert again.get("result") == first.get("result")
    assert actuations(caller) == before + 1


# -- ALP-CORE-049: the caller's retries ----------------------------------------------------


@pytest.mark.req("ALP-CORE-049")
def test_the_suite_retries_with_the_same_key_and_params(target: Target) -> None:
    """Caller rule, checked on the suite's own client: a retry repeats the idempotency key
    and the params exactly, with a fresh message id."""
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}}, idempotency_key=key())
    retry = target.retry(frame)

    def without_message(f: dict[str, Any]) -> dict[str, Any]:
        params = json.loads(json.dumps(f["params"]))
        for member in ("message_id", "sent_at"):
            params["_meta"].pop(member, None)
        return params

    assert without_message(retry) == without_message(frame)
    assert (
        retry["params"]["_meta"]["idempotency_key"] == frame["params"]["_meta"]["idempotency_key"]
    )
    assert retry["params"]["_meta"]["message_id"] != frame["params"]["_meta"]["message_id"]
    assert retry["method"] == frame["method"]
