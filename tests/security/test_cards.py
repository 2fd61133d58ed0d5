"""Signed agent cards: detached JWS over the canonical card (ALP-SEC-014..016), the
registry that requires them, and the runtime that signs its agents' cards."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from agentlink.core._dispatch import Dispatcher
from agentlink.discovery import Registry, mount_registry
from agentlink.model import AgentCard, Endpoint, Unauthorized, UsageError
from agentlink.runtime import Agent, Runtime
from agentlink.security import (
    CardVerifier,
    Ed25519PrivateKey,
    Ed25519PublicKey,
    HmacKey,
    SecurityConfig,
    b64url_decode,
    b64url_encode,
    canonical_json,
    card_payload,
    key_id,
    sign_card,
    verify_card,
)
from agentlink.transport import HttpTransport

NOW = 1_800_000_000.0
CNC7 = Ed25519PrivateKey(bytes(range(32)), kid="cnc-7-2026")
OTHER = Ed25519PrivateKey(bytes(range(1, 33)), kid="cnc-7-2026")  # same kid, other key


def card(agent_id: str = "cnc-7", **extra: Any) -> AgentCard:
    return AgentCard.model_validate(
        {
            "id": agent_id,
            "name": "CNC mill 7",
            "role": "execution",
            "protocol_versions": ["agentlink/0.1"],
            "capabilities": ["machining.milling"],
            "tools": [
                {
                    "name": "start_job",
                    "input_schema": {
                        "type": "object",
                        "properties": {"feed": {"type": "number", "maximum": 1.5e3}},
                    },
                }
            ],
            "tags": ["line-1", "h\u00e4lle-3"],
            **extra,
        }
    )


def parts(signature: str) -> tuple[dict[str, Any], str, bytes]:
    header, payload, sig = signature.split(".")
    return json.loads(b64url_decode(header)), payload, b64url_decode(sig)


def resign(signature: str, header: dict[str, Any], key: Ed25519PrivateKey, payload: bytes) -> str:
    """A signature with another protected header, validly signed by ``key``."""
    head = b64url_encode(orjson.dumps(header))
    sig = key.sign(f"{head}.{b64url_encode(payload)}".encode())
    return f"{head}..{b64url_encode(sig)}"


# -- signing and verifying ---------------------------------------------------------------


def test_a_signed_card_carries_a_detached_jws_over_its_canonical_json() -> None:
    signed = sign_card(card(), CNC7)
    assert signed.signature is not None
    header, payload, sig = parts(signed.signature)
    assert header == {"alg": "EdDSA", "kid": "cnc-7-2026"}
    assert payload == ""  # detached
    head = signed.signature.split(".")[0]
    unsigned = signed.to_wire()
    del unsigned["signature"]
    signing_input = f"{head}.{b64url_encode(canonical_json(unsigned))}".encode()
    assert CNC7.public().verify(signing_input, sig)
    assert card_payload(signed) == card_payload(card()) == canonical_json(card().to_wire())
    # Everything but the signature is unchanged.
    assert signed.model_copy(update={"signature": None}) == card()


def test_a_valid_signature_names_the_key_that_vouches() -> None:
    signed = sign_card(card(), CNC7)
    public = CNC7.public()
    assert verify_card(signed, [OTHER.public(), public]) is public
    # As a reader gets it from the wire: a plain dict, parsed from JSON.
    assert verify_card(orjson.loads(orjson.dumps(signed.to_wire())), [public]) is public


def test_signing_is_deterministic_and_re_signing_replaces_the_signature() -> None:
    once = sign_card(card(), CNC7)
    assert sign_card(once, CNC7) == once
    by_other = sign_card(once, OTHER)
    assert by_other.signature != once.signature
    assert verify_card(by_other, [CNC7.public()]) is None


@pytest.mark.parametrize(
    "change",
    [
        {"name": "CNC mill 8"},
        {"tags": ["line-1"]},
        {"capabilities": ["machining.milling", "robot.arm"]},
        {"endpoints": [Endpoint(binding="http", url="http://evil:80/agents/cnc-7")]},
    ],
)
def test_a_tampered_card_is_unsigned(change: dict[str, Any]) -> None:
    signed = sign_card(card(), CNC7)
    tampered = signed.model_copy(update=change)
    assert verify_card(tampered, [CNC7.public()]) is None


def test_a_tampered_tool_schema_is_unsigned() -> None:
    wire = sign_card(card(), CNC7).to_wire()
    wire["tools"][0]["input_schema"]["properties"]["feed"]["maximum"] = 1.5e4
    assert verify_card(wire, [CNC7.public()]) is None


def test_members_this_version_does_not_know_are_covered_too() -> None:
    # A newer peer's member (ALP-REG-017): signed, kept, verified; changing it breaks it.
    wire = sign_card({**card().to_wire(), "x_future": {"b": 1, "a": [1.0, "\u20ac"]}}, CNC7)
    assert verify_card(wire, [CNC7.public()]) is not None
    assert verify_card({**wire, "x_future": {"b": 2}}, [CNC7.public()]) is None
    # Parsing into the model drops the member, so the model no longer matches: readers
    # verify the card as it came on the wire.
    assert verify_card(AgentCard.model_validate(wire), [CNC7.public()]) is None


def test_member_order_and_number_spelling_do_not_matter() -> None:
    wire = sign_card(card(), CNC7).to_wire()
    text = orjson.dumps(wire).decode().replace("1500.0", "1.5E3")
    reordered = dict(reversed(list(json.loads(text).items())))
    assert verify_card(reordered, [CNC7.public()]) is not None


def test_the_wrong_key_does_not_verify() -> None:
    signed = sign_card(card(), OTHER)
    assert verify_card(signed, [CNC7.public()]) is None


def test_unsigned_and_stripped_cards_are_unsigned() -> None:
    assert verify_card(card(), [CNC7.public()]) is None
    stripped = sign_card(card(), CNC7).model_copy(update={"signature": None})
    assert verify_card(stripped, [CNC7.public()]) is None
    assert verify_card({**card().to_wire(), "signature": 42}, [CNC7.public()]) is None


def test_alg_none_is_never_accepted() -> None:
    signed = sign_card(card(), CNC7)
    head = b64url_encode(orjson.dumps({"alg": "none", "kid": "cnc-7-2026"}))
    for sig in ("", "AAAA"):
        forged = signed.model_copy(update={"signature": f"{head}..{sig}"})
        assert verify_card(forged, [CNC7.public()]) is None


def test_an_algorithm_the_key_does_not_have_is_refused() -> None:
    # The HS256 "confusion" forgery: an HMAC over the input keyed with public bytes.
    public = CNC7.public()
    head = b64url_encode(orjson.dumps({"alg": "HS256", "kid": "cnc-7-2026"}))
    mac = HmacKey(public.raw, kid="cnc-7-2026").sign(
        f"{head}.{b64url_encode(card_payload(card()))}".encode()
    )
    forged = card().model_copy(update={"signature": f"{head}..{b64url_encode(mac)}"})
    assert verify_card(forged, [public]) is None


def test_a_kid_mismatch_is_unsigned() -> None:
    signed = sign_card(card(), CNC7)
    renamed = Ed25519PublicKey(CNC7.public().raw, kid="cnc-7-2025")
    assert verify_card(signed, [renamed]) is None
    # The header's kid is covered: changing it to the other key's name breaks it.
    header, _, _ = parts(signed.signature or "")
    head = b64url_encode(orjson.dumps({**header, "kid": "cnc-7-2025"}))
    relabelled = signed.model_copy(
        update={"signature": head + "." + (signed.signature or "").split(".", 1)[1]}
    )
    assert verify_card(relabelled, [renamed]) is None


def test_an_attached_payload_is_not_a_card_signature() -> None:
    signed = sign_card(card(), CNC7)
    head, _, sig = (signed.signature or "").split(".")
    attached = f"{head}.{b64url_encode(card_payload(card()))}.{sig}"
    assert verify_card(signed.model_copy(update={"signature": attached}), [CNC7.public()]) is None


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "kid": "cnc-7-2026", "crit": ["exp"], "exp": 1},
        {"alg": "EdDSA", "kid": "cnc-7-2026", "b64": False, "crit": ["b64"]},
        {"alg": "EdDSA"},
        {"kid": "cnc-7-2026"},
        {"alg": "EdDSA", "kid": 7},
    ],
)
def test_headers_outside_the_profile_are_unsigned(header: dict[str, Any]) -> None:
    forged = resign("", header, CNC7, card_payload(card()))
    assert verify_card(card().model_copy(update={"signature": forged}), [CNC7.public()]) is None


@pytest.mark.parametrize(
    "signature",
    ["x", "a.b", "a..b.c", "..", "eyJ9..AAAA", "!!!..AAAA", "e30..AAAA", "WzFd..AAAA", "e30..=="],
)
def test_malformed_signatures_are_unsigned(signature: str) -> None:
    assert verify_card({**card().to_wire(), "signature": signature}, [CNC7.public()]) is None


def test_an_ed25519_key_without_kid_is_named_by_its_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example key.
    public = Ed25519PublicKey(
        b64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"), kid=None
    )
    assert key_id(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    anonymous = Ed25519PrivateKey(bytes(range(32)))
    signed = sign_card(card(), anonymous)
    assert parts(signed.signature or "")[0]["kid"] == key_id(anonymous.public())
    assert verify_card(signed, [anonymous.public()]) is not None


def test_hmac_keys_sign_only_with_a_kid() -> None:
    with pytest.raises(UsageError, match="kid"):
        sign_card(card(), HmacKey(b"0123456789abcdef"))
    shared = HmacKey(b"0123456789abcdef", kid="plant-secret")
    assert verify_card(sign_card(card(), shared), [shared]) is shared


# -- the verifier ------------------------------------------------------------------------


def test_the_verifier_only_trusts_keys_allowed_for_that_agent() -> None:
    verifier = CardVerifier({"cnc-7": [CNC7.public()], "cnc-1": [OTHER.public()]})
    assert verifier.verify(sign_card(card(), CNC7)) is not None
    # cnc-1's key is a real key, but not one allowed to vouch for cnc-7.
    assert verifier.verify(sign_card(card(), OTHER)) is None
    assert verifier.verify(sign_card(card("cnc-9"), CNC7)) is None
    # Not required: admitted as an unsigned claim.
    assert verifier.admit(sign_card(card(), OTHER)) is None


def test_a_verifier_that_requires_signatures_says_why_it_refuses() -> None:
    verifier = CardVerifier({"cnc-7": [CNC7.public()]}, require_signed=True)
    with pytest.raises(Unauthorized, match="not signed") as unsigned:
        verifier.admit(card())
    with pytest.raises(Unauthorized, match="does not verify") as forged:
        verifier.admit(sign_card(card(), OTHER))
    for refused in (unsigned.value, forged.value):
        assert refused.code == -32021
        assert set(refused.data) == {"reason"}
    assert verifier.admit(sign_card(card(), CNC7)) is not None


# -- the registry, in process ------------------------------------------------------------


def meta(sender: str) -> dict[str, Any]:
    return {"protocol": "agentlink/0.1", "message_id": "m-1", "sender": sender}


async def call(dispatcher: Dispatcher, method: str, params: dict[str, Any]) -> dict[str, Any]:
    frame = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    reply = await dispatcher.handle(frame, now=NOW)
    assert reply is not None
    decoded: dict[str, Any] = orjson.loads(reply)
    return decoded


def strict_registry() -> tuple[Dispatcher, Registry]:
    registry = Registry(verifier=CardVerifier({"cnc-7": [CNC7.public()]}, require_signed=True))
    dispatcher = Dispatcher(agent_id="registry")
    mount_registry(dispatcher, registry)
    return dispatcher, registry


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        (card().to_wire(), "the card is not signed, and this registry requires signed cards"),
        (
            sign_card(card(), OTHER).to_wire(),
            "the card's signature does not verify with a key allowed for this agent",
        ),
        (
            {**sign_card(card(), CNC7).to_wire(), "name": "Not the mill"},
            "the card's signature does not verify with a key allowed for this agent",
        ),
    ],
    ids=["unsigned", "other-key", "tampered"],
)
async def test_a_strict_registry_refuses_forged_cards_with_unauthorized(
    forged: dict[str, Any], reason: str
) -> None:
    dispatcher, registry = strict_registry()
    reply = await call(
        dispatcher, "registry/register", {"_meta": meta("cnc-7"), "card": forged, "ttl_s": 30}
    )
    assert reply["error"]["code"] == -32021
    assert reply["error"]["data"] == {"name": "unauthorized", "reason": reason}
    assert len(registry) == 0
    assert registry.last_seq == 0  # nothing appended to the change feed


@pytest.mark.anyio
async def test_a_strict_registry_keeps_signed_cards_exactly_as_registered() -> None:
    dispatcher, _ = strict_registry()
    signed = {**sign_card(card(), CNC7).to_wire()}
    lease = await call(
        dispatcher, "registry/register", {"_meta": meta("cnc-7"), "card": signed, "ttl_s": 30}
    )
    assert lease["result"]["agent_id"] == "cnc-7"
    found = await call(dispatcher, "registry/search", {"_meta": meta("mes"), "agent_id": "cnc-7"})
    assert found["result"]["agents"] == [signed]
    assert verify_card(found["result"]["agents"][0], [CNC7.public()]) is not None
    watched = await call(dispatcher, "registry/watch", {"_meta": meta("mes")})
    assert watched["result"]["changes"][0]["card"] == signed


@pytest.mark.anyio
async def test_a_lenient_registry_keeps_a_badly_signed_card_as_an_unsigned_claim() -> None:
    registry = Registry(verifier=CardVerifier({"cnc-7": [CNC7.public()]}))
    dispatcher = Dispatcher(agent_id="registry")
    mount_registry(dispatcher, registry)
    forged = sign_card(card(), OTHER).to_wire()
    reply = await call(
        dispatcher, "registry/register", {"_meta": meta("cnc-7"), "card": forged, "ttl_s": 30}
    )
    assert "result" in reply
    found = await call(dispatcher, "registry/search", {"_meta": meta("mes"), "agent_id": "cnc-7"})
    assert found["result"]["agents"] == [forged]
    assert registry.verifier is not None
    assert registry.verifier.verify(found["result"]["agents"][0]) is None


# -- the runtime: it signs its agents' cards, its registry checks everyone's -------------

MILL_KEY = Ed25519PrivateKey.generate(kid="cnc-7-2026")
CELL_KEY = Ed25519PrivateKey.generate(kid="cnc-9-2026")


def plant_security(**extra: Any) -> SecurityConfig:
    return SecurityConfig(
        keys={"cnc-7": MILL_KEY},
        card_keys={"cnc-7": [MILL_KEY.public()], "cnc-9": [CELL_KEY.public()]},
        require_signed_cards=True,
        **extra,
    )


def cell_card(agent_id: str = "cnc-9") -> dict[str, Any]:
    return card(agent_id).to_wire()


@pytest.mark.anyio
async def test_the_runtime_signs_its_agents_cards_and_registers_them_in_process() -> None:
    async with Runtime(agents=[Agent("cnc-7", role="execution")], security=plant_security()) as rt:
        served = await rt.peer("cnc-7", sender="mes").request("agent/card", {})
        assert verify_card(served, [MILL_KEY.public()]) is not None
        registry = rt.peer("registry", sender="mes")
        found = (await registry.request("registry/search", {"agent_id": "cnc-7"}))["agents"]
        assert found == [served]  # the card it serves is the card it registered
        # Another holder's forgeries of cnc-7, unsigned or signed with another key, fail.
        intruder = rt.peer("registry", sender="cnc-7")
        for forged in (cell_card("cnc-7"), sign_card(cell_card("cnc-7"), CELL_KEY)):
            with pytest.raises(Unauthorized) as refused:
                await intruder.request("registry/register", {"card": forged, "ttl_s": 30})
            assert "card" in refused.value.data["reason"]
        found = (await registry.request("registry/search", {"agent_id": "cnc-7"}))["agents"]
        assert found == [served]


@pytest.mark.anyio
async def test_a_registry_over_http_refuses_forged_cards_and_keeps_signed_ones() -> None:
    http = HttpTransport()
    mill = Agent("cnc-7", role="execution")
    async with Runtime(agents=[mill], transport=http, security=plant_security(anonymous=True)):
        registry_url = f"{http.url}/agents/registry"
        async with Runtime(transport=HttpTransport(serve=False), registry=None) as outside:
            registry = outside.peer("registry", sender="cnc-9", address=registry_url)
            for forged in (cell_card(), sign_card(cell_card(), MILL_KEY)):
                with pytest.raises(Unauthorized) as refused:
                    await registry.request("registry/register", {"card": forged, "ttl_s": 30})
                assert "card" in refused.value.data["reason"]
            signed = sign_card(cell_card(), CELL_KEY)
            lease = await registry.request("registry/register", {"card": signed, "ttl_s": 30})
            assert lease["agent_id"] == "cnc-9"
            # Any reader gets the signature and checks it with the keys it trusts.
            reader = outside.peer("registry", sender="mes", address=registry_url)
            page = await reader.request("registry/search", {})
            by_id = {c["id"]: c for c in page["agents"]}
            assert by_id["cnc-9"] == signed
            assert verify_card(by_id["cnc-9"], [CELL_KEY.public()]) is not None
            assert verify_card(by_id["cnc-7"], [MILL_KEY.public()]) is not None
            assert verify_card(by_id["cnc-7"], [CELL_KEY.public()]) is None
