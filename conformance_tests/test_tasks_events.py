"""Tasks profile, units tasks-events and tasks-lifecycle: task event numbering and content,
states and transitions, ids, retention, ``tasks/get``, deadlines of creating requests."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest
from wire import Target, in_seconds, schema_errors
from wire import all_task_events as all_events
from wire import start_task as start

TERMINAL = {"completed", "failed", "canceled", "rejected"}
ALLOWED = {
    "submitted": {"working", "input-required", "failed", "canceled", "rejected"},
    "working": {"input-required", "completed", "failed", "canceled"},
    "input-required": {"working", "failed", "canceled", "rejected"},
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


def check_transitions(events: list[dict[str, Any]]) -> None:
    """Every change of state follows the transition table; nothing follows a terminal state."""
    state = None
    for event in events:
        if state in TERMINAL:
            raise AssertionError(f"event after terminal state {state}: {event}")
        if state is not None and event["state"] != state:
            assert event["state"] in ALLOWED[state], (state, event)
        state = event["state"]


@pytest.mark.req("ALP-TASK-002", "ALP-TASK-003", "ALP-TASK-004", "ALP-TASK-001")
def test_long_task_events_are_numbered_from_one_without_gaps(target: Target) -> None:
    task = start(target, "long_task", {"steps": 3, "step_ms": 20})
    assert task["tool"] == "long_task"
    final = target.wait_task(task["id"])
    events = all_events(target, task["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["kind"], e["state"]) for e in events] == [
        ("state", "submitted"),
        ("state", "working"),
        ("progress", "working"),
        ("progress", "working"),
        ("progress", "working"),
        ("state", "completed"),
    ]
    assert all(e["task_id"] == task["id"] for e in events)
    assert [e["progress"]["fraction"] for e in events if e["kind"] == "progress"] == [
        pytest.approx(1 / 3),
        pytest.approx(2 / 3),
        pytest.approx(1.0),
    ]
    assert events[-1]["output"] == {"steps": 3}
    for event in events:
        assert schema_errors("task-event", event) == []
    assert schema_errors("task", final) == []
    assert final["seq"] == events[-1]["seq"] == 6
    assert final["state"] == events[-1]["state"] == "completed"
    assert final["output"] == {"steps": 3}
    check_transitions(events)


@pytest.mark.req("ALP-TASK-003")
def test_snapshot_state_and_seq_follow_the_last_event(target: Target) -> None:
    """While a task runs, every snapshot (``tasks/get``, and the one ``tasks/subscribe``
    returns) has the ``seq`` of an event and that event's ``state``."""
    task = start(target, "long_task", {"steps": 5, "step_ms": 60})
    seen = 0
    for _ in range(200):
        page = target.result("tasks/subscribe", {"task_id": task["id"], "after_seq": seen})
        snapshot = target.result("tasks/get", {"task_id": task["id"]})
        events = all_events(target, task["id"])
        for snap in (page["task"], snapshot):
            assert 1 <= snap["seq"] <= events[-1]["seq"]
            assert events[snap["seq"] - 1]["seq"] == snap["seq"]
            assert events[snap["seq"] - 1]["state"] == snap["state"]
        if page["events"]:
            assert page["task"]["seq"] >= page["events"][-1]["seq"]
            seen = page["events"][-1]["seq"]
        if snapshot["state"] in TERMINAL:
            break
        time.sleep(0.02)
    final = target.result("tasks/get", {"task_id": task["id"]})
    events = all_events(target, task["id"])
    assert (final["seq"], final["state"]) == (events[-1]["seq"], events[-1]["state"])
    assert final["state"] == "completed"


def check_state_events(events: list[dict[str, Any]]) -> None:
    """Every change of state is carried by an event of kind ``state``."""
    previous = None
    for event in events:
        if event["state"] != previous:
            assert event["kind"] == "state", event
        previous = event["state"]


@pytest.mark.req("ALP-TASK-004", "ALP-TASK-002")
def test_entering_input_required_carries_the_input_request(target: Target) -> None:
    task = start(target, "ask", {"prompt": "Which colour?"})
    waiting = target.wait_task(task["id"], until={"input-required"})
    events = all_events(target, task["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert (events[0]["kind"], events[0]["state"]) == ("state", "submitted")
    assert (events[-1]["kind"], events[-1]["state"]) == ("state", "input-required")
    expected = {"kind": "input", "prompt": "Which colour?", "input_schema": ANSWER_SCHEMA}
    assert {k: events[-1]["input_request"].get(k) for k in expected} == expected
    assert {k: waiting["input_request"].get(k) for k in expected} == expected
    check_state_events(events)
    check_transitions(events)
    target.result("tasks/cancel", {"task_id": task["id"]})


@pytest.mark.req("ALP-TASK-004", "ALP-TASK-001")
def test_every_state_change_is_a_state_event(target: Target) -> None:
    """A task answered and completed, and one canceled: each change of state is an event of
    kind ``state``; entering ``completed`` carries the output."""
    task = start(target, "ask", {"prompt": "name?"})
    target.wait_task(task["id"], until={"input-required"})
    target.result("tasks/input", {"task_id": task["id"], "input": {"answer": "Ada"}})
    target.wait_task(task["id"])
    events = all_events(target, task["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert (events[-1]["kind"], events[-1]["state"]) == ("state", "completed")
    assert events[-1]["output"] == {"answer": "Ada"}
    assert "input-required" in [e["state"] for e in events]
    check_state_events(events)
    check_transitions(events)
    canceled = start(target, "ask", {"prompt": "again?"})
    target.wait_task(canceled["id"], until={"input-required"})
    target.result("tasks/cancel", {"task_id": canceled["id"]})
    events = all_events(target, canceled["id"])
    assert (events[-1]["kind"], events[-1]["state"]) == ("state", "canceled")
    check_state_events(events)
    check_transitions(events)


@pytest.mark.req("ALP-TASK-001")
def test_fixture_tasks_go_through_their_specified_states(target: Target) -> None:
    """The fixture fixes the transitions of its task tools: ``ask`` goes from ``submitted``
    to ``input-required``; after the input, to ``working``, then ``completed``."""
    task = start(target, "ask", {"prompt": "exact?"})
    target.wait_task(task["id"], until={"input-required"})
    target.result("tasks/input", {"task_id": task["id"], "input": {"answer": "yes"}})
    target.wait_task(task["id"])
    assert [(e["kind"], e["state"]) for e in all_events(target, task["id"])] == [
        ("state", "submitted"),
        ("state", "input-required"),
        ("state", "working"),
        ("state", "completed"),
    ]


@pytest.mark.req("ALP-TASK-005")
def test_progress_fractions_never_decrease(target: Target) -> None:
    task = start(target, "long_task", {"steps": 10, "step_ms": 5})
    target.wait_task(task["id"])
    fractions = [
        e["progress"]["fraction"]
        for e in all_events(target, task["id"])
        if e["kind"] == "progress" and e["progress"].get("fraction") is not None
    ]
    assert len(fractions) == 10
    assert fractions == sorted(fractions)


@pytest.mark.req("ALP-TASK-001", "ALP-TASK-014")
def test_a_terminal_task_never_changes(target: Target) -> None:
    task = start(target, "long_task", {"steps": 1, "step_ms": 0})
    final = target.wait_task(task["id"])
    assert final["state"] == "completed"
    before = all_events(target, task["id"])
    cancel = target.error("tasks/cancel", {"task_id": task["id"]})
    assert cancel["code"] == -32002
    assert cancel["data"]["name"] == "task_not_cancelable"
    assert cancel["data"]["task_id"] == task["id"]
    assert cancel["data"]["state"] == "completed"
    time.sleep(0.2)
    assert target.result("tasks/get", {"task_id": task["id"]}) == final
    assert all_events(target, task["id"]) == before


@pytest.mark.req("ALP-TASK-001", "ALP-TASK-015")
def test_input_to_a_terminal_task_changes_nothing(target: Target) -> None:
    task = start(target, "long_task", {"steps": 1, "step_ms": 0})
    final = target.wait_task(task["id"])
    before = all_events(target, task["id"])
    given = target.error("tasks/input", {"task_id": task["id"], "input": {"answer": "x"}})
    assert given["code"] == -32015
    assert given["data"]["name"] == "invalid_task_state"
    assert (given["data"]["task_id"], given["data"]["state"]) == (task["id"], "completed")
    time.sleep(0.2)
    assert target.result("tasks/get", {"task_id": task["id"]}) == final
    assert all_events(target, task["id"]) == before


@pytest.mark.req("ALP-TASK-006")
def test_get_returns_the_current_snapshot(target: Target) -> None:
    task = start(target, "ask", {"prompt": "ok?"})
    target.wait_task(task["id"], until={"input-required"})
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert schema_errors("task", snapshot) == []
    assert snapshot["id"] == task["id"]
    assert snapshot["tool"] == "ask"
    assert snapshot["state"] == "input-required"
    assert snapshot["seq"] == all_events(target, task["id"])[-1]["seq"]
    assert snapshot["input_request"]["kind"] == "input"
    canceled = target.result("tasks/cancel", {"task_id": task["id"]})
    snapshot = target.result("tasks/get", {"task_id": task["id"]})
    assert snapshot == canceled
    assert (snapshot["state"], snapshot["seq"]) == (
        "canceled",
        all_events(target, task["id"])[-1]["seq"],
    )


@pytest.mark.req("ALP-TASK-006")
def test_unknown_task_id_is_task_not_found_for_every_method(target: Target) -> None:
    unknown = "conf-no-such-task-4f1c9d0e"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("tasks/get", {"task_id": unknown}),
        ("tasks/cancel", {"task_id": unknown}),
        ("tasks/subscribe", {"task_id": unknown, "after_seq": 0}),
        ("tasks/subscribe", {"task_id": unknown, "wait_ms": 5000}),
        ("tasks/input", {"task_id": unknown, "input": {"answer": "x"}}),
        ("tasks/approve", {"task_id": unknown, "decision": "approve"}),
    ]
    for method, params in calls:
        started = time.monotonic()
        error = target.error(method, params)
        assert time.monotonic() - started < 2.5, method
        assert error["code"] == -32001, method
        assert error["data"]["name"] == "task_not_found", method
        assert error["data"]["task_id"] == unknown, method


@pytest.mark.req("ALP-TASK-007")
def test_task_ids_are_unique(target: Target) -> None:
    tasks = [start(target, "long_task", {"steps": 1, "step_ms": 0}) for _ in range(8)]
    ids = [task["id"] for task in tasks]
    assert len(set(ids)) == len(ids)
    for task_id in ids:
        assert target.result("tasks/get", {"task_id": task_id})["id"] == task_id


@pytest.mark.req("ALP-TASK-008")
def test_task_ids_look_unguessable(target: Target) -> None:
    """At least 122 random bits: estimated from the id's length and alphabet; consecutive
    ids share no long common prefix."""
    ids = [start(target, "long_task", {"steps": 1, "step_ms": 0})["id"] for _ in range(4)]
    for task_id in ids:
        alphabet = 16 if all(c in "0123456789abcdef-" for c in task_id.lower()) else 64
        chars = sum(c != "-" for c in task_id)
        assert chars * math.log2(alphabet) >= 122, task_id
    for a, b in itertools.pairwise(ids):
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
        assert len(a) - common >= 20, (a, b)


@pytest.mark.req("ALP-TASK-009")
def test_terminal_task_and_its_events_are_kept(target: Target) -> None:
    """Spot check of retention: a finished task and all its events are still there a while
    after it ended (the full 300 s are not waited for)."""
    task = start(target, "long_task", {"steps": 2, "step_ms": 0})
    final = target.wait_task(task["id"])
    events = all_events(target, task["id"])
    time.sleep(1.5)
    assert target.result("tasks/get", {"task_id": task["id"]}) == final
    assert all_events(target, task["id"]) == events
    assert events[0]["seq"] == 1


@pytest.mark.req("ALP-TASK-019")
def test_deadline_of_the_creating_request_bounds_only_the_answer(target: Target) -> None:
    deadline = in_seconds(0.6)
    started = time.monotonic()
    task = start(target, "long_task", {"steps": 4, "step_ms": 300}, deadline=deadline)
    assert time.monotonic() - started < 0.6
    final = target.wait_task(task["id"])
    assert time.monotonic() - started > 1.0  # it ran past the deadline
    assert final["state"] == "completed"
    assert final["output"] == {"steps": 4}


@pytest.mark.req("ALP-TASK-020")
def test_tasks_of_another_caller_are_visible_or_not_found(target: Target, fresh: Target) -> None:
    task = start(target, "long_task", {"steps": 1, "step_ms": 0})
    target.wait_task(task["id"])
    response = fresh.rpc("tasks/get", {"task_id": task["id"]})
    if "error" in response:
        error = response["error"]
        assert (error["code"], error["data"]["name"]) == (-32001, "task_not_found")
        assert error["data"]["task_id"] == task["id"]
    else:
        assert response["result"]["id"] == task["id"]
