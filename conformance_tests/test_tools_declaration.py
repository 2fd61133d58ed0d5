"""Tools profile, unit tools-declaration: tool schemas and their dialect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from spec_index import SPEC
from wire import Target

DIALECT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
KNOWN_DIALECTS = {
    DIALECT_2020_12,
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-04/schema#",
}


def tool_defaults() -> dict[str, Any]:
    schema = json.loads((SPEC.parent / "schemas" / "tool.json").read_text("utf-8"))
    return {
        name: prop["default"] for name, prop in schema["properties"].items() if "default" in prop
    }


def fixture_tools() -> list[dict[str, Any]]:
    """The ``tools`` the spec fixes for the conformance fixture agent."""
    text = SPEC.read_text("utf-8").split("The fixture's `tools`:", 1)[1]
    block = text.split("```json", 1)[1].split("```", 1)[0]
    tools: list[dict[str, Any]] = json.loads(block)
    return tools


def normalized(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool with every absent member set to its default (``null`` counts as absent)."""
    return {**tool_defaults(), **{k: v for k, v in tool.items() if v is not None}}


def card_tools(target: Target) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = target.result("agent/card").get("tools", [])
    return tools


# -- ALP-TOOL-001 -------------------------------------------------------------------------


@pytest.mark.req("ALP-TOOL-001")
def test_input_schemas_are_object_schemas_and_output_schemas_are_schemas(
    target: Target,
) -> None:
    tools = card_tools(target)
    assert tools, "the fixture declares tools"
    for tool in tools:
        input_schema = tool["input_schema"]
        assert isinstance(input_schema, dict), tool["name"]
        assert input_schema.get("type") == "object", tool["name"]
        Draft202012Validator.check_schema(input_schema)
        output_schema = tool.get("output_schema", {})
        assert isinstance(output_schema, dict | bool), tool["name"]
        Draft202012Validator.check_schema(output_schema)


@pytest.mark.req("ALP-TOOL-001")
def test_the_fixture_declares_exactly_the_tools_the_spec_fixes(target: Target) -> None:
    """Every tool the fixture lists is declared exactly as the spec fixes; the tools of each
    profile it claims are all there (an implementation of fewer profiles lists fewer)."""
    expected = {tool["name"]: normalized(tool) for tool in fixture_tools()}
    declared = {tool["name"]: normalized(tool) for tool in card_tools(target)}
    assert set(declared) <= set(expected), sorted(set(declared) - set(expected))
    for name, tool in declared.items():
        assert tool == expected[name], f"{name} differs from the spec"
    claimed = target.claimed or frozenset()
    needed = {"echo", "add", "fail", "slow", "actuation_count", "stop", "measure"}
    needed |= {"long_task", "ask"} if "tasks" in claimed else set()
    needed |= {"actuate"} if "safe-actuation" in claimed else set()
    assert needed <= set(declared), sorted(needed - set(declared))


# -- ALP-TOOL-002 -------------------------------------------------------------------------


@pytest.mark.req("ALP-TOOL-002")
def test_schemas_without_dialect_are_validated_as_2020_12(target: Target) -> None:
    """Under 2020-12 a number with a zero fractional part is an integer (draft-04 disagrees)
    and ``minimum``/``maximum`` are inclusive. (Rejections are checked by tools-validation.)"""
    declared = {tool["name"]: tool for tool in card_tools(target)}
    assert "$schema" not in declared["slow"]["input_schema"]
    output = target.result("tools/call", {"name": "slow", "arguments": {"ms": 1.0}})["output"]
    assert output["slept_ms"] == 1
    steps = target.rpc(
        "tools/call", {"name": "long_task", "arguments": {"steps": 1.0, "step_ms": 0}}
    )
    assert "error" not in steps, steps["error"]
    assert target.result("tools/call", {"name": "slow", "arguments": {"ms": 0}})["output"] == {
        "slept_ms": 0
    }
    bounded = {"name": "long_task", "arguments": {"steps": 100, "step_ms": 0}}
    assert "error" not in target.rpc("tools/call", bounded)


# -- ALP-TOOL-003 (may) -------------------------------------------------------------------


@pytest.mark.req("ALP-TOOL-003")
def test_declared_dialects_are_known_dialects(target: Target) -> None:
    declared = [
        (tool["name"], schema["$schema"])
        for tool in card_tools(target)
        for schema in (tool["input_schema"], tool.get("output_schema", {}))
        if isinstance(schema, dict) and "$schema" in schema
    ]
    if not declared:
        pytest.skip("no tool declares a dialect with $schema")
    for name, dialect in declared:
        assert dialect in KNOWN_DIALECTS, f"{name} declares an unknown dialect {dialect!r}"
