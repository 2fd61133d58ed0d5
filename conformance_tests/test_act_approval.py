"""Safe-actuation profile, units act-declaration and act-approval: actuating tools, the
approval task, ``tasks/approve`` (approve, reject, wrong state, missing sender,
self-approval)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from wire import Target
from wire import all_task_events as all_events


def count(target: Target) -> int:
    """The fixture's actuation counter."""
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def actuating_frame(target: Target, tool: str, arguments: dict[str, Any], **meta: Any) -> dict:
    """A ``tools/call`` frame of an actuating tool as the suite sends it: always with an
    idempotency key (a fresh one unless given)."""
    meta.setdefault("idempotency_key", f"conf-act-{uuid.uuid4().hex}")
    return target.frame("tools/call", {"name": tool, "arguments": arguments}, **meta)


def actuate(target: Target, setpoint: float = 2.5, **meta: Any) -> dict[str, Any]:
    """Call ``actuate``; the waiting task it returns."""
    frame = actuating_frame(target, "actuate", {"setpoint": setpoint}, **meta)
    response = target.post(json.dumps(frame).encode()).json()
    assert "error" not in response, response
    assert set(response["result"]) == {"task"}, response
    task: dict[str, Any] = response["result"]["task"]
    return task


def approve(target: Target, task_id: str, decision: str = "approve", **meta: Any) -> dict:
    return target.rpc("tasks/approve", {"task_id": task_id, "decision": decision}, **meta)


def still_waiting(target: Target, task: dict[str, Any]) -> None:
    """The approval task is unchanged: still waiting, no approver counted."""
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert snapshot["state"] == "input-required"
    assert snapshot["seq"] == task["seq"]
    assert snapshot["input_request"]["kind"] == "approval"
    assert snapshot["input_request"].get("approved_by", []) == []


def tools_of(target: Target) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = target.result("tools/list", {"cursor": cursor} if cursor else {})
        tools += page["tools"]
        cursor = page.get("next_cursor")
        if cursor is None:
            return tools


# -- act-declaration ------------------------------------------------------------------------


@pytest.mark.req("ALP-ACT-001")
def test_tools_that_actuate_are_declared_actuates(target: Target) -> None:
    """``actuate`` and ``stop`` change the (simulated) equipment and say so; calling every
    other tool leaves the actuation counter as it was."""
    tools = {tool["name"]: tool for tool in tools_of(target)}
    assert tools["actuate"]["safety"] == "actuates"
    assert tools["stop"]["safety"] == "actuates"
    before = count(target)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("echo", {"text": "x"}),
        ("add", {"a": 1, "b": 2}),
        ("slow", {"ms": 0}),
        ("measure", {"asset_id": "fixture-asset-1"}),
        ("actuation_count", {}),
        ("fail", {}),
    ]
    for name, arguments in calls:
        assert tools[name].get("safety", "read-only") == "read-only"
        target.rpc("tools/call", {"name": name, "arguments": arguments})
    task = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": 1, "step_ms": 0}}
    )["task"]
    target.wait_task(task["id"])
    assert count(target) == before
    frame = actuating_frame(target, "stop", {})
    assert target.post(json.dumps(frame).encode()).json()["result"] == {"output": {"stopped": True}}
    assert count(target) == before + 1


@pytest.mark.req("ALP-ACT-002")
def test_requires_approval_only_on_actuating_tools(target: Target, card: dict[str, Any]) -> None:
    for tool in tools_of(target) + card.get("tools", []):
        if tool.get("requires_approval", False):
            assert tool.get("safety") == "actuates", tool["name"]
    assert any(tool.get("requires_approval") for tool in card["tools"])


@pytest.mark.req("ALP-ACT-003")
def test_stop_never_waits_for_approval(target: Target) -> None:
    stop = next(tool for tool in tools_of(target) if tool["name"] == "stop")
    assert stop["safety"] == "actuates"
    assert stop.get("requires_approval", False) is False
    before = count(target)
    frame = actuating_frame(target, "stop", {})
    response = target.post(json.dumps(frame).encode()).json()
    assert response["result"] == {"output": {"stopped": True}}
    assert count(target) == before + 1


# -- act-approval ---------------------------------------------------------------------------


@pytest.mark.req("ALP-ACT-004", "ALP-ACT-015")
def test_call_needing_approval_returns_a_waiting_task(target: Target, fresh: Target) -> None:
    """Over a binding that can return tasks (HTTP), the call is answered with the waiting
    task, not ``approval_required``; the tool does not run while it waits."""
    before = count(target)
    task = actuate(target, setpoint=3.25)
    assert task["tool"] == "actuate"
    assert task["state"] == "input-required"
    request = task["input_request"]
    assert request["kind"] == "approval"
    assert request["approvals_needed"] == 1
    assert request.get("approved_by", []) == []
    time.sleep(0.3)
    still_waiting(target, task)
    assert count(target) == before
    approve(fresh, task["id"], "reject")


@pytest.mark.req("ALP-ACT-004")
def test_call_with_invalid_input_is_not_held_for_approval(target: Target) -> None:
    before = count(target)
    frame = actuating_frame(target, "actuate", {"setpoint": "high"})
    error = target.post(json.dumps(frame).encode()).json()["error"]
    assert (error["code"], error["data"]["name"]) == (-32012, "invalid_tool_input")
    assert count(target) == before


@pytest.mark.req("ALP-ACT-005")
def test_approval_runs_the_tool_exactly_once(target: Target, fresh: Target) -> None:
    before = count(target)
    task = actuate(target, setpoint=4.5)
    response = approve(fresh, task["id"], reason="checked")
    assert "error" not in response, response
    approved = response["result"]
    assert approved["id"] == task["id"]
    if approved["state"] == "input-required":
        assert fresh.sender in approved["input_request"]["approved_by"]
    else:
        assert approved["state"] in ("working", "completed")
    final = target.wait_task(task["id"])
    assert final["state"] == "completed"
    assert final["output"] == {"applied": 4.5}
    states = [e["state"] for e in all_events(target, task["id"]) if e["kind"] == "state"]
    assert states[-3:] == ["input-required", "working", "completed"]
    assert count(target) == before + 1
    time.sleep(0.2)
    assert count(target) == before + 1


@pytest.mark.req("ALP-ACT-006", "ALP-ACT-005")
def test_a_repeated_approval_by_the_same_approver_does_not_count_again(
    target: Target, fresh: Target
) -> None:
    """Two approvals by the same approver at once: each returns the task or, once the task
    has left ``input-required``, ``invalid_task_state``; the tool runs once."""
    before = count(target)
    task = actuate(target, setpoint=5.5)
    responses: list[dict[str, Any]] = []

    def approve_on_own_connection() -> None:
        client = Target(fresh.url, sender=fresh.sender)
        try:
            responses.append(approve(client, task["id"]))
        finally:
            client.close()

    threads = [threading.Thread(target=approve_on_own_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(responses) == 2
    for response in responses:
        if "error" in response:
            assert response["error"]["code"] == -32015, response
            assert response["error"]["data"]["task_id"] == task["id"]
        else:
            assert response["result"]["id"] == task["id"]
    assert any("result" in r for r in responses)
    assert target.wait_task(task["id"])["state"] == "completed"
    assert count(target) == before + 1


@pytest.mark.req("ALP-ACT-007")
def test_reject_ends_the_task_and_the_tool_never_runs(target: Target, fresh: Target) -> None:
    before = count(target)
    task = actuate(target, setpoint=6.5)
    forbidden = approve(target, task["id"])  # self-approval: refused, not counted
    assert forbidden["error"]["code"] == -32022
    rejected = approve(fresh, task["id"], "reject", reason="not now")
    assert rejected["result"]["id"] == task["id"]
    assert rejected["result"]["state"] == "rejected"
    events = all_events(target, task["id"])
    assert (events[-1]["kind"], events[-1]["state"]) == ("state", "rejected")
    time.sleep(0.3)
    assert target.result("tasks/get", {"task_id": task["id"]})["state"] == "rejected"
    assert all_events(target, task["id"]) == events
    late = approve(fresh, task["id"])
    assert late["error"]["code"] == -32015
    assert late["error"]["data"]["state"] == "rejected"
    assert count(target) == before


@pytest.mark.req("ALP-ACT-008")
def test_approve_on_a_task_not_waiting_for_approval(target: Target, fresh: Target) -> None:
    running = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": 100, "step_ms": 50}}
    )["task"]
    asking = target.result("tools/call", {"name": "ask", "arguments": {"prompt": "?"}})["task"]
    target.wait_task(asking["id"], until={"input-required"})
    target.wait_task(running["id"], until={"working"})
    done = actuate(target)
    approve(fresh, done["id"])
    target.wait_task(done["id"])
    try:
        for task_id, state in (
            (running["id"], "working"),
            (asking["id"], "input-required"),
            (done["id"], "completed"),
        ):
            for decision in ("approve", "reject"):
                before = target.result("tasks/get", {"task_id": task_id})
                error = approve(fresh, task_id, decision)["error"]
                assert error["code"] == -32015, (state, decision)
                assert error["data"]["name"] == "invalid_task_state"
                assert error["data"]["task_id"] == task_id
                assert error["data"]["state"] == state
                after = target.result("tasks/get", {"task_id": task_id})
                if state != "working":
                    assert after == before
    finally:
        target.rpc("tasks/cancel", {"task_id": running["id"]})
        target.rpc("tasks/cancel", {"task_id": asking["id"]})


@pytest.mark.req("ALP-ACT-009")
def test_approve_without_sender_is_forbidden_and_not_counted(target: Target, fresh: Target) -> None:
    before = count(target)
    task = actuate(target)
    for decision in ("approve", "reject"):
        response = approve(fresh, task["id"], decision, sender=None)
        assert response["error"]["code"] == -32022, decision
        assert response["error"]["data"]["name"] == "forbidden", decision
        frame = fresh.frame("tasks/approve", {"task_id": task["id"], "decision": decision})
        frame["params"]["_meta"]["sender"] = None  # null is treated as absent
        error = fresh.post(json.dumps(frame).encode()).json()["error"]
        assert (error["code"], error["data"]["name"]) == (-32022, "forbidden"), decision
    still_waiting(target, task)
    assert count(target) == before
    assert "result" in approve(fresh, task["id"])
    assert target.wait_task(task["id"])["state"] == "completed"
    assert count(target) == before + 1


@pytest.mark.req("ALP-ACT-010")
def test_self_approval_is_forbidden_and_not_counted(target: Target, fresh: Target) -> None:
    before = count(target)
    task = actuate(target)
    response = approve(target, task["id"])
    assert response["error"]["code"] == -32022
    assert response["error"]["data"]["name"] == "forbidden"
    twin = Target(target.url, sender=target.sender)  # same identity, other connection
    try:
        assert approve(twin, task["id"])["error"]["code"] == -32022
    finally:
        twin.close()
    still_waiting(target, task)
    time.sleep(0.2)
    assert count(target) == before
    approve(fresh, task["id"], "reject")
    assert count(target) == before


@pytest.mark.req("ALP-ACT-011")
def test_an_approver_the_policy_does_not_permit_is_forbidden(target: Target, fresh: Target) -> None:
    """Without identities (no secure mode) the fixture's approval policy permits every
    approver except the caller of the actuation: that one is refused with ``forbidden``
    and does not count, on every attempt, while a permitted approver's decision counts.
    (The secure-mode ``guest`` is checked with the security tests.)"""
    before = count(target)
    task = actuate(target, setpoint=9.5)
    for _ in range(3):
        response = approve(target, task["id"], reason="mine")
        assert (response["error"]["code"], response["error"]["data"]["name"]) == (
            -32022,
            "forbidden",
        )
    still_waiting(target, task)
    assert count(target) == before
    assert approve(fresh, task["id"])["result"]["id"] == task["id"]
    assert target.wait_task(task["id"])["output"] == {"applied": 9.5}
    assert count(target) == before + 1
