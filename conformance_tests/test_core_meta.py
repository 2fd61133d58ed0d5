"""Core profile, unit core-meta: the ``_meta`` envelope (presence, validity, message ids,
receiver, sender) and credentials never echoed."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from wire import PROTOCOL, Target, check_error

TIMESTAMP = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def send(target: Target, frame: Any) -> Any:
    reply = target.post(json.dumps(frame).encode())
    return json.loads(reply.body) if reply.body else None


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def stop_with_params(target: Target, params: Any, *, drop_params: bool = False) -> dict[str, Any]:
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}})
    if drop_params:
        del frame["params"]
    else:
        frame["params"] = params
    response: dict[str, Any] = send(target, frame)
    assert response["id"] == frame["id"]
    return response


# -- ALP-CORE-009: params absent, an array, or without a valid _meta ----------------------


@pytest.mark.req("ALP-CORE-009")
def test_a_request_without_params_gets_invalid_params(target: Target) -> None:
    before = actuations(target)
    response = stop_with_params(target, None, drop_params=True)
    check_error(response["error"], "invalid_params")
    frame = target.frame("agent/ping")
    del frame["params"]
    check_error(send(target, frame)["error"], "invalid_params")
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-009")
@pytest.mark.parametrize(
    "params",
    [[], ["stop", {}], [{"name": "stop", "arguments": {}}]],
    ids=["empty", "positional", "object-in-array"],
)
def test_params_given_as_an_array_get_invalid_params(target: Target, params: list[Any]) -> None:
    before = actuations(target)
    check_error(stop_with_params(target, params)["error"], "invalid_params")
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-009")
@pytest.mark.parametrize(
    "meta",
    ["absent", None, "agentlink/0.1", 1, [], ["agentlink/0.1", "m-1"], True],
    ids=["absent", "null", "string", "number", "empty-array", "array", "true"],
)
def test_params_without_a_valid_meta_object_get_invalid_params(target: Target, meta: Any) -> None:
    before = actuations(target)
    params: dict[str, Any] = {"name": "stop", "arguments": {}}
    if meta != "absent":
        params["_meta"] = meta
    check_error(stop_with_params(target, params)["error"], "invalid_params")
    assert actuations(target) == before


# -- ALP-CORE-020: _meta validates against meta.json --------------------------------------

INVALID_META = {
    "protocol-missing": {"protocol": None},
    "message_id-missing": {"message_id": None},
    "message_id-empty": {"message_id": ""},
    "message_id-too-long": {"message_id": "m" * 257},
    "message_id-number": {"message_id": 5},
    "sender-leading-dash": {"sender": "-planner"},
    "sender-space": {"sender": "plan ner"},
    "sender-empty": {"sender": ""},
    "sender-too-long": {"sender": "s" * 129},
    "sender-number": {"sender": 7},
    "receiver-slash": {"receiver": "fixture/1"},
    "conversation_id-empty": {"conversation_id": ""},
    "conversation_id-too-long": {"conversation_id": "c" * 257},
    "in_reply_to-empty": {"in_reply_to": ""},
    "sent_at-words": {"sent_at": "yesterday"},
    "deadline-date-only": {"deadline": "2030-01-01"},
    "deadline-no-offset": {"deadline": "2030-01-01T00:00:00"},
    "deadline-epoch": {"deadline": 1900000000},
    "deadline-bad-month": {"deadline": "2030-13-01T00:00:00Z"},
    "idempotency_key-empty": {"idempotency_key": ""},
    "idempotency_key-too-long": {"idempotency_key": "k" * 257},
    "idempotency_key-number": {"idempotency_key": 12},
    "traceparent-garbage": {"traceparent": "00-xyz"},
    "traceparent-upper-hex": {"traceparent": "00-" + "A" * 32 + "-" + "B" * 16 + "-01"},
    "traceparent-short-span": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 15 + "-01"},
    "auth-empty": {"auth": ""},
    "auth-too-long": {"auth": "t" * 16385},
}


@pytest.mark.req("ALP-CORE-020")
@pytest.mark.parametrize("change", INVALID_META.values(), ids=INVALID_META.keys())
def test_an_invalid_meta_gets_invalid_params_and_executes_nothing(
    target: Target, change: dict[str, Any]
) -> None:
    before = actuations(target)
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}})
    meta = frame["params"]["_meta"]
    for member, value in change.items():
        if value is None:
            del meta[member]
        else:
            meta[member] = value
    response = send(target, frame)
    assert response["id"] == frame["id"]
    check_error(response["error"], "invalid_params")
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-020")
def test_null_optional_meta_members_count_as_absent(target: Target) -> None:
    frame = target.frame("agent/ping")
    frame["params"]["_meta"].update(
        sender=None,
        receiver=None,
        conversation_id=None,
        in_reply_to=None,
        sent_at=None,
        deadline=None,
        idempotency_key=None,
        traceparent=None,
        auth=None,
    )
    response = send(target, frame)
    assert "error" not in response, response.get("error")
    assert response["result"]["ok"] is True


@pytest.mark.req("ALP-CORE-020")
def test_a_minimal_meta_is_enough(target: Target) -> None:
    frame = target.frame("tools/call", {"name": "echo", "arguments": {"text": "min"}})
    frame["params"]["_meta"] = {"protocol": PROTOCOL, "message_id": f"m-{uuid.uuid4().hex}"}
    response = send(target, frame)
    assert response.get("result") == {"output": {"text": "min"}}, response


@pytest.mark.req("ALP-CORE-020")
def test_valid_meta_member_values_at_their_bounds_are_accepted(target: Target) -> None:
    frame = target.frame("agent/ping")
    frame["params"]["_meta"].update(
        message_id="m" * 256,
        sender="A" + "b" * 127,
        conversation_id="c" * 256,
        in_reply_to="r" * 256,
        sent_at="2026-03-01t08:00:00.123456789+01:00",
        deadline="2999-12-31T23:59:59z",
        idempotency_key=None,
        traceparent="00-" + "0af7651916cd43dd8448eb211c80319c" + "-" + "b7ad6b7169203331" + "-01",
    )
    response = send(target, frame)
    assert "error" not in response, response.get("error")


# -- ALP-CORE-021: fresh message ids (a caller rule) --------------------------------------


@pytest.mark.req("ALP-CORE-021")
def test_the_suite_gives_every_message_a_fresh_message_id(target: Target) -> None:
    """Caller rule, checked on the suite's own client: every frame, and every retry of a
    frame, carries a message id never used before; a retry repeats the idempotency key."""
    frames = [target.frame("agent/ping") for _ in range(300)]
    frames += [target.frame("tools/call", {"name": "stop"}, idempotency_key="k-1")]
    frames += [target.retry(frames[-1]) for _ in range(5)]
    ids = [frame["params"]["_meta"]["message_id"] for frame in frames]
    assert len(set(ids)) == len(ids)
    assert all(1 <= len(i) <= 256 for i in ids)
    assert {f["params"]["_meta"].get("idempotency_key") for f in frames[-6:]} == {"k-1"}


# -- ALP-CORE-022: the receiver ------------------------------------------------------------

OTHER_RECEIVERS = ["someone-else", "Fixture", "fixture2", "registry", "fixture.replica"]


@pytest.mark.req("ALP-CORE-022")
@pytest.mark.parametrize("receiver", OTHER_RECEIVERS)
def test_a_request_for_another_receiver_gets_agent_not_found_and_runs_nothing(
    target: Target, receiver: str
) -> None:
    before = actuations(target)
    response = target.call("stop", {}, receiver=receiver)
    assert "result" not in response
    check_error(response["error"], "agent_not_found", agent_id=receiver)
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-022")
def test_a_request_for_this_receiver_is_served(target: Target, card: dict[str, Any]) -> None:
    assert target.result("agent/ping", receiver=card["id"])["ok"] is True
    params = {"name": "add", "arguments": {"a": 1, "b": 1}}
    output = target.result("tools/call", params, receiver=card["id"])
    assert output == {"output": {"sum": 2}}


# -- ALP-CORE-023: sender and sent_at (a caller rule) -------------------------------------


@pytest.mark.req("ALP-CORE-023")
def test_the_suite_sets_sender_and_sent_at(target: Target) -> None:
    """Caller rule, checked on the suite's own client: ``sender`` is its agent id and
    ``sent_at`` the time of sending."""
    meta = target.frame("agent/ping")["params"]["_meta"]
    assert meta["sender"] == target.sender
    assert TIMESTAMP.match(meta["sent_at"]), meta["sent_at"]
    sent = datetime.fromisoformat(meta["sent_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 1


# -- ALP-CORE-024: _meta.auth never echoed --------------------------------------------------


@pytest.mark.req("ALP-CORE-024")
def test_meta_auth_is_never_echoed(target: Target) -> None:
    secret = f"Secret-{uuid.uuid4().hex}"
    bodies: list[bytes] = []

    def post(method: str, params: dict[str, Any] | None = None, **meta: Any) -> Any:
        frame = target.frame(method, params, auth=secret, **meta)
        reply = target.post(json.dumps(frame).encode())
        bodies.append(reply.body)
        return json.loads(reply.body)

    post("agent/ping")
    post("agent/card")
    post("tools/list")
    post("no/such-method")
    post("agent/ping", message_id="")
    post("agent/ping", sender="-bad sender")
    post("agent/ping", protocol="agentlink/9.9")
    post("agent/ping", receiver="someone-else")
    post("tools/call", {"name": "echo", "arguments": {"text": "t"}})
    post("tools/call", {"name": "echo", "arguments": {"text": 5}})
    post("tools/call", {"name": "fail", "arguments": {"why": "x"}})
    post("tools/call", {"name": "no-such-tool", "arguments": {}})
    post("tools/call", {"name": "echo", "arguments": "x"})
    post("events/publish", {"topic": "fixture.ticks", "data": {"n": 1}})
    task = post("tools/call", {"name": "long_task", "arguments": {"steps": 1, "step_ms": 0}})
    task_id = task.get("result", {}).get("task", {}).get("id")
    if task_id:
        post("tasks/get", {"task_id": task_id})
        post("tasks/subscribe", {"task_id": task_id, "after_seq": 0, "wait_ms": 500})
        post("tasks/list", {})
    post("message/send", {"message": {"performative": "query", "content": {"q": 1}}})
    for body in bodies:
        assert secret.encode() not in body, f"_meta.auth echoed in {body[:300]!r}"
        assert secret[7:].encode() not in body, f"part of _meta.auth echoed in {body[:300]!r}"
