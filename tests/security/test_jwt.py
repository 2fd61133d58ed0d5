"""Bearer tokens: minting and every rule of verification (ALP-SEC-005 to ALP-SEC-010, 019)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agentlink.model import Unauthorized, UsageError
from agentlink.security import (
    BearerScheme,
    Ed25519PrivateKey,
    HmacKey,
    TokenVerifier,
    b64url_decode,
    b64url_encode,
    mint_token,
)

KEY = HmacKey(b"plant-secret-0123456789")
NOW = time.time()


def verifier(**options: Any) -> TokenVerifier:
    return TokenVerifier(BearerScheme(keys=[KEY], issuer="plant", **options))


def token(key: Any = KEY, **claims: Any) -> str:
    return mint_token(
        key, subject="planner", audience="cnc", issuer="plant", now=NOW, claims=claims
    )


def tamper(text: str) -> str:
    """``text`` with the first character of its signature changed."""
    head, body, signature = text.split(".")
    return f"{head}.{body}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def reason(excinfo: pytest.ExceptionInfo[Unauthorized]) -> str:
    assert excinfo.value.data is not None
    return str(excinfo.value.data["reason"])


def forge(header: dict[str, Any], payload: dict[str, Any], key: HmacKey = KEY) -> str:
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(json.dumps(payload).encode())
    return f"{head}.{body}.{b64url_encode(key.sign(f'{head}.{body}'.encode()))}"


def test_a_minted_token_verifies_and_names_its_subject() -> None:
    claims = verifier().verify(token(), audience="cnc", now=NOW)
    assert (claims.sub, claims.aud, claims.iss) == ("planner", ("cnc",), "plant")
    assert claims.exp == int(NOW + 60)
    assert claims.jti


def test_every_minted_token_is_new() -> None:
    assert token() != token()


def test_an_ed25519_token_verifies_with_the_public_key_only() -> None:
    private = Ed25519PrivateKey.generate(kid="planner-1")
    scheme = BearerScheme(agent_keys={"planner": [private.public()]}, issuer="plant")
    claims = TokenVerifier(scheme).verify(token(private), audience="cnc", now=NOW)
    assert claims.sub == "planner"
    assert json.loads(b64url_decode(token(private).split(".")[0]))["kid"] == "planner-1"


def test_a_key_bound_to_an_agent_signs_for_that_agent_only() -> None:
    private = Ed25519PrivateKey.generate()
    scheme = BearerScheme(agent_keys={"qa": [private.public()]}, issuer="plant")
    with pytest.raises(Unauthorized) as excinfo:
        TokenVerifier(scheme).verify(token(private), audience="cnc", now=NOW)  # sub planner
    assert "signature" in reason(excinfo)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (lambda: token(HmacKey(b"another-secret-012345")), "signature"),
        (lambda: tamper(token()), "signature"),
        (lambda: token().rsplit(".", 1)[0] + ".", "three parts"),
        (lambda: "garbage", "three parts"),
        (lambda: "a.b.c", "base64url JSON"),
        (lambda: forge({"alg": "none"}, {"sub": "planner", "aud": "cnc", "exp": NOW + 9}), "alg"),
        (lambda: token(HmacKey(b"plant-secret-0123456789", alg="HS512")), "algorithm"),
        (lambda: forge({"alg": "HS256"}, {"sub": "planner", "aud": "cnc"}), "'exp'"),
        (lambda: forge({"alg": "HS256"}, {"aud": "cnc", "exp": NOW + 9}), "'sub'"),
        (lambda: forge({"alg": "HS256"}, {"sub": "a b", "aud": "cnc", "exp": NOW + 9}), "'sub'"),
        (lambda: forge({"alg": "HS256"}, {"sub": "planner", "exp": NOW + 9}), "'aud'"),
        (lambda: token(iss="someone-else"), "issuer"),
        (lambda: token(iss=None), "issuer"),
        (lambda: token(aud="registry"), "audience"),
        (lambda: token(aud=["x", "y"]), "audience"),
        (lambda: token(aud="CNC"), "audience"),
        (lambda: token(exp=NOW - 120), "expired"),
        (lambda: token(nbf=NOW + 120), "not yet valid"),
        (lambda: token(exp=NOW + 7200), "lives longer"),
        (lambda: token(exp="soon"), "not a number"),
        (
            lambda: forge(
                {"alg": "HS256", "crit": ["x"]}, {"sub": "p", "aud": "cnc", "exp": NOW + 9}
            ),
            "critical",
        ),
    ],
)
def test_a_token_that_breaks_a_rule_is_unauthorized(bad: Any, why: str) -> None:
    text = bad()
    with pytest.raises(Unauthorized) as excinfo:
        verifier().verify(text, audience="cnc", now=NOW)
    assert why in reason(excinfo)
    assert text not in str(excinfo.value)
    assert text not in json.dumps(excinfo.value.to_wire())


def test_the_audience_may_list_several_agents() -> None:
    assert verifier().verify(token(aud=["mes", "cnc"]), audience="cnc", now=NOW).sub == "planner"


def test_the_clock_skew_is_honoured_up_to_the_leeway() -> None:
    check = verifier(leeway=30)
    check.verify(token(exp=NOW - 20), audience="cnc", now=NOW)
    check.verify(token(nbf=NOW + 20), audience="cnc", now=NOW)
    with pytest.raises(Unauthorized):
        verifier(leeway=0).verify(token(exp=NOW - 20), audience="cnc", now=NOW)


def test_a_cached_token_is_still_checked_against_the_clock_and_the_audience() -> None:
    check = verifier()
    text = token()
    check.verify(text, audience="cnc", now=NOW)
    with pytest.raises(Unauthorized):
        check.verify(text, audience="mes", now=NOW)
    with pytest.raises(Unauthorized):
        check.verify(text, audience="cnc", now=NOW + 3600)


def test_a_single_use_token_is_refused_the_second_time_it_commands() -> None:
    check = verifier(replay=True)
    text = token()
    check.verify(text, audience="cnc", now=NOW)  # reads may reuse it
    check.verify(text, audience="cnc", now=NOW)
    check.verify(text, audience="cnc", now=NOW, consume=True)
    with pytest.raises(Unauthorized) as excinfo:
        check.verify(text, audience="cnc", now=NOW, consume=True)
    assert "replayed" in reason(excinfo)
    check.verify(text, audience="cnc", now=NOW)
    # Another token with the same jti is the same token.
    jti = json.loads(b64url_decode(text.split(".")[1]))["jti"]
    with pytest.raises(Unauthorized):
        check.verify(token(jti=jti), audience="cnc", now=NOW, consume=True)
    # One token per audience: the same jti for another agent is another use.
    check.verify(token(jti=jti, aud=["cnc", "mes"]), audience="mes", now=NOW, consume=True)


def test_without_replay_protection_a_token_may_command_again() -> None:
    check = verifier(replay=False)
    text = token()
    for _ in range(3):
        check.verify(text, audience="cnc", now=NOW, consume=True)


def test_replay_memory_forgets_expired_tokens() -> None:
    check = verifier()
    check.verify(token(), audience="cnc", now=NOW, consume=True)
    assert len(check._used) == 1
    later = mint_token(KEY, subject="planner", audience="cnc", issuer="plant", now=NOW + 600)
    check.verify(later, audience="cnc", now=NOW + 600, consume=True)
    assert len(check._used) == 1  # the first one expired and was swept


def test_a_scheme_needs_keys_a_sane_leeway_and_never_none() -> None:
    with pytest.raises(UsageError):
        BearerScheme()
    with pytest.raises(UsageError):
        BearerScheme(keys=[KEY], leeway=61)
    with pytest.raises(UsageError):
        BearerScheme(keys=[KEY], algorithms=["HS256", "none"])


def test_the_card_entry_lists_algorithms_and_issuer() -> None:
    ed = Ed25519PrivateKey.generate()
    scheme = BearerScheme(keys=[KEY], agent_keys={"a": [ed.public()]}, issuer="plant")
    assert scheme.card_entry().to_wire() == {
        "type": "bearer",
        "description": "",
        "algorithms": ["HS256", "EdDSA"],
        "issuer": "plant",
    }
