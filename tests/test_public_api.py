"""The public names of each package are pinned: changing them is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "agentlink": ["PROTOCOL_VERSION", "__version__"],
    "agentlink.conformance": [
        "FIXTURE_ID",
        "FIXTURE_PROFILES",
        "FixtureServer",
        "fixture_agent",
        "fixture_security",
        "serve_fixture",
    ],
    "agentlink.runtime": [
        "Agent",
        "MessageContext",
        "Peer",
        "ReportedError",
        "Runtime",
        "TaskHandle",
        "ToolContext",
        "contract_net",
        "lowest",
        "query",
        "request",
        "subscribe",
    ],
    "agentlink.security": [
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
    ],
    "agentlink.transport": [
        "FrameHandler",
        "HttpTransport",
        "MemoryNetwork",
        "MemoryTransport",
        "NatsTransport",
        "Origin",
        "Transport",
    ],
    "agentlink.testing": [
        "CHECKS",
        "FaultStats",
        "FaultyTransport",
        "MemoryNetwork",
        "MemoryTransport",
        "TransportPair",
        "check_transport",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"


@pytest.mark.parametrize(
    "module",
    [
        "agentlink",
        "agentlink.model",
        "agentlink.runtime",
        "agentlink.transport",
        "agentlink.testing",
        "agentlink.discovery",
        "agentlink.core",
        "agentlink.conformance",
        "agentlink.security",
    ],
)
def test_all_is_unique_and_complete(module: str) -> None:
    # Ordering of __all__ is kept by the linter (RUF022); here: no duplicates, no ghosts.
    mod = importlib.import_module(module)
    exported = getattr(mod, "__all__", [])
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(mod, name)


def test_every_model_error_derives_from_the_root() -> None:
    from agentlink import model

    for name in model.__all__:
        obj = getattr(model, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, model.AgentlinkError), name
