"""Security: keys, bearer tokens, signed cards, policy, audit and limits."""

from __future__ import annotations

from agentlink.security._keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    HmacKey,
    PrivateKey,
    PublicKey,
    b64url_decode,
    b64url_encode,
)

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "HmacKey",
    "PrivateKey",
    "PublicKey",
    "b64url_decode",
    "b64url_encode",
]
