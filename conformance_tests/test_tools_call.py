"""Tools profile, unit tools-call: ``tools/call`` arguments, unknown tools, failures, the
shape of results, time budgets, idempotent tools."""

from __future__ import annotations

import time
from typing import Any

import pytest
from wire import Target, check_error, pointers

# Valid arguments for every synchronous fixture tool (the spec's fixture table).
SYNC_CALLS: dict[str, dict[str, Any]] = {
    "echo": {"text": "hello"},
    "add": {"a": 2, "b": 3.5},
    "slow": {"ms": 1},
    "actuation_count": {},
    "stop": {},
    "measure": {"asset_id": "fixture-asset-1"},
}
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', '.py", line')


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def card_tools(target: Target) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in target.result("agent/card").get("tools", [])}


# -- ALP-TOOL-006: name and arguments ------------------------------------------------------


@pytest.mark.req("ALP-TOOL-006")
def test_absent_arguments_mean_an_empty_object(target: Target) -> None:
    counted = target.result("tools/call", {"name": "actuation_count"})
    assert isinstance(counted["output"]["count"], int)
    absent = target.error("tools/call", {"name": "echo"})
    empty = target.error("tools/call", {"name": "echo", "arguments": {}})
    assert pointers(check_error(absent, "invalid_tool_input", tool="echo")) == pointers(
        check_error(empty, "invalid_tool_input", tool="echo")
    )


@pytest.mark.req("ALP-TOOL-006")
@pytest.mark.parametrize(
    "arguments",
    ["go", 5, 1.5, True, None, [], [{}], ["stop"]],
    ids=["string", "integer", "number", "true", "null", "empty-array", "array", "array-of-str"],
)
def test_arguments_that_are_not_an_object_get_invalid_params_and_nothing_runs(
    target: Target, arguments: Any
) -> None:
    before = actuations(target)
    response = target.rpc("tools/call", {"name": "stop", "arguments": arguments})
    assert "result" not in response, f"arguments {arguments!r} were accepted"
    check_error(response["error"], "invalid_params")
    assert actuations(target) == before


# -- ALP-TOOL-007: unknown tools -----------------------------------------------------------


@pytest.mark.req("ALP-TOOL-007")
@pytest.mark.parametrize(
    "name", ["ad", "Echo", "ECHO", "echo_", "echo.v2", "no-such-tool", "t" * 128, "_", "0"]
)
def test_an_unknown_tool_gets_tool_not_found_never_a_result(target: Target, name: str) -> None:
    response = target.rpc("tools/call", {"name": name, "arguments": {}})
    assert "result" not in response, f"{name!r} answered with a result: {response['result']}"
    check_error(response["error"], "tool_not_found", tool=name)


@pytest.mark.req("ALP-TOOL-007")
def test_an_unknown_tool_is_not_found_whatever_its_arguments(target: Target) -> None:
    for arguments in ({"text": "hi"}, {"a": 1, "b": 2}, {}):
        error = target.error("tools/call", {"name": "ad", "arguments": arguments})
        check_error(error, "tool_not_found", tool="ad")


# -- ALP-TOOL-011: failing tools -----------------------------------------------------------


@pytest.mark.req("ALP-TOOL-011")
@pytest.mark.parametrize("arguments", [{}, {"reason": "x"}, {"n": [1, 2, {"deep": True}]}])
def test_a_failing_tool_gets_tool_execution_error_never_a_result(
    target: Target, arguments: dict[str, Any]
) -> None:
    response = target.rpc("tools/call", {"name": "fail", "arguments": arguments})
    assert "result" not in response, f"a failure answered with a result: {response['result']}"
    check_error(response["error"], "tool_execution_error", tool="fail")


@pytest.mark.req("ALP-TOOL-011")
def test_the_fixture_failure_has_its_message(target: Target) -> None:
    error = target.error("tools/call", {"name": "fail", "arguments": {}})
    check_error(error, "tool_execution_error", tool="fail")
    assert error["message"] == "fixture failure"


# -- ALP-TOOL-012 / ALP-TOOL-013: the shape of results ------------------------------------


def _exactly_one(result: dict[str, Any]) -> str:
    present = [member for member in ("output", "task") if result.get(member) is not None]
    if "output" in result and result["output"] is None:
        present.append("output")
    assert len(present) == 1, f"the result has {present or 'neither'}: {result}"
    return present[0]


@pytest.mark.req("ALP-TOOL-012")
def test_a_result_has_exactly_one_of_output_and_task(target: Target) -> None:
    for name, arguments in SYNC_CALLS.items():
        result = target.result("tools/call", {"name": name, "arguments": arguments})
        assert _exactly_one(result) == "output", name
    for name, arguments in (("long_task", {"steps": 1, "step_ms": 0}), ("ask", {"prompt": "?"})):
        result = target.result("tools/call", {"name": name, "arguments": arguments})
        assert _exactly_one(result) == "task", name
        target.rpc("tasks/cancel", {"task_id": result["task"]["id"]})


@pytest.mark.req("ALP-TOOL-013")
def test_sync_tools_without_approval_answer_with_output_never_a_task(target: Target) -> None:
    tools = card_tools(target)
    sync = [
        name
        for name, tool in tools.items()
        if tool.get("execution", "sync") == "sync" and not tool.get("requires_approval", False)
    ]
    assert set(sync) == set(SYNC_CALLS) | {"fail"}, sync
    for name in sync:
        response = target.rpc("tools/call", {"name": name, "arguments": SYNC_CALLS.get(name, {})})
        if "error" in response:
            assert name == "fail", response["error"]
            continue
        assert response["result"].get("task") is None, f"{name} answered with a task"
        assert "output" in response["result"], name


@pytest.mark.req("ALP-TOOL-013")
def test_the_sync_fixture_tools_compute_what_the_spec_says(target: Target) -> None:
    def output(name: str, arguments: dict[str, Any]) -> Any:
        return target.result("tools/call", {"name": name, "arguments": arguments})["output"]

    assert output("echo", {"text": "héllo ✓"}) == {"text": "héllo ✓"}
    assert output("add", {"a": 2, "b": 3}) == {"sum": 5}
    assert output("add", {"a": -1.5, "b": 0.25}) == {"sum": -1.25}
    assert output("slow", {"ms": 20}) == {"slept_ms": 20}
    count = output("actuation_count", {})["count"]
    assert output("stop", {}) == {"stopped": True}
    assert output("actuation_count", {}) == {"count": count + 1}
    measured = output("measure", {"asset_id": "a-1"})
    assert {k: v for k, v in measured.items() if k != "source_ts"} == {
        "value": 21.5,
        "unit": "CEL",
        "quality": "good",
        "asset_id": "a-1",
    }


# -- ALP-TOOL-016: timeout_ms --------------------------------------------------------------


@pytest.mark.req("ALP-TOOL-016")
def test_timeout_ms_bounds_calls_without_a_deadline(target: Target) -> None:
    """The fixture's tools declare no ``timeout_ms``: a call without a deadline is then not
    cut short. Where ``slow`` declares one, a call that sleeps longer without a deadline
    ends in ``deadline_exceeded`` (``started`` true) about ``timeout_ms`` after receipt."""
    slow = card_tools(target)["slow"]
    budget = slow.get("timeout_ms")
    if budget is None:
        result = target.rpc("tools/call", {"name": "slow", "arguments": {"ms": 300}}, deadline=None)
        assert result.get("result") == {"output": {"slept_ms": 300}}, result
        return
    started = time.monotonic()
    response = target.rpc(
        "tools/call", {"name": "slow", "arguments": {"ms": budget + 2000}}, deadline=None
    )
    took = time.monotonic() - started
    check_error(response.get("error"), "deadline_exceeded", started=True)
    assert took < budget / 1000 + 1.0


# -- ALP-TOOL-017 (may): idempotent tools --------------------------------------------------


@pytest.mark.req("ALP-TOOL-017")
def test_idempotent_tools_called_twice_give_the_same_output(target: Target) -> None:
    tools = card_tools(target)
    for name in ("echo", "add", "slow", "measure"):
        assert tools[name].get("idempotent") is True, name
        params = {"name": name, "arguments": SYNC_CALLS[name]}
        first = target.result("tools/call", params)["output"]
        second = target.result("tools/call", params)["output"]
        first.pop("source_ts", None)
        second.pop("source_ts", None)
        assert first == second, name


# -- ALP-TOOL-018 (should): failure messages -----------------------------------------------


@pytest.mark.req("ALP-TOOL-018")
def test_tool_failure_messages_are_plain_words_without_secrets(target: Target) -> None:
    error = target.error("tools/call", {"name": "fail", "arguments": {}}, auth="s3cret-x")
    message = error["message"]
    assert message.strip() != ""
    assert message == "fixture failure"
    for marker in (*TRACE_MARKERS, "s3cret-x"):
        assert marker not in str(error)
