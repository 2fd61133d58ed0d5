"""Security profile, units security-errors and security-bearer, against the fixture in
secure mode: one ``bearer`` scheme, HS256 JWTs under the key ``agentlink-conformance-key``,
issuer ``agentlink-conformance``, audience ``fixture``; the subject ``guest`` may not call
``actuate``, ``stop`` or ``tasks/approve``.

A target that does not claim ``security`` fails these tests; they are then reported as a
profile not claimed. The safe-actuation checks that need identities (ALP-ACT-009's second
half, ALP-ACT-011) are skipped on a target without a bearer scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from wire import Target

KEY = b"agentlink-conformance-key"
ISSUER = "agentlink-conformance"
AUDIENCE = "fixture"
LIFETIME_S = 600
_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(
    sub: str | None = "conf-operator", *, alg: str = "HS256", key: bytes = KEY, **claims: Any
) -> str:
    """A JWT; claims given as None are left out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + LIFETIME_S,
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    header = {"alg": alg, "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if alg == "none":
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), _DIGESTS[alg]).digest()
    return f"{signing_input}.{b64(signature)}"


def subject_of(bearer: str) -> str | None:
    """The ``sub`` a token claims (unverified), or None for a token that names none."""
    try:
        claims = json.loads(base64.urlsafe_b64decode(bearer.split(".")[1] + "=="))
    except (IndexError, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def may_carry_tokens(url: str) -> bool:
    """The suite's client speaks plain HTTP: it puts a bearer token only on a connection
    that does not leave the host (loopback), never on a network connection without TLS."""
    parts = urlsplit(url)
    return parts.scheme == "https" or parts.hostname in _LOOPBACK


def rpc(
    target: Target,
    method: str,
    params: dict[str, Any] | None = None,
    bearer: str | None = None,
    *,
    in_meta: bool = False,
    **meta: Any,
) -> dict[str, Any]:
    """One request with the token in the ``Authorization`` header (or in ``_meta.auth``).

    Unless ``sender`` is given (None leaves it out), ``_meta.sender`` is the token's
    subject: a caller names itself as its credential does (ALP-CORE-023, ALP-SEC-004)."""
    headers: dict[str, str] = {}
    if bearer is not None and "sender" not in meta:
        meta["sender"] = subject_of(bearer)
    if bearer is not None:
        if not may_carry_tokens(target.url):
            pytest.skip("bearer tokens are sent only over TLS or host-local connections")
        if in_meta:
            meta["auth"] = bearer
        else:
            headers["Authorization"] = f"Bearer {bearer}"
    frame = target.frame(method, params, **meta)
    reply = target.post(json.dumps(frame).encode(), **headers)
    response: dict[str, Any] = reply.json()
    assert response.get("id") == frame["id"], response
    return response


def unauthorized(response: dict[str, Any]) -> None:
    assert "error" in response, response
    assert response["error"]["code"] == -32021, response
    assert response["error"]["data"]["name"] == "unauthorized", response


def forbidden(response: dict[str, Any]) -> None:
    assert "error" in response, response
    assert response["error"]["code"] == -32022, response
    assert response["error"]["data"]["name"] == "forbidden", response


def ok(response: dict[str, Any]) -> Any:
    assert "error" not in response, response
    return response["result"]


def bearer_scheme(card: dict[str, Any]) -> dict[str, Any]:
    schemes = [s for s in card.get("security", []) if s.get("type") == "bearer"]
    assert schemes, f"the card lists no bearer scheme: {card.get('security')}"
    return schemes[0]


def secure_only(card: dict[str, Any]) -> None:
    if not any(s.get("type") == "bearer" for s in card.get("security", [])):
        pytest.skip("the target's card lists no bearer scheme (the fixture is not in secure mode)")


def counter(target: Target) -> int:
    response = rpc(target, "tools/call", {"name": "actuation_count", "arguments": {}}, token())
    return int(ok(response)["output"]["count"])


# -- security-errors ------------------------------------------------------------------------


@pytest.mark.req("ALP-SEC-001")
def test_requests_without_credentials_are_unauthorized(
    target: Target, card: dict[str, Any]
) -> None:
    assert "security" in card.get("profiles", [])
    assert not any(s.get("type") == "none" for s in card.get("security", []))
    bearer_scheme(card)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("agent/ping", {}),
        ("tools/list", {}),
        ("tools/call", {"name": "echo", "arguments": {"text": "hi"}}),
        ("message/send", {"message": {"performative": "query", "content": {}}}),
        ("tasks/list", {}),
        ("events/subscribe", {"topics": [">"]}),
        ("tasks/get", {"task_id": "conf-none"}),
    ]
    for method, params in calls:
        unauthorized(rpc(target, method, params))
        unauthorized(rpc(target, method, params, ""))


@pytest.mark.req("ALP-SEC-001")
def test_a_request_refused_for_lack_of_credentials_does_nothing(
    target: Target, card: dict[str, Any]
) -> None:
    bearer_scheme(card)
    before = counter(target)
    unauthorized(rpc(target, "tools/call", {"name": "stop", "arguments": {}}))
    unauthorized(rpc(target, "tools/call", {"name": "stop", "arguments": {}}, "not.a.jwt"))
    assert counter(target) == before


@pytest.mark.req("ALP-SEC-002")
def test_the_card_is_public(target: Target, card: dict[str, Any]) -> None:
    bearer_scheme(card)
    assert ok(rpc(target, "agent/card")) == card
    reply = target.http("GET", "/.well-known/agentlink.json")
    assert reply.status == 200
    assert reply.json() == card


@pytest.mark.req("ALP-SEC-003")
def test_a_known_caller_not_allowed_is_forbidden(target: Target, card: dict[str, Any]) -> None:
    bearer_scheme(card)
    guest = token("guest")
    before = counter(target)
    forbidden(rpc(target, "tools/call", {"name": "actuate", "arguments": {"setpoint": 1}}, guest))
    forbidden(rpc(target, "tools/call", {"name": "stop", "arguments": {}}, guest))
    task = ok(
        rpc(target, "tools/call", {"name": "actuate", "arguments": {"setpoint": 1}}, token())
    )["task"]
    forbidden(rpc(target, "tasks/approve", {"task_id": task["id"], "decision": "approve"}, guest))
    assert counter(target) == before
    # The guest is authenticated: what it may do, it does.
    assert ok(rpc(target, "tools/call", {"name": "echo", "arguments": {"text": "g"}}, guest)) == {
        "output": {"text": "g"}
    }
    approver = token("conf-approver")
    ok(rpc(target, "tasks/approve", {"task_id": task["id"], "decision": "reject"}, approver))


@pytest.mark.req("ALP-SEC-004")
def test_sender_must_equal_the_authenticated_identity(target: Target, card: dict[str, Any]) -> None:
    bearer_scheme(card)
    bearer = token("conf-operator")
    ok(rpc(target, "agent/ping", {}, bearer, sender="conf-operator"))
    ok(rpc(target, "agent/ping", {}, bearer, sender=None))
    unauthorized(rpc(target, "agent/ping", {}, bearer, sender="conf-someone-else"))
    unauthorized(rpc(target, "agent/ping", {}, bearer, in_meta=True, sender="guest"))


@pytest.mark.req("ALP-SEC-017")
def test_credentials_never_appear_in_responses(target: Target, card: dict[str, Any]) -> None:
    bearer_scheme(card)
    secret = token("conf-secretive")
    bad = token("conf-secretive", key=b"not-the-key")
    bodies: list[str] = [json.dumps(card)]
    for in_meta in (False, True):
        task = ok(
            rpc(
                target,
                "tools/call",
                {"name": "long_task", "arguments": {"steps": 1, "step_ms": 0}},
                secret,
                in_meta=in_meta,
            )
        )["task"]
        bodies.append(json.dumps(task))
        time.sleep(0.05)
        bodies.append(json.dumps(rpc(target, "tasks/get", {"task_id": task["id"]}, secret)))
        bodies.append(
            json.dumps(
                rpc(target, "tasks/subscribe", {"task_id": task["id"]}, secret, in_meta=in_meta)
            )
        )
        bodies.append(
            json.dumps(
                rpc(
                    target,
                    "events/publish",
                    {"topic": "fixture.ticks", "data": {"n": 1}},
                    secret,
                    in_meta=in_meta,
                )
            )
        )
        bodies.append(
            json.dumps(
                rpc(
                    target, "tools/call", {"name": "echo", "arguments": {}}, secret, in_meta=in_meta
                )
            )
        )
        bodies.append(json.dumps(rpc(target, "agent/ping", {}, bad, in_meta=in_meta)))
        bodies.append(
            json.dumps(rpc(target, "agent/ping", {}, secret, in_meta=in_meta, sender="conf-x"))
        )
    bodies.append(json.dumps(rpc(target, "events/subscribe", {"topics": [">"]}, secret)))
    for body in bodies:
        for credential in (secret, bad, secret.split(".")[2], KEY.decode()):
            assert credential not in body, body[:300]


# -- security-bearer ------------------------------------------------------------------------


@pytest.mark.req("ALP-SEC-005")
def test_only_tokens_signed_with_a_listed_algorithm_are_accepted(
    target: Target, card: dict[str, Any]
) -> None:
    scheme = bearer_scheme(card)
    assert scheme.get("algorithms") == ["HS256"]
    assert scheme.get("issuer") == ISSUER
    ok(rpc(target, "agent/ping", {}, token()))
    good = token()
    head, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_payload = b64(json.dumps({**claims, "sub": "conf-intruder"}).encode())
    for bad in (
        token(alg="none"),
        token(alg="HS512"),
        token(alg="HS384"),
        token(key=b"agentlink-conformance-key2"),
        token(iss="someone-else"),
        token(iss=None),
        f"{head}.{forged_payload}.{signature}",
        f"{head}.{payload}.",
        f"{head}.{payload}",
        "garbage",
        f"{head}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}",
    ):
        unauthorized(rpc(target, "agent/ping", {}, bad))
        unauthorized(rpc(target, "agent/ping", {}, bad, in_meta=True))


@pytest.mark.req("ALP-SEC-006")
def test_the_audience_must_name_the_receiver(target: Target, card: dict[str, Any]) -> None:
    bearer_scheme(card)
    ok(rpc(target, "agent/ping", {}, token(aud=["some-other-agent", AUDIENCE])))
    for aud in ("registry", "some-other-agent", ["x", "y"], None, "Fixture"):
        unauthorized(rpc(target, "agent/ping", {}, token(aud=aud)))


@pytest.mark.req("ALP-SEC-007")
def test_expired_or_not_yet_valid_tokens_are_unauthorized(
    target: Target, card: dict[str, Any]
) -> None:
    bearer_scheme(card)
    now = int(time.time())
    ok(rpc(target, "agent/ping", {}, token(exp=now + 120, nbf=now - 10)))
    for claims in (
        {"exp": None},
        {"exp": now - 120},
        {"exp": now - 3600},
        {"nbf": now + 120},
        {"nbf": now + 3600, "exp": now + 7200},
    ):
        unauthorized(rpc(target, "agent/ping", {}, token(**claims)))


@pytest.mark.req("ALP-SEC-008")
def test_the_token_subject_is_the_caller(target: Target, card: dict[str, Any]) -> None:
    """The identity comes from ``sub``, with or without ``_meta.sender``: a ``guest`` token
    is refused the actuating tools, and the creator's own approval (same ``sub``) is
    self-approval."""
    bearer_scheme(card)
    forbidden(
        rpc(target, "tools/call", {"name": "stop", "arguments": {}}, token("guest"), sender=None)
    )
    creator = f"conf-op-{uuid.uuid4().hex[:8]}"
    task = ok(
        rpc(
            target,
            "tools/call",
            {"name": "actuate", "arguments": {"setpoint": 2}},
            token(creator),
            sender=creator,
        )
    )["task"]
    params = {"task_id": task["id"], "decision": "approve"}
    forbidden(rpc(target, "tasks/approve", params, token(creator), sender=creator))
    reject = {"task_id": task["id"], "decision": "reject"}
    ok(rpc(target, "tasks/approve", reject, token("conf-approver"), sender="conf-approver"))


@pytest.mark.req("ALP-SEC-009")
def test_the_suite_sends_tokens_only_over_protected_connections() -> None:
    """Checked on the suite's own client: it never puts a bearer token on a plain-HTTP
    connection that leaves the host."""
    assert may_carry_tokens("http://127.0.0.1:8700")
    assert may_carry_tokens("https://plant.example:8443")
    assert not may_carry_tokens("http://192.0.2.7:8700")
    assert not may_carry_tokens("http://plant.example:8700")
    remote = Target("http://192.0.2.7:9")
    with pytest.raises(pytest.skip.Exception):
        rpc(remote, "agent/ping", {}, token())


@pytest.mark.req("ALP-SEC-010")
def test_the_suite_mints_short_lived_tokens() -> None:
    """Checked on the suite's own tokens: at most one hour between ``iat`` and ``exp``."""
    payload = json.loads(base64.urlsafe_b64decode(token().split(".")[1] + "=="))
    assert payload["exp"] - payload["iat"] <= 3600


# -- safe actuation with identities ---------------------------------------------------------


@pytest.mark.req("ALP-ACT-011")
def test_an_approver_not_permitted_is_forbidden(target: Target, card: dict[str, Any]) -> None:
    secure_only(card)
    before = counter(target)
    task = ok(
        rpc(target, "tools/call", {"name": "actuate", "arguments": {"setpoint": 3}}, token())
    )["task"]
    params = {"task_id": task["id"], "decision": "approve"}
    forbidden(rpc(target, "tasks/approve", params, token("guest"), sender="guest"))
    snapshot = ok(rpc(target, "tasks/get", {"task_id": task["id"]}, token()))
    assert snapshot["state"] == "input-required"
    assert snapshot["input_request"].get("approved_by", []) == []
    assert counter(target) == before
    ok(rpc(target, "tasks/approve", params, token("conf-approver"), sender="conf-approver"))
    deadline = time.monotonic() + 5
    while counter(target) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counter(target) == before + 1


@pytest.mark.req("ALP-ACT-009", "ALP-SEC-004")
def test_an_approver_whose_sender_is_not_its_identity_is_unauthorized(
    target: Target, card: dict[str, Any]
) -> None:
    secure_only(card)
    task = ok(
        rpc(target, "tools/call", {"name": "actuate", "arguments": {"setpoint": 4}}, token())
    )["task"]
    params = {"task_id": task["id"], "decision": "approve"}
    unauthorized(rpc(target, "tasks/approve", params, token("conf-approver"), sender="conf-boss"))
    snapshot = ok(rpc(target, "tasks/get", {"task_id": task["id"]}, token()))
    assert snapshot["state"] == "input-required"
    assert snapshot["input_request"].get("approved_by", []) == []
    reject = {"task_id": task["id"], "decision": "reject"}
    ok(rpc(target, "tasks/approve", reject, token("conf-approver"), sender="conf-approver"))


# -- single-use tokens and limits -----------------------------------------------------------


@pytest.mark.req("ALP-SEC-019")
def test_a_token_reused_for_a_command_is_accepted_or_refused_as_a_replay(
    target: Target, card: dict[str, Any]
) -> None:
    """A receiver may make tokens single-use for state-changing requests: the second use
    is then ``unauthorized`` and executes nothing; reads may reuse a token; a fresh token
    is always accepted."""
    bearer_scheme(card)
    reused = token()
    before = counter(target)
    ok(rpc(target, "tools/call", {"name": "stop", "arguments": {}}, reused))
    again = rpc(target, "tools/call", {"name": "stop", "arguments": {}}, reused)
    if "error" in again:
        unauthorized(again)
        assert counter(target) == before + 1
    else:
        assert again["result"] == {"output": {"stopped": True}}
        assert counter(target) == before + 2
    ok(rpc(target, "agent/ping", {}, reused))
    ok(rpc(target, "agent/ping", {}, reused))
    ok(rpc(target, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, token()))


@pytest.mark.req("ALP-SEC-020")
def test_a_caller_over_its_limit_is_overloaded_and_others_are_served(
    target: Target, card: dict[str, Any]
) -> None:
    """The fixture's secure mode lets ``conf-limited`` make 5 requests an hour: of 8
    ``stop`` calls at least 3 are refused with ``overloaded`` (all of them, if the fixture
    served this subject earlier), none of the refused ones acts, and other callers are
    served throughout."""
    bearer_scheme(card)
    before = counter(target)
    served = 0
    refused = 0
    for _ in range(8):
        response = rpc(
            target, "tools/call", {"name": "stop", "arguments": {}}, token("conf-limited")
        )
        if "error" not in response:
            served += 1
            continue
        refused += 1
        error = response["error"]
        assert (error["code"], error["data"]["name"]) == (-32026, "overloaded"), response
        assert isinstance(error["data"]["retry_after_ms"], int), response
        assert error["data"]["retry_after_ms"] >= 0
        assert ok(rpc(target, "tools/call", {"name": "echo", "arguments": {"text": "o"}}, token()))
    assert refused >= 3
    assert counter(target) == before + served


@pytest.mark.req("ALP-SEC-022")
def test_a_long_string_is_served_or_refused_as_payload_too_large(
    target: Target, card: dict[str, Any]
) -> None:
    """A frame well under 1 MiB with one long string: echoed, or refused with
    ``payload_too_large`` of kind ``string`` pointing at it, under the request's id."""
    bearer_scheme(card)
    text = "a" * 200_000
    response = rpc(target, "tools/call", {"name": "echo", "arguments": {"text": text}}, token())
    if "error" not in response:
        assert response["result"] == {"output": {"text": text}}
        return
    error = response["error"]
    assert (error["code"], error["data"]["name"]) == (-32025, "payload_too_large"), error
    assert error["data"]["kind"] == "string"
    assert isinstance(error["data"]["limit"], int)
    assert error["data"]["limit"] < len(text)
    assert error["data"]["pointer"] == "/arguments/text"
