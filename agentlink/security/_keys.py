"""Signing and verification keys: HMAC secrets and Ed25519 key pairs.

One small interface serves bearer tokens (JWT) and signed agent cards (JWS): a key has an
``alg`` (the JOSE algorithm name), an optional ``kid``, and ``verify``; private keys also
``sign``. Ed25519 comes from ``cryptography``; HMAC from the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agentlink.model import UsageError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "HmacKey",
    "PrivateKey",
    "PublicKey",
    "b64url_decode",
    "b64url_encode",
]

HmacAlg = Literal["HS256", "HS384", "HS512"]
_HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse of :func:`b64url_encode`.

    Raises:
        ValueError: ``text`` is not unpadded base64url.
    """
    if "=" in text:
        raise ValueError("padded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


class PublicKey(Protocol):
    """A key that verifies signatures."""

    @property
    def alg(self) -> str:
        """The JOSE algorithm name (``HS256``, ``EdDSA``, ...)."""
        ...

    @property
    def kid(self) -> str | None:
        """The key id, matched against a JOSE header's ``kid``."""
        ...

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``."""
        ...


class PrivateKey(PublicKey, Protocol):
    """A key that signs (and verifies) signatures."""

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data``."""
        ...

    def public(self) -> PublicKey:
        """The key that verifies this key's signatures (an HMAC key is its own)."""
        ...


@dataclass(frozen=True, slots=True)
class HmacKey:
    """A shared secret (HS256, HS384 or HS512): it signs and verifies.

    Raises:
        UsageError: the secret is shorter than 16 bytes or the algorithm is unknown.
    """

    secret: bytes = field(repr=False)
    kid: str | None = None
    alg: HmacAlg = "HS256"

    def __post_init__(self) -> None:
        if self.alg not in _HMAC_DIGESTS:
            raise UsageError(f"unknown HMAC algorithm {self.alg!r}")
        if len(self.secret) < 16:
            raise UsageError("an HMAC secret needs at least 16 bytes")

    def sign(self, data: bytes) -> bytes:
        # The one-shot form runs in C (OpenSSL): a few times faster than hmac.new.
        return hmac.digest(self.secret, data, _HMAC_DIGESTS[self.alg])

    def verify(self, data: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(data), signature)

    def public(self) -> HmacKey:
        return self


@dataclass(frozen=True, slots=True)
class Ed25519PublicKey:
    """An Ed25519 public key (JOSE ``EdDSA``)."""

    raw: bytes
    kid: str | None = None
    alg: str = field(default="EdDSA", init=False)
    _key: ed25519.Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError as exc:
            raise UsageError(f"not an Ed25519 public key: {exc}") from None
        object.__setattr__(self, "_key", key)

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def to_jwk(self) -> dict[str, Any]:
        """The key as a JWK (RFC 8037)."""
        jwk: dict[str, Any] = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.raw)}
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> Ed25519PublicKey:
        """Read an ``OKP``/``Ed25519`` JWK.

        Raises:
            UsageError: it is not one.
        """
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "x" not in jwk:
            raise UsageError("not an Ed25519 JWK")
        try:
            raw = b64url_decode(str(jwk["x"]))
        except ValueError as exc:
            raise UsageError(f"bad JWK 'x': {exc}") from None
        kid = jwk.get("kid")
        return cls(raw, kid=None if kid is None else str(kid))


@dataclass(frozen=True, slots=True)
class Ed25519PrivateKey:
    """An Ed25519 private key (JOSE ``EdDSA``); :meth:`generate` makes a new one."""

    seed: bytes = field(repr=False)
    kid: str | None = None
    alg: str = field(default="EdDSA", init=False)
    _key: ed25519.Ed25519PrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            key = ed25519.Ed25519PrivateKey.from_private_bytes(self.seed)
        except ValueError as exc:
            raise UsageError(f"not an Ed25519 private key: {exc}") from None
        object.__setattr__(self, "_key", key)

    @classmethod
    def generate(cls, kid: str | None = None) -> Ed25519PrivateKey:
        """A new random key."""
        raw = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw, kid=kid)

    @classmethod
    def from_pem(cls, pem: bytes, kid: str | None = None) -> Ed25519PrivateKey:
        """Read a PKCS#8 PEM private key (as ``openssl genpkey -algorithm ed25519`` writes).

        Raises:
            UsageError: it is not an unencrypted Ed25519 key.
        """
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"cannot read the private key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise UsageError("the private key is not an Ed25519 key")
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw, kid=kid)

    def to_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def verify(self, data: bytes, signature: bytes) -> bool:
        return self.public().verify(data, signature)

    def public(self) -> Ed25519PublicKey:
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return Ed25519PublicKey(raw, kid=self.kid)
