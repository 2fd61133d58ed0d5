"""Tasks profile, units tasks-subscribe, tasks-cancel, tasks-input and tasks-list."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from wire import Target
from wire import all_task_events as all_events
from wire import start_task as start


def later(seconds: float, action: Any) -> threading.Thread:
    """Run ``action`` on its own thread after ``seconds``."""

    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def working(target: Target, task_id: str) -> dict[str, Any]:
    """Wait until a long_task has reported progress (it is ``working``)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = all_events(target, task_id)
        if any(e["kind"] == "progress" for e in events):
            return dict(target.result("tasks/get", {"task_id": task_id}))
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never reported progress")


# -- tasks/subscribe ------------------------------------------------------------------------


@pytest.mark.req("ALP-TASK-010")
def test_subscribe_resumes_after_any_seq(target: Target) -> None:
    task = start(target, "long_task", {"steps": 5, "step_ms": 0})
    final = target.wait_task(task["id"])
    events = all_events(target, task["id"])
    assert len(events) == 8
    for after in range(len(events) + 1):
        page = target.result("tasks/subscribe", {"task_id": task["id"], "after_seq": after})
        assert [e["seq"] for e in page["events"]] == list(range(after + 1, 9))
        assert page["events"] == events[after:]
        assert page["task"] == final


@pytest.mark.req("ALP-TASK-011")
def test_subscribe_waits_up_to_wait_ms(target: Target) -> None:
    task = start(target, "ask", {"prompt": "waiting"})
    waiting = target.wait_task(task["id"], until={"input-required"})
    started = time.monotonic()
    page = target.result(
        "tasks/subscribe", {"task_id": task["id"], "after_seq": waiting["seq"], "wait_ms": 400}
    )
    elapsed = time.monotonic() - started
    assert page["events"] == []
    assert page["task"]["state"] == "input-required"
    assert 0.35 <= elapsed < 3.0, elapsed
    target.result("tasks/cancel", {"task_id": task["id"]})


@pytest.mark.req("ALP-TASK-011")
def test_subscribe_returns_as_soon_as_an_event_exists(target: Target) -> None:
    task = start(target, "ask", {"prompt": "answer soon"})
    waiting = target.wait_task(task["id"], until={"input-required"})
    other = Target(target.url, sender=target.sender)
    try:
        thread = later(
            0.3,
            lambda: other.result(
                "tasks/input", {"task_id": task["id"], "input": {"answer": "now"}}
            ),
        )
        started = time.monotonic()
        page = target.result(
            "tasks/subscribe",
            {"task_id": task["id"], "after_seq": waiting["seq"], "wait_ms": 20000},
        )
        elapsed = time.monotonic() - started
        thread.join(5)
    finally:
        other.close()
    assert 0.2 <= elapsed < 5.0, elapsed
    assert page["events"]
    assert page["events"][0]["seq"] == waiting["seq"] + 1
    assert page["events"][0]["state"] == "working"


@pytest.mark.req("ALP-TASK-012")
def test_subscribe_on_a_terminal_task_returns_at_once(target: Target) -> None:
    task = start(target, "long_task", {"steps": 1, "step_ms": 0})
    final = target.wait_task(task["id"])
    for after in (final["seq"], final["seq"] + 5):
        started = time.monotonic()
        page = target.result(
            "tasks/subscribe", {"task_id": task["id"], "after_seq": after, "wait_ms": 10000}
        )
        assert time.monotonic() - started < 1.0
        assert page["events"] == []
        assert page["task"]["state"] == "completed"


# -- tasks/cancel ---------------------------------------------------------------------------


@pytest.mark.req("ALP-TASK-013")
def test_cancel_stops_a_working_task(target: Target) -> None:
    task = start(target, "long_task", {"steps": 100, "step_ms": 100})
    working(target, task["id"])
    canceled = target.result("tasks/cancel", {"task_id": task["id"], "reason": "test"})
    assert canceled["id"] == task["id"]
    assert canceled["state"] == "canceled"
    events = all_events(target, task["id"])
    assert events[-1]["kind"] == "state"
    assert events[-1]["state"] == "canceled"
    assert events[-1]["seq"] == canceled["seq"]
    time.sleep(0.4)  # several steps' worth: no progress after the cancel
    assert all_events(target, task["id"]) == events
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert (snapshot["state"], snapshot["seq"]) == ("canceled", canceled["seq"])
    assert "output" not in snapshot or snapshot["output"] is None


@pytest.mark.req("ALP-TASK-013")
def test_cancel_a_task_waiting_for_input(target: Target) -> None:
    task = start(target, "ask", {"prompt": "cancel me"})
    target.wait_task(task["id"], until={"input-required"})
    canceled = target.result("tasks/cancel", {"task_id": task["id"]})
    assert canceled["state"] == "canceled"
    error = target.error("tasks/input", {"task_id": task["id"], "input": {"answer": "late"}})
    assert (error["code"], error["data"]["state"]) == (-32015, "canceled")
    assert target.result("tasks/get", {"task_id": task["id"]})["state"] == "canceled"


@pytest.mark.req("ALP-TASK-014")
def test_cancel_of_a_terminal_task_is_not_cancelable(target: Target) -> None:
    done = start(target, "long_task", {"steps": 1, "step_ms": 0})
    target.wait_task(done["id"])
    canceled = start(target, "ask", {"prompt": "x"})
    target.wait_task(canceled["id"], until={"input-required"})
    target.result("tasks/cancel", {"task_id": canceled["id"]})
    for task_id, state in ((done["id"], "completed"), (canceled["id"], "canceled")):
        before = target.result("tasks/get", {"task_id": task_id})
        error = target.error("tasks/cancel", {"task_id": task_id})
        assert error["code"] == -32002
        assert error["data"]["name"] == "task_not_cancelable"
        assert error["data"]["task_id"] == task_id
        assert error["data"]["state"] == state
        assert target.result("tasks/get", {"task_id": task_id}) == before


# -- tasks/input ----------------------------------------------------------------------------


@pytest.mark.req("ALP-TASK-015")
def test_input_to_a_task_not_waiting_for_input(target: Target) -> None:
    task = start(target, "long_task", {"steps": 100, "step_ms": 50})
    working(target, task["id"])
    error = target.error("tasks/input", {"task_id": task["id"], "input": {"answer": "x"}})
    assert error["code"] == -32015
    assert error["data"]["name"] == "invalid_task_state"
    assert error["data"]["task_id"] == task["id"]
    assert error["data"]["state"] == "working"
    events = all_events(target, task["id"])
    assert all(e["state"] == "working" for e in events[1:])
    assert [e["kind"] for e in events[2:]] == ["progress"] * (len(events) - 2)
    target.result("tasks/cancel", {"task_id": task["id"]})


@pytest.mark.req("ALP-TASK-016")
def test_input_to_a_task_waiting_for_approval(target: Target, fresh: Target) -> None:
    task = start(target, "actuate", {"setpoint": 1.5})
    assert task["state"] == "input-required"
    error = target.error("tasks/input", {"task_id": task["id"], "input": {"approve": True}})
    assert error["code"] == -32015
    assert error["data"]["name"] == "invalid_task_state"
    assert (error["data"]["task_id"], error["data"]["state"]) == (task["id"], "input-required")
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert snapshot["state"] == "input-required"
    assert snapshot["seq"] == task["seq"]
    assert snapshot["input_request"]["kind"] == "approval"
    assert snapshot["input_request"].get("approved_by", []) == []
    fresh.result("tasks/approve", {"task_id": task["id"], "decision": "reject"})


@pytest.mark.req("ALP-TASK-017")
def test_input_is_validated_against_the_input_schema(target: Target) -> None:
    task = start(target, "ask", {"prompt": "colour?"})
    waiting = target.wait_task(task["id"], until={"input-required"})
    for bad, where in (
        ({"answer": 5}, ["/input/answer"]),
        ({}, ["/input"]),
        ("blue", ["/input"]),
        (None, ["/input"]),
    ):
        error = target.error("tasks/input", {"task_id": task["id"], "input": bad})
        assert error["code"] == -32602, bad
        assert error["data"]["name"] == "invalid_params", bad
        assert sorted(e["pointer"] for e in error["data"]["errors"]) == where, bad
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert (snapshot["state"], snapshot["seq"]) == ("input-required", waiting["seq"])
    accepted = target.result("tasks/input", {"task_id": task["id"], "input": {"answer": "blue"}})
    assert accepted["id"] == task["id"]
    assert accepted["state"] in ("working", "completed")
    final = target.wait_task(task["id"])
    assert final["state"] == "completed"
    assert final["output"] == {"answer": "blue"}
    events = all_events(target, task["id"], after_seq=waiting["seq"])
    assert [e["state"] for e in events] == ["working", "completed"]


# -- tasks/list -----------------------------------------------------------------------------


def pages(target: Target, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of ``tasks/list``; checks that a cursor is given exactly when more remain."""
    out: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        page = target.result("tasks/list", {**params, **({"cursor": cursor} if cursor else {})})
        out.append(page["tasks"])
        assert len(page["tasks"]) <= params.get("limit", 100)
        cursor = page.get("next_cursor")
        if cursor is None:
            return out
        assert len(out) < 10_000


@pytest.mark.req("ALP-TASK-018")
def test_list_filters_by_state_and_pages(target: Target) -> None:
    waiting = [start(target, "ask", {"prompt": f"q{i}"}) for i in range(3)]
    for task in waiting:
        target.wait_task(task["id"], until={"input-required"})
    done = start(target, "long_task", {"steps": 1, "step_ms": 0})
    target.wait_task(done["id"])
    try:
        listed = pages(target, state="input-required", limit=2)
        assert all(listed[1:]), "a page with next_cursor must be followed by a non-empty one"
        flat = [task for page in listed for task in page]
        ids = [task["id"] for task in flat]
        assert len(ids) == len(set(ids))
        assert {task["id"] for task in waiting} <= set(ids)
        assert done["id"] not in ids
        assert all(task["state"] == "input-required" for task in flat)
        assert len(listed) >= 2  # at least three tasks in pages of two
        completed = [t["id"] for page in pages(target, state="completed") for t in page]
        assert done["id"] in completed
        everything = [t["id"] for page in pages(target, limit=1000) for t in page]
        assert {done["id"], *(task["id"] for task in waiting)} <= set(everything)
        one = target.result("tasks/list", {"limit": 1})
        assert len(one["tasks"]) == 1
        assert one.get("next_cursor") is not None  # at least four tasks exist
    finally:
        for task in waiting:
            target.result("tasks/cancel", {"task_id": task["id"]})
