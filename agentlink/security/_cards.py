"""Signed agent cards (ALP-SEC-014, ALP-SEC-015, ALP-SEC-016).

A card's ``signature`` is a JWS (RFC 7515) in compact serialization with a detached
payload (RFC 7515 Appendix F): ``<protected header>..<signature>``, all base64url. The
payload is the RFC 8785 canonical JSON of the card without its ``signature`` member; the
signing input is ``<protected header>.<base64url(payload)>`` as for any JWS. The protected
header is ``{"alg": <key alg>, "kid": <key id>}``.

Verification answers one question: which of the keys allowed for this agent vouches for
this card? Anything else (no signature, a malformed one, ``alg: none``, an algorithm or
``kid`` that no allowed key has, an attached payload, a ``crit`` header, a signature that
does not verify) answers "none", and the card is then exactly as good as an unsigned one
(ALP-SEC-015): it is never an error to be shown a bad signature, only a reason to trust
the card less.

A key's id is its ``kid``; an Ed25519 key without one is named by its RFC 7638 JWK
thumbprint, so that signer and verifier agree on the name without configuring it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, overload

import orjson

from agentlink.model import AgentCard, Unauthorized, UsageError

from ._canonical import canonical_json
from ._keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    PrivateKey,
    PublicKey,
    b64url_decode,
    b64url_encode,
)

__all__ = ["CardVerifier", "card_payload", "key_id", "sign_card", "verify_card"]

# Header members this implementation understands; any other in ``crit`` is refused.
_KNOWN_HEADER: Final = frozenset({"alg", "kid", "typ", "cty"})


def key_id(key: PublicKey) -> str | None:
    """The name of a key in a JWS header: its ``kid``, else for an Ed25519 key its RFC 7638
    JWK thumbprint; None for a key that has neither (an HMAC key without ``kid``)."""
    if key.kid is not None:
        return key.kid
    public: Any = key.public() if isinstance(key, Ed25519PrivateKey) else key
    if isinstance(public, Ed25519PublicKey):
        jwk = public.to_jwk()
        # RFC 7638: the required members only, sorted, no whitespace.
        required = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
        return b64url_encode(hashlib.sha256(canonical_json(required)).digest())
    return None


def _wire(card: AgentCard | Mapping[str, Any]) -> Mapping[str, Any]:
    return card.to_wire() if isinstance(card, AgentCard) else card


def card_payload(card: AgentCard | Mapping[str, Any]) -> bytes:
    """The bytes a card signature covers: the canonical JSON of the card without
    ``signature``. A card given as a mapping is taken as it is on the wire (members this
    version does not know included, ALP-REG-017).

    Raises:
        UsageError: the card holds a value JSON cannot represent.
    """
    wire = _wire(card)
    return canonical_json({k: v for k, v in wire.items() if k != "signature"})


@overload
def sign_card(card: AgentCard, key: PrivateKey) -> AgentCard: ...
@overload
def sign_card(card: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]: ...
def sign_card(card: AgentCard | Mapping[str, Any], key: PrivateKey) -> AgentCard | dict[str, Any]:
    """The card with ``signature`` set to ``key``'s detached JWS over it; any previous
    signature is replaced. Returns the same kind of object it is given.

    Raises:
        UsageError: the key has no id (an HMAC key needs a ``kid``), or its ``alg`` is
            ``none``.
    """
    kid = key_id(key)
    if kid is None:
        raise UsageError("a card signing key needs a kid (HMAC keys have no thumbprint)")
    if not key.alg or key.alg.lower() == "none":
        raise UsageError("a card signature needs a real algorithm, not 'none'")
    header = b64url_encode(orjson.dumps({"alg": key.alg, "kid": kid}))
    signing_input = f"{header}.{b64url_encode(card_payload(card))}".encode("ascii")
    signature = f"{header}..{b64url_encode(key.sign(signing_input))}"
    if isinstance(card, AgentCard):
        return card.model_copy(update={"signature": signature})
    return {**card, "signature": signature}


def verify_card(card: AgentCard | Mapping[str, Any], keys: Iterable[PublicKey]) -> PublicKey | None:
    """The key among ``keys`` whose signature the card carries, or None when the card is
    unsigned or its signature does not verify with any of them (the two are the same to
    a caller, ALP-SEC-015)."""
    wire = _wire(card)
    signature = wire.get("signature")
    if not isinstance(signature, str):
        return None
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        return None  # not compact, or the payload is attached instead of detached
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        raw_signature = b64url_decode(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str) or alg.lower() == "none":
        return None
    crit = header.get("crit")
    if crit is not None and (
        not isinstance(crit, list) or not crit or any(c not in _KNOWN_HEADER for c in crit)
    ):
        return None  # RFC 7515 4.1.11: an extension we do not understand
    if header.get("b64", True) is not True:
        return None  # RFC 7797 unencoded payloads are not used for cards
    candidates = [k for k in keys if k.alg == alg and key_id(k) == kid]
    if not candidates:
        return None
    try:
        signing_input = f"{parts[0]}.{b64url_encode(card_payload(wire))}".encode("ascii")
    except UsageError:
        return None
    for key in candidates:
        if key.verify(signing_input, raw_signature):
            return key
    return None


class CardVerifier:
    """Decides whether a card is vouched for by a key allowed to sign that agent's card.

    Args:
        keys: agent id -> the public keys allowed to sign that agent's card. An agent
            missing here has no card that verifies.
        require_signed: :meth:`admit` refuses cards that no allowed key vouches for.
    """

    def __init__(
        self, keys: Mapping[str, Sequence[PublicKey]], *, require_signed: bool = False
    ) -> None:
        self.keys = {agent_id: tuple(k) for agent_id, k in keys.items()}
        self.require_signed = require_signed

    def verify(self, card: AgentCard | Mapping[str, Any]) -> PublicKey | None:
        """The allowed key that signed the card, or None (unsigned or not verifying)."""
        wire = _wire(card)
        agent_id = wire.get("id")
        allowed = self.keys.get(agent_id) if isinstance(agent_id, str) else None
        if not allowed:
            return None
        return verify_card(wire, allowed)

    def admit(self, card: AgentCard | Mapping[str, Any]) -> PublicKey | None:
        """Like :meth:`verify`, but a card no allowed key vouches for is refused when
        signatures are required (ALP-SEC-016).

        Raises:
            Unauthorized: signatures are required and this card has none that verifies.
        """
        key = self.verify(card)
        if key is None and self.require_signed:
            wire = _wire(card)
            agent_id = wire.get("id")
            has_signature = isinstance(wire.get("signature"), str)
            reason = (
                "the card's signature does not verify with a key allowed for this agent"
                if has_signature
                else "the card is not signed, and this registry requires signed cards"
            )
            raise Unauthorized(
                f"card of {agent_id!r} refused: {reason}",
                data={"reason": reason},
            )
        return key
