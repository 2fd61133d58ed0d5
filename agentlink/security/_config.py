"""Security configuration of a runtime: keys, token verification, policy, audit and limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentlink.model import UsageError

from ._audit import AuditLog
from ._cards import key_id
from ._jwt import BearerScheme
from ._keys import PrivateKey, PublicKey
from ._limits import Limits
from ._policy import Policy

__all__ = ["SecurityConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityConfig:
    """What a runtime enforces for the agents it hosts, and how they prove who they are.

    Every field is optional; a runtime without a ``SecurityConfig`` checks nothing (the
    scheme ``none``: fit only for an isolated network).

    Attributes:
        keys: local agent id -> its private key. It signs the agent's outgoing bearer
            tokens (one fresh, short-lived token per request) and its agent card.
        card_keys: agent id -> the keys allowed to sign that agent's card.
        require_signed_cards: refuse registry entries whose card is not signed by one of
            ``card_keys``.
        bearer: accept bearer tokens verified this way (the card lists a ``bearer``
            scheme). In-process callers then need a token too, so that a plant behaves
            the same in one process and across the network.
        mtls: accept the identity of a TLS client certificate (the card lists ``mtls``).
        anonymous: also accept callers without credentials, trusting ``_meta.sender`` as
            given (the card lists ``none``); the policy and limits still apply.
        issuer: ``iss`` of the tokens minted for outgoing calls (default: the ``bearer``
            scheme's issuer).
        token_lifetime: seconds a minted token lives (at most one hour).
        policy: who may do what; None: every authenticated caller may do everything.
        audit: where every call, approval, refusal and actuation is recorded.
        limits: per-caller rate, task, subscription and size limits.

    Without ``bearer``, ``mtls`` or ``anonymous``, only in-process callers (whose identity
    the runtime vouches for) are accepted.

    Raises:
        UsageError: a token lifetime outside 1 s .. 1 h, or a key in ``keys`` without an
            id (an HMAC key needs a ``kid``: the key also signs the agent's card).
    """

    keys: Mapping[str, PrivateKey] = field(default_factory=dict)
    card_keys: Mapping[str, Sequence[PublicKey]] = field(default_factory=dict)
    require_signed_cards: bool = False
    bearer: BearerScheme | None = None
    mtls: bool = False
    anonymous: bool = False
    issuer: str | None = None
    token_lifetime: float = 60.0
    policy: Policy | None = None
    audit: AuditLog | None = None
    limits: Limits | None = None

    def __post_init__(self) -> None:
        if not 1.0 <= self.token_lifetime <= 3600.0:
            raise UsageError("token_lifetime must be 1 to 3600 seconds")
        for agent_id, key in self.keys.items():
            if key_id(key) is None:
                raise UsageError(
                    f"the key of {agent_id!r} needs a kid: it also signs the agent's card"
                )

    @property
    def token_issuer(self) -> str | None:
        """``iss`` of minted tokens."""
        if self.issuer is not None:
            return self.issuer
        return None if self.bearer is None else self.bearer.issuer
