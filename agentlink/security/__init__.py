"""Security: keys, bearer tokens, signed cards, policy, audit and limits."""

from __future__ import annotations

from agentlink.security._audit import AuditLog, AuditReport, args_digest, verify_audit
from agentlink.security._canonical import canonical_json
from agentlink.security._cards import CardVerifier, card_payload, key_id, sign_card, verify_card
from agentlink.security._config import SecurityConfig
from agentlink.security._jwt import BearerScheme, Claims, TokenVerifier, mint_token
from agentlink.security._keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    HmacKey,
    PrivateKey,
    PublicKey,
    b64url_decode,
    b64url_encode,
)
from agentlink.security._limits import Limits, Rate
from agentlink.security._policy import Allow, Deny, Policy, Subject, load_policy
from agentlink.security._tls import (
    AGENT_URI_PREFIX,
    DevCA,
    IssuedCert,
    TlsConfig,
    agent_id_of,
    client_context,
    server_context,
)

__all__ = [
    "AGENT_URI_PREFIX",
    "Allow",
    "AuditLog",
    "AuditReport",
    "BearerScheme",
    "CardVerifier",
    "Claims",
    "Deny",
    "DevCA",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "HmacKey",
    "IssuedCert",
    "Limits",
    "Policy",
    "PrivateKey",
    "PublicKey",
    "Rate",
    "SecurityConfig",
    "Subject",
    "TlsConfig",
    "TokenVerifier",
    "agent_id_of",
    "args_digest",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "card_payload",
    "client_context",
    "key_id",
    "load_policy",
    "mint_token",
    "server_context",
    "sign_card",
    "verify_audit",
    "verify_card",
]
