"""HTTP binding, unit http-rpc: ``POST /rpc``, content types, status codes, the
authorization header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from wire import Reply, Target

MIB = 1_048_576
FIXTURE_KEY = b"agentlink-conformance-key"  # "Conformance fixture agent", Secure mode


def media_type(reply: Reply) -> str:
    return reply.headers.get("content-type", "").split(";")[0].strip().lower()


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def body(frame: Any) -> bytes:
    return json.dumps(frame).encode()


def notification(target: Target, method: str, params: dict[str, Any] | None = None):
    frame = target.frame(method, params)
    del frame["id"]
    return frame


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- ALP-HTTP-001: content types -------------------------------------------------------------


@pytest.mark.req("ALP-HTTP-001")
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"],
)
def test_json_bodies_are_accepted_with_or_without_charset(
    target: Target, content_type: str
) -> None:
    frame = target.frame("tools/call", {"name": "echo", "arguments": {"text": "ct"}})
    reply = target.post(body(frame), content_type)
    assert reply.status == 200
    assert media_type(reply) == "application/json"
    assert reply.json() == {
        "jsonrpc": "2.0",
        "id": frame["id"],
        "result": {"output": {"text": "ct"}},
    }


@pytest.mark.req("ALP-HTTP-001")
def test_every_response_body_is_sent_as_application_json(target: Target) -> None:
    bodies = [
        body(target.frame("agent/ping")),
        body(target.frame("no/such-method")),
        body(target.frame("tools/call", {"name": "fail", "arguments": {}})),
        b"{",
        b"[]",
        body([target.frame("agent/ping"), target.frame("no/such-method")]),
        body(target.frame("agent/ping", {"x": nested(80)})),
    ]
    for raw in bodies:
        reply = target.post(raw)
        assert reply.body, f"no response body for {raw[:80]!r}"
        assert media_type(reply) == "application/json", reply.headers
        json.loads(reply.body)


# -- ALP-HTTP-002: status 200 for every JSON-RPC response -----------------------------------


@pytest.mark.req("ALP-HTTP-002")
def test_responses_including_errors_come_with_status_200(target: Target) -> None:
    bad_jsonrpc = target.frame("agent/ping")
    bad_jsonrpc["jsonrpc"] = "1.0"
    bodies = {
        "success": body(target.frame("agent/ping")),
        "parse-error": b'{"jsonrpc": ',
        "invalid-request": body(bad_jsonrpc),
        "not-an-object": b"42",
        "empty-batch": b"[]",
        "unknown-method": body(target.frame("no/such-method")),
        "invalid-params": body({"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "params": []}),
        "unsupported-version": body(target.frame("agent/ping", protocol="agentlink/9.0")),
        "other-receiver": body(target.frame("agent/ping", receiver="someone-else")),
        "unknown-tool": body(target.frame("tools/call", {"name": "no-such-tool"})),
        "tool-failure": body(target.frame("tools/call", {"name": "fail", "arguments": {}})),
        "mixed-batch": body([target.frame("agent/ping"), 5, notification(target, "agent/ping")]),
    }
    for case, raw in bodies.items():
        reply = target.post(raw)
        assert reply.status == 200, f"{case}: HTTP {reply.status}"
        response = reply.json()
        items = response if isinstance(response, list) else [response]
        assert items, case
        for item in items:
            assert item.get("jsonrpc") == "2.0", f"{case}: {item!r}"
            assert ("result" in item) != ("error" in item), f"{case}: {item!r}"


# -- ALP-HTTP-003: status 204 when there is no response ------------------------------------


@pytest.mark.req("ALP-HTTP-003")
def test_a_notification_gets_204_and_no_body(target: Target) -> None:
    for frame in (
        notification(target, "agent/ping"),
        notification(target, "tools/call", {"name": "fail", "arguments": {}}),
        notification(target, "no/such-method"),
    ):
        reply = target.post(body(frame))
        assert reply.status == 204, f"HTTP {reply.status} {reply.body[:200]!r}"
        assert reply.body == b""


@pytest.mark.req("ALP-HTTP-003")
def test_a_batch_of_notifications_gets_204_and_no_body(target: Target) -> None:
    batch = [notification(target, "agent/ping") for _ in range(3)]
    reply = target.post(body(batch))
    assert reply.status == 204, f"HTTP {reply.status} {reply.body[:200]!r}"
    assert reply.body == b""
    assert target.result("agent/ping")["ok"] is True  # the connection is still usable


# -- ALP-HTTP-004: oversized bodies get 413 -------------------------------------------------


@pytest.mark.req("ALP-HTTP-004")
@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB], ids=["1-MiB-plus-1", "3-MiB"])
def test_a_body_over_the_size_limit_gets_413_with_payload_too_large(
    target: Target, size: int
) -> None:
    before = actuations(target)
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}, "pad": ""})
    frame["params"]["pad"] = "p" * (size - len(body(frame)))
    raw = body(frame)
    assert len(raw) == size
    reply = target.post(raw)
    assert reply.status == 413, f"HTTP {reply.status}"
    assert media_type(reply) == "application/json"
    response = reply.json()
    assert response["id"] is None
    assert response["error"]["code"] == -32025
    assert response["error"]["data"]["name"] == "payload_too_large"
    assert response["error"]["data"]["kind"] == "bytes"
    assert actuations(target) == before


@pytest.mark.req("ALP-HTTP-004")
def test_depth_and_batch_limit_errors_come_with_status_200(target: Target) -> None:
    deep = target.post(body(target.frame("agent/ping", {"x": nested(100)})))
    assert deep.status == 200, f"HTTP {deep.status}"
    assert deep.json()["error"]["data"]["kind"] == "depth"
    big = target.post(body([target.frame("agent/ping") for _ in range(65)]))
    assert big.status == 200, f"HTTP {big.status}"
    assert big.json()["error"]["data"]["kind"] == "batch"


# -- ALP-HTTP-005: other content types get 415 ----------------------------------------------


@pytest.mark.req("ALP-HTTP-005")
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/json",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/json-patch+json",
        "application/jsonrequest",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_body_that_is_not_application_json_gets_415_and_is_not_executed(
    target: Target, content_type: str | None
) -> None:
    before = actuations(target)
    raw = body(target.frame("tools/call", {"name": "stop", "arguments": {}}))
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = target.http("POST", "/rpc", raw, headers)
    assert reply.status == 415, f"HTTP {reply.status} {reply.body[:200]!r}"
    assert actuations(target) == before


# -- ALP-HTTP-006: other HTTP methods get 405 -----------------------------------------------


@pytest.mark.req("ALP-HTTP-006")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_http_methods_on_rpc_get_405(target: Target, method: str) -> None:
    raw = None if method in ("GET", "DELETE") else body(target.frame("agent/ping"))
    reply = target.http(method, "/rpc", raw, {"Content-Type": "application/json"})
    assert reply.status == 405, f"{method} /rpc: HTTP {reply.status}"


# -- ALP-HTTP-007: the bearer token ---------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fixture_token(subject: str, issuer: str | None, audience: str) -> str:
    """An HS256 JWT under the fixture's published secure-mode key."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, Any] = {"sub": subject, "aud": audience, "iat": now, "exp": now + 300}
    if issuer:
        claims["iss"] = issuer
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(FIXTURE_KEY, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bearer_scheme(card: dict[str, Any]) -> dict[str, Any]:
    for scheme in card.get("security", []):
        if scheme.get("type") == "bearer":
            return dict(scheme)
    pytest.skip("the card lists no bearer scheme (the fixture is not in secure mode)")


@pytest.mark.req("ALP-HTTP-007")
def test_the_bearer_token_is_accepted_in_the_authorization_header(
    target: Target, card: dict[str, Any]
) -> None:
    scheme = bearer_scheme(card)
    token = fixture_token(target.sender, scheme.get("issuer"), card["id"])
    frame = target.frame("agent/ping")
    reply = target.post(body(frame), Authorization=f"Bearer {token}")
    assert reply.status == 200
    assert reply.json().get("result", {}).get("ok") is True, reply.json()


@pytest.mark.req("ALP-HTTP-007")
def test_the_bearer_token_is_also_accepted_in_meta_auth(
    target: Target, card: dict[str, Any]
) -> None:
    scheme = bearer_scheme(card)
    token = fixture_token(target.sender, scheme.get("issuer"), card["id"])
    assert target.result("agent/ping", auth=token)["ok"] is True


@pytest.mark.req("ALP-HTTP-007")
def test_without_a_token_a_secured_target_answers_unauthorized(
    target: Target, card: dict[str, Any]
) -> None:
    bearer_scheme(card)
    if any(scheme.get("type") == "none" for scheme in card.get("security", [])):
        pytest.skip("the card also lists the scheme none")
    error = target.error("agent/ping")
    assert error["code"] == -32021
    assert error["data"]["name"] == "unauthorized"
