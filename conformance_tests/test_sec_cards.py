"""Security profile, units security-signed-cards, security-mtls and security-nkey.

mTLS and nkey apply only to targets whose card lists that scheme (the conformance fixture
lists neither); the suite's client speaks plain HTTP, so with such a scheme listed these
tests are skipped with the reason."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from wire import Target


def schemes(card: dict[str, Any]) -> set[str]:
    return {scheme.get("type", "") for scheme in card.get("security", [])}


def b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def check_detached_jws(signature: str) -> dict[str, Any]:
    """The protected header of a compact JWS with a detached payload."""
    parts = signature.split(".")
    assert len(parts) == 3, signature
    assert parts[1] == "", "the payload is detached: the middle part is empty"
    assert parts[2], "a signature part"
    header: dict[str, Any] = b64json(parts[0])
    assert isinstance(header.get("alg"), str)
    assert header["alg"] != "none"
    assert isinstance(header.get("kid"), str)
    return header


@pytest.fixture
def registry(target: Target) -> Iterator[Target]:
    client = Target(
        f"http://{target.host}:{target.port}/agents/registry",
        sender=f"conf-holder-{uuid.uuid4().hex[:12]}",
    )
    yield client
    client.close()


@pytest.mark.req("ALP-SEC-014")
def test_a_card_signature_is_a_detached_jws(target: Target, card: dict[str, Any]) -> None:
    signature = card.get("signature")
    if signature is None:
        pytest.skip("the target's card is unsigned")
    check_detached_jws(signature)
    assert target.result("agent/card").get("signature") == signature


@pytest.mark.req("ALP-SEC-015", "ALP-SEC-016")
def test_a_card_whose_signature_does_not_verify_is_not_vouched_for(registry: Target) -> None:
    """A registry given a card with a signature that cannot verify either refuses it with
    ``unauthorized`` or keeps it as an unsigned claim, returned exactly as registered."""
    signature = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImNvbmYtYm9ndXMifQ..Ym9ndXM"
    check_detached_jws(signature)
    card = {
        "id": f"conf-signed-{uuid.uuid4().hex[:12]}",
        "name": "Badly signed",
        "role": "execution",
        "protocol_versions": ["agentlink/0.1"],
        "signature": signature,
    }
    response = registry.rpc("registry/register", {"card": card, "ttl_s": 30})
    if "error" in response:
        error = response["error"]
        assert (error["code"], error["data"]["name"]) == (-32021, "unauthorized")
        assert registry.result("registry/search", {"agent_id": card["id"]})["agents"] == []
        return
    lease = response["result"]
    try:
        found = registry.result("registry/search", {"agent_id": card["id"]})["agents"]
        assert len(found) == 1
        assert found[0]["signature"] == signature
    finally:
        registry.rpc("registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]})


@pytest.mark.req("ALP-SEC-011")
def test_mtls(card: dict[str, Any]) -> None:
    if "mtls" not in schemes(card):
        pytest.skip("the target's card lists no mtls scheme")
    pytest.skip("the suite's client has no TLS: mTLS cannot be tested through it")


@pytest.mark.req("ALP-SEC-012")
def test_mtls_uses_tls13(card: dict[str, Any]) -> None:
    if "mtls" not in schemes(card):
        pytest.skip("the target's card lists no mtls scheme")
    pytest.skip("the suite's client has no TLS: mTLS cannot be tested through it")


@pytest.mark.req("ALP-SEC-013")
def test_nkey_permissions(card: dict[str, Any]) -> None:
    if "nkey" not in schemes(card):
        pytest.skip("the target's card lists no nkey scheme")
    pytest.skip("the suite holds no nkey of the target's NATS account")
