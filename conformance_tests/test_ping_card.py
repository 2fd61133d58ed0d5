"""Core profile: the card and ping (the pattern every conformance test follows)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from spec_index import SPEC
from wire import PROTOCOL, Target

SCHEMAS = SPEC.parent / "schemas"


def schema_errors(stem: str, instance: Any) -> list[str]:
    """Errors of ``instance`` against a protocol schema (the committed JSON Schema files)."""
    resources = []
    for path in SCHEMAS.rglob("*.json"):
        contents = json.loads(path.read_text("utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    schema = json.loads((SCHEMAS / f"{stem}.json").read_text("utf-8"))
    validator = Draft202012Validator(schema, registry=Registry().with_resources(resources))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)]


@pytest.mark.req("ALP-CORE-053")
def test_ping_answers_ok_and_a_timestamp(target: Target) -> None:
    result = target.result("agent/ping")
    assert result["ok"] is True
    assert schema_errors("methods/agent.ping.result", result) == []


@pytest.mark.req("ALP-CARD-001", "ALP-HTTP-008")
def test_card_validates_and_equals_agent_card(target: Target, card: dict[str, Any]) -> None:
    assert schema_errors("agent-card", card) == []
    assert target.result("agent/card") == card
    assert PROTOCOL in card["protocol_versions"]
