from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.core._tasks import (
    ALLOWED_TRANSITIONS,
    TRANSITIONS,
    TaskAction,
    TaskRecord,
    TaskTable,
)
from agentlink.model import (
    TASK_STATES,
    TERMINAL_STATES,
    Artifact,
    Forbidden,
    InputRequest,
    InvalidTaskState,
    Overloaded,
    Progress,
    Task,
    TaskEvent,
    TaskNotCancelable,
    TaskNotFound,
    TaskState,
    ToolExecutionError,
    UsageError,
)

T0 = 1_741_091_696.0  # 2025-03-04T12:34:56Z
ACTIONS: tuple[TaskAction, ...] = (
    "start",
    "require_input",
    "provide_input",
    "approve",
    "complete",
    "fail",
    "cancel",
    "reject",
)

# The state graph as the protocol states it, written out independently of the table.
EXPECTED_PAIRS = {
    ("submitted", "working"),
    ("submitted", "input-required"),
    ("submitted", "rejected"),
    ("submitted", "canceled"),
    ("submitted", "failed"),
    ("working", "input-required"),
    ("working", "completed"),
    ("working", "failed"),
    ("working", "canceled"),
    ("input-required", "working"),
    ("input-required", "canceled"),
    ("input-required", "rejected"),
    ("input-required", "failed"),
}


def record_in(state: TaskState, *, kind: str = "input") -> TaskRecord:
    """A fresh record driven into ``state`` by legal steps."""
    record = TaskRecord("t-1", T0, tool="slow")
    if state == "working" or state in ("completed",):
        record.start(T0 + 1)
    if state == "input-required":
        wait = InputRequest(kind="approval") if kind == "approval" else InputRequest(kind="input")
        record.require_input(T0 + 1, wait)
    elif state == "completed":
        record.complete(T0 + 2, {"ok": True})
    elif state == "failed":
        record.fail(T0 + 1, ToolExecutionError("boom"))
    elif state == "canceled":
        record.cancel(T0 + 1)
    elif state == "rejected":
        record.reject(T0 + 1)
    assert record.state == state
    return record


def act(record: TaskRecord, action: TaskAction, now: float = T0 + 10) -> Any:
    if action == "start":
        return record.start(now)
    if action == "require_input":
        return record.require_input(now, InputRequest(kind="input", prompt="more?"))
    if action == "provide_input":
        return record.provide_input(now)
    if action == "approve":
        return record.approve(now, "approver-1", requester_id="requester")
    if action == "complete":
        return record.complete(now, {"ok": True})
    if action == "fail":
        return record.fail(now, ToolExecutionError("boom"))
    if action == "cancel":
        return record.cancel(now, "operator stop")
    assert action == "reject"
    return record.reject(now, "not now")


def test_the_table_yields_exactly_the_protocol_state_graph() -> None:
    pairs = {(s, t) for s, targets in ALLOWED_TRANSITIONS.items() for t in targets}
    assert pairs == EXPECTED_PAIRS
    assert set(TRANSITIONS) == set(TASK_STATES)
    assert {s for s, row in TRANSITIONS.items() if not row} == TERMINAL_STATES


@pytest.mark.parametrize(("source", "target"), list(itertools.product(TASK_STATES, TASK_STATES)))
def test_every_pair_of_states_is_reachable_only_if_legal(source: str, target: str) -> None:
    reached = set()
    for action in ACTIONS:
        kind = "approval" if action == "approve" else "input"
        record = record_in(source, kind=kind)  # type: ignore[arg-type]
        try:
            act(record, action)
        except (InvalidTaskState, TaskNotCancelable):
            continue
        reached.add(record.state)
    assert (target in reached) == ((source, target) in EXPECTED_PAIRS)


@pytest.mark.parametrize(("state", "action"), list(itertools.product(TASK_STATES, ACTIONS)))
def test_every_action_in_every_state(state: TaskState, action: TaskAction) -> None:
    record = record_in(state, kind="approval" if action == "approve" else "input")
    before = record.events_after(0)
    target = TRANSITIONS[state].get(action)
    if target is not None:
        event = act(record, action)
        assert record.state == target
        # An approval is logged first, then the move it completes.
        assert record.seq == len(before) + (2 if action == "approve" else 1)
        if action != "approve":
            assert isinstance(event, TaskEvent)
            assert event.kind == "state"
            assert event.state == target
        return
    expected = TaskNotCancelable if action == "cancel" else InvalidTaskState
    with pytest.raises(expected) as info:
        act(record, action)
    assert info.value.data["task_id"] == "t-1"
    assert info.value.data["state"] == state
    # Nothing half-applied: same state, same log.
    assert record.state == state
    assert record.events_after(0) == before


def test_creation_is_event_one() -> None:
    record = TaskRecord("t-1", T0, tool="slow")
    (event,) = record.events_after(0)
    assert event == TaskEvent(
        task_id="t-1", seq=1, time="2025-03-04T12:34:56.000000Z", kind="state", state="submitted"
    )
    assert record.snapshot() == Task(
        id="t-1",
        tool="slow",
        state="submitted",
        created_at="2025-03-04T12:34:56.000000Z",
        updated_at="2025-03-04T12:34:56.000000Z",
        seq=1,
    )


def test_a_full_run_logs_every_change_in_order() -> None:
    record = TaskRecord("t-1", T0)
    record.start(T0 + 1)
    record.progress(T0 + 2, 0.5, "half")
    record.add_artifact(T0 + 3, Artifact(name="plot", data=[1, 2]))
    record.complete(T0 + 4, {"sum": 3})
    events = record.events_after(0)
    assert [(e.seq, e.kind, e.state) for e in events] == [
        (1, "state", "submitted"),
        (2, "state", "working"),
        (3, "progress", "working"),
        (4, "artifact", "working"),
        (5, "state", "completed"),
    ]
    assert events[2].progress == Progress(fraction=0.5, message="half")
    assert events[3].artifact == Artifact(name="plot", data=[1, 2])
    assert events[4].output == {"sum": 3}
    assert events[4].time == "2025-03-04T12:35:00.000000Z"
    snap = record.snapshot()
    assert snap.state == "completed"
    assert snap.output == {"sum": 3}
    assert snap.seq == 5
    assert snap.artifacts == [Artifact(name="plot", data=[1, 2])]
    assert snap.updated_at == "2025-03-04T12:35:00.000000Z"
    assert record.updated_at == T0 + 4
    assert Task.model_validate(snap.to_wire()) == snap


def test_failure_carries_the_error_object() -> None:
    record = record_in("working")
    event = record.fail(T0 + 5, ToolExecutionError("sensor offline", data={"sensor": "s1"}))
    wire = {
        "code": -32014,
        "message": "sensor offline",
        "data": {"name": "tool_execution_error", "sensor": "s1"},
    }
    assert event.error is not None
    assert event.error.model_dump() == wire
    assert record.snapshot().error == event.error
    assert record.output is None


def test_fail_needs_an_rpc_error() -> None:
    record = record_in("working")
    with pytest.raises(UsageError):
        record.fail(T0, ValueError("x"))  # type: ignore[arg-type]
    assert record.state == "working"


def test_cancel_and_reject_keep_the_reason_as_the_last_status_line() -> None:
    record = record_in("working")
    record.progress(T0 + 2, 0.25)
    event = record.cancel(T0 + 3, "operator stop")
    assert event.progress == Progress(fraction=0.25, message="operator stop")
    assert record.reason == "operator stop"
    assert record.snapshot().progress == Progress(fraction=0.25, message="operator stop")
    plain = record_in("submitted")
    assert plain.reject(T0 + 3).progress is None
    assert plain.reason is None


def test_cancel_of_a_terminal_task_is_not_cancelable() -> None:
    for state in sorted(TERMINAL_STATES):
        record = record_in(state)  # type: ignore[arg-type]
        with pytest.raises(TaskNotCancelable) as info:
            record.cancel(T0 + 9)
        assert info.value.code == -32002


def test_input_request_is_shown_while_waiting_and_cleared_after() -> None:
    record = record_in("working")
    wait = InputRequest(kind="input", prompt="which line?", input_schema={"type": "string"})
    event = record.require_input(T0 + 2, wait)
    assert event.input_request == wait
    assert record.snapshot().input_request == wait
    event = record.provide_input(T0 + 3)
    assert event.input_request is None
    assert record.state == "working"
    assert record.snapshot().input_request is None


def test_provide_input_cannot_bypass_an_approval() -> None:
    record = record_in("input-required", kind="approval")
    with pytest.raises(InvalidTaskState, match="waits for approval"):
        record.provide_input(T0 + 2)
    assert record.state == "input-required"


@pytest.mark.parametrize("state", ["submitted", "working", "input-required", "completed"])
def test_approval_needs_a_task_waiting_for_approval(state: TaskState) -> None:
    record = record_in(state, kind="input")
    with pytest.raises(InvalidTaskState):
        record.approve(T0 + 2, "a1", requester_id="r")
    with pytest.raises(InvalidTaskState):
        record.reject_approval(T0 + 2, "a1")
    assert record.state == state


def test_dual_approval_counts_distinct_approvers() -> None:
    record = TaskRecord("t-1", T0, tool="set_speed")
    record.require_input(T0 + 1, InputRequest(kind="approval", approvals_needed=2))
    assert record.approve(T0 + 2, "alice", requester_id="planner") is False
    assert record.snapshot().state == "input-required"
    assert record.input_request is not None
    assert record.input_request.approved_by == ["alice"]
    seq = record.seq
    assert record.approve(T0 + 3, "alice", requester_id="planner") is False
    assert record.seq == seq  # a repeat is no change, so no event
    assert record.approve(T0 + 4, "bob", requester_id="planner") is True
    assert record.state == "working"
    assert record.approved_by == ("alice", "bob")
    events = record.events_after(0)
    assert [(e.state, e.input_request) for e in events[1:]] == [
        ("input-required", InputRequest(kind="approval", approvals_needed=2)),
        (
            "input-required",
            InputRequest(kind="approval", approvals_needed=2, approved_by=["alice"]),
        ),
        (
            "input-required",
            InputRequest(kind="approval", approvals_needed=2, approved_by=["alice", "bob"]),
        ),
        ("working", None),
    ]


def test_single_approval_is_the_default() -> None:
    record = record_in("input-required", kind="approval")
    assert record.input_request == InputRequest(kind="approval", approvals_needed=1)
    assert record.approve(T0 + 2, "alice", requester_id="planner") is True
    assert record.state == "working"


def test_the_requester_cannot_approve_itself_unless_allowed() -> None:
    record = record_in("input-required", kind="approval")
    with pytest.raises(Forbidden) as info:
        record.approve(T0 + 2, "planner", requester_id="planner")
    assert info.value.code == -32022
    assert record.state == "input-required"
    assert record.approved_by == ()
    assert record.approve(T0 + 3, "planner", requester_id="planner", allow_self=True) is True


def test_rejected_approval_ends_the_task() -> None:
    record = record_in("input-required", kind="approval")
    event = record.reject_approval(T0 + 2, "alice")
    assert record.state == "rejected"
    assert event.progress == Progress(message="rejected by alice")
    other = record_in("input-required", kind="approval")
    other.reject_approval(T0 + 2, "alice", "line 3 is in maintenance")
    assert other.reason == "line 3 is in maintenance"
    with pytest.raises(InvalidTaskState):
        other.approve(T0 + 3, "bob", requester_id="planner")


def test_an_approval_request_must_start_short_of_its_quorum() -> None:
    record = record_in("working")
    with pytest.raises(UsageError):
        record.require_input(
            T0 + 2, InputRequest(kind="approval", approvals_needed=1, approved_by=["alice"])
        )
    assert record.state == "working"


def test_a_second_approval_wait_starts_from_its_own_approvers() -> None:
    record = record_in("input-required", kind="approval")
    record.approve(T0 + 2, "alice", requester_id="planner")
    record.require_input(T0 + 3, InputRequest(kind="approval", approvals_needed=2))
    assert record.approved_by == ()
    assert record.approve(T0 + 4, "alice", requester_id="planner") is False


@pytest.mark.parametrize("fraction", [-0.01, 1.01, float("nan"), float("inf"), True, "0.5"])
def test_progress_fraction_must_be_a_share(fraction: Any) -> None:
    record = record_in("working")
    with pytest.raises(UsageError):
        record.progress(T0 + 2, fraction)
    assert record.seq == 2


def test_progress_is_allowed_before_the_start_but_not_after_the_end() -> None:
    record = record_in("submitted")
    assert record.progress(T0 + 1, None, "queued, 3 ahead").state == "submitted"
    assert record.latest_progress == Progress(message="queued, 3 ahead")
    assert record.progress(T0 + 1, 1).progress == Progress(fraction=1.0)
    for state in sorted(TERMINAL_STATES):
        done = record_in(state)  # type: ignore[arg-type]
        with pytest.raises(InvalidTaskState):
            done.progress(T0 + 9, 0.5)
        with pytest.raises(InvalidTaskState):
            done.add_artifact(T0 + 9, Artifact(name="late"))


def test_events_after_pages_through_the_log() -> None:
    record = record_in("working")
    for i in range(5):
        record.progress(T0 + 2 + i, i / 10)
    assert [e.seq for e in record.events_after(0)] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.seq for e in record.events_after(2, limit=3)] == [3, 4, 5]
    assert [e.seq for e in record.events_after(6, limit=3)] == [7]
    assert record.events_after(7) == []
    assert record.events_after(99) == []
    assert record.events_after(0, limit=0) == []
    assert not record.truncated_after(0)


@pytest.mark.parametrize(("seq", "limit"), [(-1, None), (0, -1)])
def test_events_after_refuses_negative_arguments(seq: int, limit: int | None) -> None:
    with pytest.raises(UsageError):
        record_in("working").events_after(seq, limit)


def test_a_bounded_log_shows_the_gap() -> None:
    record = TaskRecord("t-1", T0, max_events=3)
    record.start(T0)
    for i in range(8):
        record.progress(T0 + i, None, f"step {i}")
    assert record.seq == 10
    assert record.first_seq == 8
    assert [e.seq for e in record.events_after(0)] == [8, 9, 10]
    assert record.truncated_after(0)
    assert record.truncated_after(6)
    assert not record.truncated_after(7)
    assert [e.seq for e in record.events_after(8)] == [9, 10]
    assert [e.seq for e in record.events_after(3, limit=2)] == [8, 9]


def test_max_events_must_be_positive() -> None:
    with pytest.raises(UsageError):
        TaskRecord("t-1", T0, max_events=0)


OPS = st.sampled_from(
    [
        *ACTIONS,
        "require_approval",
        "approve_self",
        "approve_other",
        "reject_approval",
        "progress",
        "artifact",
    ]
)


def apply_random(record: TaskRecord, op: str, now: float, who: int) -> None:
    if op in ACTIONS:
        act(record, op, now)
    elif op == "require_approval":
        record.require_input(now, InputRequest(kind="approval", approvals_needed=1 + who % 3))
    elif op == "approve_self":
        record.approve(now, "planner", requester_id="planner")
    elif op == "approve_other":
        record.approve(now, f"approver-{who}", requester_id="planner")
    elif op == "reject_approval":
        record.reject_approval(now, f"approver-{who}")
    elif op == "progress":
        record.progress(now, who / 4, None)
    else:
        record.add_artifact(now, Artifact(name=f"a{who}", data=who))


@given(
    ops=st.lists(st.tuples(OPS, st.integers(0, 4)), max_size=40),
    max_events=st.none() | st.integers(1, 6),
)
def test_random_operations_keep_the_machine_consistent(
    ops: list[tuple[str, int]], max_events: int | None
) -> None:
    record = TaskRecord("t-1", T0, max_events=max_events)
    states = [record.state]
    terminal_at: int | None = None
    for i, (op, who) in enumerate(ops):
        seq_before, state_before = record.seq, record.state
        try:
            apply_random(record, op, T0 + i, who)
        except (InvalidTaskState, TaskNotCancelable, Forbidden):
            assert (record.seq, record.state) == (seq_before, state_before)
            continue
        if record.state != state_before:
            assert record.state in ALLOWED_TRANSITIONS[state_before]
        states.append(record.state)
        if terminal_at is None and record.terminal:
            terminal_at = record.seq
    if terminal_at is not None:
        assert record.seq == terminal_at  # nothing changes after a terminal state
    events = record.events_after(0)
    seqs = [e.seq for e in events]
    assert seqs == list(range(record.first_seq, record.seq + 1))
    assert events[-1].state == record.state
    for seq in range(record.seq + 2):
        tail = record.events_after(seq)
        assert [e.seq for e in tail] == list(range(max(seq + 1, record.first_seq), record.seq + 1))
        assert record.truncated_after(seq) == (seq + 1 < record.first_seq)
    snap = record.snapshot()
    assert snap.seq == record.seq
    assert snap.state == record.state
    assert (snap.input_request is not None) == (record.state == "input-required")
    assert Task.model_validate(snap.to_wire()) == snap


def test_table_creates_with_the_id_factory() -> None:
    ids = iter(["a", "b", "a"])
    table = TaskTable(id_factory=lambda: next(ids))
    first = table.create(T0, tool="slow")
    assert first.id == "a"
    assert first.tool == "slow"
    assert table.create(T0).id == "b"
    with pytest.raises(UsageError):
        table.create(T0)
    assert table.create(T0, task_id="c").id == "c"
    assert len(table) == 3
    assert "c" in table
    assert [r.id for r in table] == ["a", "b", "c"]
    assert table.get("a") is first


def test_table_ids_default_to_random_hex() -> None:
    table = TaskTable()
    a, b = table.create(T0), table.create(T0)
    assert len(a.id) == 32
    assert int(a.id, 16) >= 0
    assert a.id != b.id


def test_table_get_of_an_unknown_id_is_task_not_found() -> None:
    with pytest.raises(TaskNotFound) as info:
        TaskTable().get("nope")
    assert info.value.code == -32001
    assert info.value.data == {"task_id": "nope"}


def test_table_lists_by_state() -> None:
    table = TaskTable(id_factory=iter(["a", "b", "c"]).__next__)
    a, b, _ = table.create(T0), table.create(T0), table.create(T0)
    a.start(T0)
    b.start(T0)
    b.complete(T0)
    assert [r.id for r in table.list_tasks()] == ["a", "b", "c"]
    assert [r.id for r in table.list_tasks(state="working")] == ["a"]
    assert [r.id for r in table.list_tasks(state="completed")] == ["b"]
    assert [r.id for r in table.list_tasks(state="submitted")] == ["c"]
    assert table.list_tasks(state="failed") == []


def test_table_forgets_only_old_terminal_tasks() -> None:
    table = TaskTable(id_factory=iter(["old", "recent", "running"]).__next__)
    old, recent, running = table.create(T0), table.create(T0), table.create(T0)
    old.cancel(T0 + 10)
    recent.cancel(T0 + 50)
    running.start(T0 + 1)
    assert table.forget(T0 + 109.0, retention=100.0) == []
    assert table.forget(T0 + 110.0, retention=100.0) == ["old"]
    assert "old" not in table
    assert table.forget(T0 + 10_000.0, retention=100.0) == ["recent"]
    assert [r.id for r in table] == ["running"]


def test_table_bounds_the_number_of_tasks() -> None:
    table = TaskTable(max_tasks=2, max_events=5)
    table.create(T0)
    table.create(T0)
    with pytest.raises(Overloaded):
        table.create(T0)
    record = next(iter(table))
    for i in range(12):
        record.progress(T0 + i, None, "x")
    assert record.first_seq == record.seq - 4
