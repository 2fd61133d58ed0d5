"""Tools profile, unit tools-task-execution: tools declared ``"execution": "task"``."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from test_ping_card import schema_errors
from wire import Target

TERMINAL = {"completed", "failed", "canceled", "rejected"}


def card_tools(target: Target) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in target.result("agent/card").get("tools", [])}


def output_errors(tool: dict[str, Any], output: Any) -> list[str]:
    validator = Draft202012Validator(tool.get("output_schema", {}))
    return [error.message for error in validator.iter_errors(output)]


@pytest.mark.req("ALP-TOOL-014")
def test_a_task_tool_call_returns_a_task_of_that_tool(target: Target) -> None:
    target.require("tasks")
    response = target.rpc(
        "tools/call", {"name": "long_task", "arguments": {"steps": 2, "step_ms": 0}}
    )
    assert "error" not in response, response["error"]
    result = response["result"]
    assert result.get("output") is None, result
    task = result["task"]
    assert schema_errors("task", task) == []
    assert task["tool"] == "long_task"
    assert isinstance(task["id"], str)


@pytest.mark.req("ALP-TOOL-014")
@pytest.mark.parametrize("steps", [1, 3])
def test_a_task_tool_completes_with_output_that_validates(target: Target, steps: int) -> None:
    target.require("tasks")
    tool = card_tools(target)["long_task"]
    created = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": steps, "step_ms": 5}}
    )
    final = target.wait_task(created["task"]["id"])
    assert final["state"] == "completed", final
    assert final["tool"] == "long_task"
    assert final["output"] == {"steps": steps}
    assert output_errors(tool, final["output"]) == []


@pytest.mark.req("ALP-TOOL-014")
def test_an_input_task_tool_returns_its_task_and_completes_with_valid_output(
    target: Target,
) -> None:
    target.require("tasks")
    tool = card_tools(target)["ask"]
    created = target.result("tools/call", {"name": "ask", "arguments": {"prompt": "Colour?"}})
    task = created["task"]
    assert task["tool"] == "ask"
    assert schema_errors("task", task) == []
    waiting = target.wait_task(task["id"], until={"input-required"} | TERMINAL)
    assert waiting["state"] == "input-required", waiting
    target.result("tasks/input", {"task_id": task["id"], "input": {"answer": "green"}})
    final = target.wait_task(task["id"])
    assert final["state"] == "completed", final
    assert final["output"] == {"answer": "green"}
    assert output_errors(tool, final["output"]) == []


@pytest.mark.req("ALP-TOOL-014")
def test_every_task_tool_answers_with_a_task(target: Target) -> None:
    target.require("tasks")
    arguments = {"long_task": {"steps": 1, "step_ms": 0}, "ask": {"prompt": "x"}}
    task_tools = [n for n, t in card_tools(target).items() if t.get("execution") == "task"]
    assert sorted(task_tools) == sorted(arguments)
    for name in task_tools:
        result = target.result("tools/call", {"name": name, "arguments": arguments[name]})
        assert result.get("output") is None, f"{name} answered with output"
        assert result["task"]["tool"] == name
        target.rpc("tasks/cancel", {"task_id": result["task"]["id"]})


@pytest.mark.req("ALP-TOOL-015")
def test_task_run_tools_end_failed_only_with_a_tool_error(target: Target) -> None:
    target.require("tasks")
    """The fixture has no task-run tool that fails, so a failure cannot be provoked: this
    checks that successful task-run tools never end ``failed``, and that every ``failed``
    task of a task-run tool the target keeps carries a tool error code (-32014, or -32013
    for invalid output)."""
    tools = card_tools(target)
    created = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": 2, "step_ms": 0}}
    )
    final = target.wait_task(created["task"]["id"])
    assert final["state"] == "completed", final
    assert final.get("error") is None
    failed = target.result("tasks/list", {"state": "failed", "limit": 1000})["tasks"]
    for task in failed:
        tool = tools.get(task.get("tool") or "", {})
        if tool.get("execution") != "task":
            continue
        assert task["error"]["code"] in (-32014, -32013), task
