"""Bearer tokens: compact JWS JSON Web Tokens (RFC 7515, RFC 7519), minted and verified.

A token is ``b64url(header).b64url(claims).b64url(signature)``. The rules a receiver applies
(protocol/SPEC.md, Security, ALP-SEC-005 to ALP-SEC-010):

- ``alg`` is one of the scheme's algorithms (never ``none``), and a trusted key of that
  algorithm verifies the signature: an issuer key for any subject, or a key bound to the
  token's ``sub`` (self-issued tokens of agents that hold their own key pair);
- ``iss`` equals the scheme's issuer when one is set;
- ``aud`` (a string or an array) contains the receiving agent's id;
- ``exp`` is required; ``exp`` and ``nbf`` are honoured with a clock skew of at most 60 s;
- ``sub`` is the caller's agent id;
- a token may live at most ``max_lifetime`` (one hour by default);
- with replay protection, a token is accepted for one state-changing request only.

Any failure is :class:`~agentlink.model.Unauthorized` with a ``reason`` that never quotes the
token. A verified token is remembered by its exact text until it expires, so a token used
for many reads costs one signature check.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from agentlink.model import Overloaded, SecurityScheme, Unauthorized, UsageError
from agentlink.model._base import AGENT_ID_PATTERN

from ._keys import PrivateKey, PublicKey, b64url_decode, b64url_encode

__all__ = ["BearerScheme", "Claims", "TokenVerifier", "mint_token"]

#: The largest clock skew the protocol allows (ALP-SEC-007).
MAX_LEEWAY: Final = 60.0
_AGENT_ID: Final = re.compile(AGENT_ID_PATTERN)
_CACHE_LIMIT: Final = 8192
_REPLAY_LIMIT: Final = 1_000_000
_HEADERS_LIMIT: Final = 256


def _header_b64(key: PrivateKey) -> str:
    header: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
    if key.kid is not None:
        header["kid"] = key.kid
    return b64url_encode(orjson.dumps(header))


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a token."""

    sub: str
    aud: tuple[str, ...]
    exp: float
    nbf: float | None = None
    iat: float | None = None
    iss: str | None = None
    jti: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BearerScheme:
    """How an agent verifies bearer tokens; listed in its card as a ``bearer`` scheme.

    Attributes:
        keys: issuer keys: a token signed by one of them may name any subject (an
            :class:`~agentlink.security.HmacKey` shared with an identity provider, or the
            provider's public key).
        agent_keys: agent id -> keys that sign tokens for that agent only (self-issued
            tokens: the agent signs with its own private key, the receiver knows the
            public one).
        issuer: the required ``iss``; None accepts any issuer (and none).
        algorithms: the accepted ``alg`` values (default: the algorithms of the keys).
        leeway: clock skew tolerated on ``exp`` and ``nbf``, in seconds (at most 60).
        max_lifetime: the longest a token may live (``exp`` minus ``iat``, or minus the
            time of use when ``iat`` is absent), in seconds; None: no limit.
        replay: accept a token (by its ``jti``, else its signature) for one state-changing
            request only; reads may reuse it until it expires.
        description: notes shown in the card.

    Raises:
        UsageError: no key, ``none`` among the algorithms, or a leeway over 60 s.
    """

    keys: Sequence[PublicKey] = ()
    agent_keys: Mapping[str, Sequence[PublicKey]] = field(default_factory=dict)
    issuer: str | None = None
    algorithms: Sequence[str] | None = None
    leeway: float = 30.0
    max_lifetime: float | None = 3600.0
    replay: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not self.keys and not self.agent_keys:
            raise UsageError("a bearer scheme needs at least one key")
        if not 0 <= self.leeway <= MAX_LEEWAY:
            raise UsageError(f"leeway must be 0 to {MAX_LEEWAY:g} seconds")
        if any(a.lower() == "none" for a in self.accepted_algorithms()):
            raise UsageError("the algorithm 'none' is never accepted")

    def accepted_algorithms(self) -> tuple[str, ...]:
        """The ``alg`` values accepted, in a stable order."""
        if self.algorithms is not None:
            return tuple(self.algorithms)
        found = [k.alg for k in self.keys]
        found += [k.alg for keys in self.agent_keys.values() for k in keys]
        return tuple(dict.fromkeys(found))

    def card_entry(self) -> SecurityScheme:
        """The card's ``security`` entry."""
        return SecurityScheme(
            type="bearer",
            description=self.description,
            algorithms=list(self.accepted_algorithms()),
            issuer=self.issuer,
        )


def mint_token(
    key: PrivateKey,
    *,
    subject: str,
    audience: str | Sequence[str],
    issuer: str | None = None,
    lifetime: float = 60.0,
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A signed token for ``subject`` to call ``audience``, with a fresh ``jti``.

    Args:
        key: signs the token; its ``alg`` (and ``kid``, if any) go in the header.
        subject: the caller's agent id (``sub``).
        audience: the receiving agent id(s) (``aud``).
        issuer: ``iss``, left out when None.
        lifetime: seconds until ``exp``.
        now: the issue time (default: the current time).
        claims: more claims, added last (they may override the standard ones).
    """
    issued = time.time() if now is None else now
    payload: dict[str, Any] = {
        "sub": subject,
        "aud": audience if isinstance(audience, str) else list(audience),
        "iat": int(issued),
        "exp": int(issued + lifetime),
        "jti": secrets.token_urlsafe(12),
    }
    if issuer is not None:
        payload["iss"] = issuer
    if claims:
        payload.update(claims)
    signing_input = f"{_header_b64(key)}.{b64url_encode(orjson.dumps(payload))}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


def _refuse(reason: str) -> Unauthorized:
    return Unauthorized(f"invalid bearer token: {reason}", data={"reason": reason})


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise _refuse(f"'{name}' is not a number")
    return float(value)


class TokenVerifier:
    """Verifies tokens under one :class:`BearerScheme`; keeps the cache and replay memory."""

    def __init__(self, scheme: BearerScheme) -> None:
        self.scheme = scheme
        self.algorithms = frozenset(scheme.accepted_algorithms())
        self._cache: dict[str, Claims] = {}
        # Tokens of one key share their header: parsed once.
        self._headers: dict[str, dict[str, Any]] = {}
        self._used: dict[tuple[str, str], float] = {}
        self._next_sweep = 0.0

    def verify(self, token: str, *, audience: str, now: float, consume: bool = False) -> Claims:
        """The claims of ``token`` if it is valid for ``audience`` at ``now``.

        Args:
            token: the compact JWS.
            audience: the receiving agent's id.
            now: the current time (unix seconds).
            consume: the request changes state: with replay protection the token is
                used up (a second such request with it is refused).

        Raises:
            Unauthorized: the token is malformed, not signed by a trusted key, for another
                audience or issuer, expired, not yet valid, too long-lived, or replayed.
            Overloaded: the replay memory is full.
        """
        if now >= self._next_sweep:
            self._sweep(now)
        claims = self._cache.get(token)
        if claims is None:
            claims = self._check_signature(token)
            if len(self._cache) >= _CACHE_LIMIT:
                self._sweep(now)
            self._cache[token] = claims
        scheme = self.scheme
        if audience not in claims.aud:
            raise _refuse("the audience does not include this agent")
        if now > claims.exp + scheme.leeway:
            raise _refuse("expired")
        if claims.nbf is not None and now + scheme.leeway < claims.nbf:
            raise _refuse("not yet valid")
        if scheme.max_lifetime is not None:
            start = claims.iat if claims.iat is not None else min(now, claims.exp)
            if claims.exp - start > scheme.max_lifetime + scheme.leeway:
                raise _refuse(f"lives longer than {scheme.max_lifetime:g} s")
        if consume and scheme.replay:
            self._consume(token, claims, audience, now)
        return claims

    def _consume(self, token: str, claims: Claims, audience: str, now: float) -> None:
        key = (audience, claims.jti if claims.jti is not None else token.rpartition(".")[2])
        if key in self._used:
            raise _refuse("replayed (this token was already used for a state-changing request)")
        if len(self._used) >= _REPLAY_LIMIT:
            self._sweep(now)
            if len(self._used) >= _REPLAY_LIMIT:
                raise Overloaded("too many live tokens to remember", data={"retry_after_ms": 1000})
        self._used[key] = claims.exp + self.scheme.leeway

    def _sweep(self, now: float) -> None:
        """Forget expired tokens (and, if the cache is still full, every cached one)."""
        leeway = self.scheme.leeway
        self._next_sweep = now + 30.0
        self._cache = {t: c for t, c in self._cache.items() if c.exp + leeway >= now}
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._used = {k: until for k, until in self._used.items() if until >= now}

    def _check_signature(self, token: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise _refuse("not a compact JWS with three parts")
        try:
            header = self._headers.get(parts[0])
            if header is None:
                header = orjson.loads(b64url_decode(parts[0]))
                if type(header) is dict and len(self._headers) < _HEADERS_LIMIT:
                    self._headers[parts[0]] = header
            payload = orjson.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, orjson.JSONDecodeError):
            raise _refuse("not base64url JSON") from None
        if type(header) is not dict or type(payload) is not dict:
            raise _refuse("header and claims must be JSON objects")
        alg = header.get("alg")
        if type(alg) is not str or alg.lower() == "none" or alg not in self.algorithms:
            raise _refuse("algorithm not accepted")
        if "crit" in header:
            raise _refuse("critical header parameters are not supported")
        sub = payload.get("sub")
        if type(sub) is not str or _AGENT_ID.search(sub) is None or sub.endswith("\n"):
            raise _refuse("'sub' is not an agent id")
        kid = header.get("kid")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        candidates = [*self.scheme.keys, *self.scheme.agent_keys.get(sub, ())]
        if not any(
            key.verify(signing_input, signature)
            for key in candidates
            if key.alg == alg and (kid is None or key.kid in (None, kid))
        ):
            raise _refuse("the signature does not verify with a trusted key")
        return self._claims(payload, sub)

    def _claims(self, payload: dict[str, Any], sub: str) -> Claims:
        exp = _number(payload, "exp")
        if exp is None:
            raise _refuse("'exp' is required")
        aud = payload.get("aud")
        if type(aud) is str:
            audiences: tuple[str, ...] = (aud,)
        elif type(aud) is list and aud and all(type(a) is str for a in aud):
            audiences = tuple(aud)
        else:
            raise _refuse("'aud' must be a string or an array of strings")
        iss = payload.get("iss")
        if iss is not None and type(iss) is not str:
            raise _refuse("'iss' is not a string")
        if self.scheme.issuer is not None and iss != self.scheme.issuer:
            raise _refuse("wrong issuer")
        jti = payload.get("jti")
        return Claims(
            sub=sub,
            aud=audiences,
            exp=exp,
            nbf=_number(payload, "nbf"),
            iat=_number(payload, "iat"),
            iss=iss,
            jti=jti if type(jti) is str else None,
        )
