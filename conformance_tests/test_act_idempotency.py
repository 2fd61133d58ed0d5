"""Safe-actuation profile, unit act-idempotency: actuating calls act at most once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from wire import Target


def count(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def key() -> str:
    return f"conf-act-{uuid.uuid4().hex}"


def call(target: Target, tool: str, arguments: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return target.call(tool, arguments, **meta)


@pytest.mark.req("ALP-ACT-012")
def test_repeated_actuate_returns_the_same_task_and_acts_once(
    target: Target, fresh: Target
) -> None:
    before = count(target)
    k = key()
    first = call(target, "actuate", {"setpoint": 7.5}, idempotency_key=k)
    second = call(target, "actuate", {"setpoint": 7.5}, idempotency_key=k)
    assert "result" in first, first
    assert second["result"] == first["result"]
    task_id = first["result"]["task"]["id"]
    assert fresh.result("tasks/approve", {"task_id": task_id, "decision": "approve"})["id"] == (
        task_id
    )
    assert target.wait_task(task_id)["state"] == "completed"
    third = call(target, "actuate", {"setpoint": 7.5}, idempotency_key=k)
    assert "result" in third, third
    assert third["result"]["task"]["id"] == task_id
    assert count(target) == before + 1
    listed = target.result("tasks/list", {"limit": 1000})["tasks"]
    assert [t["id"] for t in listed if t["id"] == task_id] == [task_id]


@pytest.mark.req("ALP-ACT-012")
def test_repeated_stop_returns_the_same_output_and_acts_once(target: Target) -> None:
    before = count(target)
    k = key()
    responses = [call(target, "stop", {}, idempotency_key=k) for _ in range(3)]
    assert all(r["result"] == {"output": {"stopped": True}} for r in responses), responses
    assert count(target) == before + 1
    call(target, "stop", {}, idempotency_key=key())  # a new key is a new command
    assert count(target) == before + 2


@pytest.mark.req("ALP-ACT-012")
def test_same_key_for_a_different_actuation_is_duplicate(target: Target, fresh: Target) -> None:
    before = count(target)
    k = key()
    first = call(target, "actuate", {"setpoint": 1.0}, idempotency_key=k)
    other = call(target, "actuate", {"setpoint": 2.0}, idempotency_key=k)
    error = other["error"]
    assert error["code"] == -32027
    assert error["data"]["name"] == "duplicate"
    assert error["data"]["idempotency_key"] == k
    task_id = first["result"]["task"]["id"]
    fresh.result("tasks/approve", {"task_id": task_id, "decision": "approve"})
    final = target.wait_task(task_id)
    assert final["output"] == {"applied": 1.0}
    assert count(target) == before + 1


@pytest.mark.req("ALP-ACT-012")
def test_repeated_call_from_another_sender_is_another_scope(target: Target, fresh: Target) -> None:
    """The key's scope includes the sender: the same key from another caller is its own
    command (and must be approved on its own)."""
    k = key()
    mine = call(target, "actuate", {"setpoint": 8.0}, idempotency_key=k)["result"]["task"]
    theirs = call(fresh, "actuate", {"setpoint": 8.0}, idempotency_key=k)["result"]["task"]
    assert mine["id"] != theirs["id"]
    for task, approver in ((mine, fresh), (theirs, target)):
        approver.result("tasks/approve", {"task_id": task["id"], "decision": "reject"})


@pytest.mark.req("ALP-ACT-013")
def test_the_suite_sends_actuating_calls_with_a_key(target: Target, card: dict[str, Any]) -> None:
    """Checked on the suite's own client: every call of an actuating tool the suite makes
    in this unit carries ``_meta.idempotency_key``."""
    tools = {t["name"]: t for t in card["tools"]}
    k = key()
    frame = target.frame("tools/call", {"name": "stop", "arguments": {}}, idempotency_key=k)
    assert tools["stop"]["safety"] == "actuates"
    assert frame["params"]["_meta"]["idempotency_key"] == k
    response = target.post(json.dumps(frame).encode()).json()
    assert response["result"] == {"output": {"stopped": True}}
