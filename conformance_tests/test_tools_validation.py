"""Tools profile, unit tools-validation: arguments validated before the tool runs, pointer
lists, outputs validated before they are returned."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from wire import Target, check_error, in_seconds, pointers


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def card_tools(target: Target) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in target.result("agent/card").get("tools", [])}


def input_error(target: Target, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The data of the ``invalid_tool_input`` a call must get (a deadline bounds the call, in
    case a target runs the tool after all)."""
    response = target.rpc(
        "tools/call", {"name": tool, "arguments": arguments}, deadline=in_seconds(3)
    )
    assert "result" not in response, f"{tool}({arguments!r}) ran: {response['result']}"
    return check_error(response["error"], "invalid_tool_input", tool=tool)


# -- ALP-TOOL-008: validation before the tool runs -----------------------------------------


@pytest.mark.req("ALP-TOOL-008")
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("stop", {"force": True}),
        ("stop", {"": 1}),
        ("actuation_count", {"reset": True}),
    ],
    ids=["stop-extra", "stop-empty-name", "count-extra"],
)
def test_invalid_arguments_get_invalid_tool_input_and_the_tool_does_not_run(
    target: Target, tool: str, arguments: dict[str, Any]
) -> None:
    before = actuations(target)
    input_error(target, tool, arguments)
    assert actuations(target) == before


@pytest.mark.req("ALP-TOOL-008")
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("echo", {}),
        ("echo", {"text": 5}),
        ("echo", {"text": None}),
        ("add", {"a": "1", "b": 2}),
        ("add", {"a": 1, "b": None}),
        ("slow", {"ms": 60001}),
        ("measure", {"asset_id": ""}),
        ("ask", {"prompt": 1}),
        ("actuate", {"setpoint": "high"}),
    ],
    ids=lambda v: v if isinstance(v, str) else json.dumps(v),
)
def test_arguments_breaking_the_input_schema_get_invalid_tool_input(
    target: Target, tool: str, arguments: dict[str, Any]
) -> None:
    input_error(target, tool, arguments)


@pytest.mark.req("ALP-TOOL-008")
def test_invalid_arguments_to_a_task_tool_create_no_task(target: Target) -> None:
    before = {t["id"] for t in target.result("tasks/list", {"limit": 1000})["tasks"]}
    input_error(target, "long_task", {"steps": 0, "step_ms": 0})
    input_error(target, "ask", {})
    after = {t["id"] for t in target.result("tasks/list", {"limit": 1000})["tasks"]}
    assert after <= before, f"tasks were created: {after - before}"


@pytest.mark.req("ALP-TOOL-008")
def test_a_slow_tool_with_invalid_input_is_refused_without_running(target: Target) -> None:
    started = time.monotonic()
    input_error(target, "slow", {"ms": "3000"})
    input_error(target, "slow", {"ms": 3000.5})
    assert time.monotonic() - started < 1.0, "slow ran on invalid arguments"


# -- ALP-TOOL-009: pointer lists -----------------------------------------------------------

POINTER_CASES = {
    "add-both-wrong": ("add", {"a": "x", "b": "y"}, {"/a", "/b"}),
    "add-missing-b": ("add", {"a": 1}, {""}),
    "add-missing-both": ("add", {}, {""}),
    "slow-below-minimum": ("slow", {"ms": -1}, {"/ms"}),
    "slow-above-maximum": ("slow", {"ms": 60001}, {"/ms"}),
    "slow-string": ("slow", {"ms": "5"}, {"/ms"}),
    "slow-fraction": ("slow", {"ms": 1.5}, {"/ms"}),
    "slow-boolean": ("slow", {"ms": True}, {"/ms"}),
    "long_task-above-maximum": ("long_task", {"steps": 101, "step_ms": 0}, {"/steps"}),
    "long_task-both-out-of-range": (
        "long_task",
        {"steps": 0, "step_ms": 10001},
        {"/steps", "/step_ms"},
    ),
    "long_task-missing": ("long_task", {"steps": 1}, {""}),
    "measure-empty": ("measure", {"asset_id": ""}, {"/asset_id"}),
    "echo-array": ("echo", {"text": ["a"]}, {"/text"}),
    "echo-missing": ("echo", {}, {""}),
    "add-wrong-and-missing": ("add", {"a": []}, {"", "/a"}),
}


@pytest.mark.req("ALP-TOOL-009")
@pytest.mark.parametrize(
    ("tool", "arguments", "expected"), POINTER_CASES.values(), ids=POINTER_CASES.keys()
)
def test_invalid_tool_input_points_at_each_failing_location(
    target: Target, tool: str, arguments: dict[str, Any], expected: set[str]
) -> None:
    details = input_error(target, tool, arguments)
    found = pointers(details)
    assert found, "data.errors is empty"
    missing = expected - set(found)
    assert not missing, f"no entry for {sorted(missing)} in {details['errors']!r}"
    for pointer in found:
        assert pointer == "" or pointer.startswith("/"), f"not an RFC 6901 pointer: {pointer!r}"


@pytest.mark.req("ALP-TOOL-009")
def test_a_member_that_is_not_allowed_is_reported_within_arguments(target: Target) -> None:
    """``additionalProperties: false`` fails at the object or at the extra member."""
    details = input_error(target, "echo", {"text": "a", "extra": 1})
    found = pointers(details)
    assert found
    assert set(found) <= {"", "/extra"}, found


@pytest.mark.req("ALP-TOOL-009")
def test_pointers_are_relative_to_arguments_not_to_params(target: Target) -> None:
    details = input_error(target, "add", {"a": "x", "b": 1})
    found = pointers(details)
    assert "/a" in found
    assert not any(p.startswith(("/arguments", "/params")) for p in found), found


# -- ALP-TOOL-010: outputs validated before they are returned ------------------------------

SAMPLE_CALLS: dict[str, dict[str, Any]] = {
    "echo": {"text": ""},
    "add": {"a": 0.1, "b": 0.2},
    "slow": {"ms": 2},
    "actuation_count": {},
    "stop": {},
    "measure": {"asset_id": "fixture-asset-1"},
}


@pytest.mark.req("ALP-TOOL-010")
def test_every_returned_output_validates_against_the_output_schema(target: Target) -> None:
    tools = card_tools(target)
    for name, arguments in SAMPLE_CALLS.items():
        output = target.result("tools/call", {"name": name, "arguments": arguments})["output"]
        validator = Draft202012Validator(tools[name].get("output_schema", {}))
        errors = [e.message for e in validator.iter_errors(output)]
        assert errors == [], f"{name} returned invalid output {output!r}: {errors}"


@pytest.mark.req("ALP-TOOL-010")
def test_an_output_that_cannot_validate_is_never_returned(target: Target) -> None:
    """``add`` of two huge numbers overflows: the sum is no JSON number, so it cannot
    validate against ``{"type": "number"}`` and must not be returned as a result."""
    response = target.rpc("tools/call", {"name": "add", "arguments": {"a": 1e308, "b": 1e308}})
    assert "result" not in response, f"an invalid output was returned: {response['result']}"
    code = response["error"]["code"]
    name = "invalid_tool_output" if code == -32013 else "tool_execution_error"
    check_error(response["error"], name, tool="add")
