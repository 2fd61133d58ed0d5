"""The task state machine, its event log, approval bookkeeping, and a table of tasks.

The actions and the states they move between (the table :data:`TRANSITIONS` drives the
code; an action missing from a state's row is illegal there)::

    action          from                                  to
    start           submitted                             working
    require_input   submitted, working                    input-required
    provide_input   input-required (kind "input")         working
    approve         input-required (kind "approval")      working, once enough approvers
    complete        working                               completed
    fail            submitted, working, input-required    failed
    cancel          submitted, working, input-required    canceled
    reject          submitted, input-required             rejected

Terminal states (completed, failed, canceled, rejected) allow nothing: an action there
raises :class:`~agentlink.model.InvalidTaskState`, except ``cancel``, which raises
:class:`~agentlink.model.TaskNotCancelable` (A2A's code for the same case). Progress
and artifacts may be reported in any non-terminal state.

Every change appends a :class:`~agentlink.model.TaskEvent` numbered 1, 2, 3... without gaps;
creation is event 1 (state ``submitted``), so a subscriber that starts from 0 sees the
whole history. A state event carries what the new state needs: the input request of
``input-required``, the output of ``completed``, the error of ``failed``, and, for
``canceled`` and ``rejected``, the reason as ``progress.message`` (the task model has no
other place for a human-readable reason, and a terminal task reports no further progress).

A bounded log keeps the last ``max_events`` events. :meth:`TaskRecord.events_after` never
invents or hides a gap: when the window has moved past the requested sequence number, the
returned list starts above ``seq + 1``, so a subscriber sees the gap in the numbers (and
:meth:`TaskRecord.truncated_after` says the same); it then reconciles from the snapshot.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from agentlink.model import (
    TERMINAL_STATES,
    Artifact,
    ErrorObject,
    Forbidden,
    InputRequest,
    InvalidTaskState,
    Overloaded,
    Progress,
    RpcError,
    Task,
    TaskEvent,
    TaskNotCancelable,
    TaskNotFound,
    TaskState,
    UsageError,
)

from ._deadline import format_rfc3339

__all__ = [
    "ALLOWED_TRANSITIONS",
    "TRANSITIONS",
    "TaskAction",
    "TaskRecord",
    "TaskTable",
]

TaskAction = Literal[
    "start", "require_input", "provide_input", "approve", "complete", "fail", "cancel", "reject"
]

#: state -> action -> next state. ``approve`` moves on only once enough approvers agreed.
TRANSITIONS: Mapping[TaskState, Mapping[TaskAction, TaskState]] = {
    "submitted": {
        "start": "working",
        "require_input": "input-required",
        "reject": "rejected",
        "cancel": "canceled",
        "fail": "failed",
    },
    "working": {
        "require_input": "input-required",
        "complete": "completed",
        "fail": "failed",
        "cancel": "canceled",
    },
    "input-required": {
        "provide_input": "working",
        "approve": "working",
        "reject": "rejected",
        "cancel": "canceled",
        "fail": "failed",
    },
    "completed": {},
    "failed": {},
    "canceled": {},
    "rejected": {},
}

#: The state graph the action table yields: state -> states reachable in one step.
ALLOWED_TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    state: frozenset(row.values()) for state, row in TRANSITIONS.items()
}


class TaskRecord:
    """One task, owned and mutated by one runtime; every change is logged as an event.

    Args:
        task_id: the task id.
        now: creation time as epoch seconds.
        tool: the tool the task runs, if any.
        max_events: keep only this many most recent events (``None``: keep all).
    """

    __slots__ = (
        "_approved_by",
        "_artifacts",
        "_created_at",
        "_error",
        "_events",
        "_id",
        "_input_request",
        "_max_events",
        "_offset",
        "_output",
        "_progress",
        "_reason",
        "_seq",
        "_state",
        "_tool",
        "_updated_at",
    )

    def __init__(
        self, task_id: str, now: float, *, tool: str | None = None, max_events: int | None = None
    ) -> None:
        if max_events is not None and max_events < 1:
            raise UsageError(f"max_events must be >= 1 or None, got {max_events!r}")
        self._id = task_id
        self._tool = tool
        self._state: TaskState = "submitted"
        self._created_at = now
        self._updated_at = now
        self._progress: Progress | None = None
        self._artifacts: list[Artifact] = []
        self._input_request: InputRequest | None = None
        self._approved_by: list[str] = []
        self._output: Any = None
        self._error: ErrorObject | None = None
        self._reason: str | None = None
        self._max_events = max_events
        self._events: list[TaskEvent] = []
        # Sequence number of the event just before self._events[0].
        self._offset = 0
        self._seq = 0
        self._emit(now, "state")

    def __repr__(self) -> str:
        return f"TaskRecord(id={self._id!r}, state={self._state!r}, seq={self._seq})"

    # -- read-only view -------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The task id."""
        return self._id

    @property
    def tool(self) -> str | None:
        """The tool the task runs, if any."""
        return self._tool

    @property
    def state(self) -> TaskState:
        """The current state."""
        return self._state

    @property
    def terminal(self) -> bool:
        """Whether the task has reached a terminal state."""
        return self._state in TERMINAL_STATES

    @property
    def created_at(self) -> float:
        """Creation time, epoch seconds."""
        return self._created_at

    @property
    def updated_at(self) -> float:
        """Time of the last event, epoch seconds."""
        return self._updated_at

    @property
    def latest_progress(self) -> Progress | None:
        """The last progress reported (or the reason of a cancel or reject)."""
        return self._progress

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        """Artifacts produced so far, oldest first."""
        return tuple(self._artifacts)

    @property
    def input_request(self) -> InputRequest | None:
        """What the task waits for while ``input-required``."""
        return self._input_request

    @property
    def approved_by(self) -> tuple[str, ...]:
        """Distinct approvers so far of the current (or last) approval wait."""
        return tuple(self._approved_by)

    @property
    def output(self) -> Any:
        """The output of a completed task."""
        return self._output

    @property
    def error(self) -> ErrorObject | None:
        """The error of a failed task."""
        return self._error

    @property
    def reason(self) -> str | None:
        """Why the task was canceled or rejected, if a reason was given."""
        return self._reason

    @property
    def seq(self) -> int:
        """Sequence number of the last event."""
        return self._seq

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest event still held."""
        if self._max_events is None:
            return self._offset + 1
        return max(self._offset + 1, self._seq - self._max_events + 1)

    # -- transitions ----------------------------------------------------------------------

    def start(self, now: float) -> TaskEvent:
        """The work begins: ``submitted`` -> ``working``."""
        return self._move(now, "start")

    def require_input(self, now: float, request: InputRequest) -> TaskEvent:
        """Pause for input or approval: -> ``input-required``.

        Args:
            now: the current time as epoch seconds.
            request: what is awaited. For ``kind == "approval"`` an unset
                ``approvals_needed`` means one approval.

        Raises:
            InvalidTaskState: not allowed in the current state.
            UsageError: the request already carries enough approvals.
        """
        self._check("require_input")
        approved = list(dict.fromkeys(request.approved_by))
        if request.kind == "approval":
            needed = request.approvals_needed or 1
            if len(approved) >= needed:
                raise UsageError("an approval request must not start with enough approvals")
            request = request.model_copy(
                update={"approvals_needed": needed, "approved_by": approved}
            )
        # A copy: the logged request must not change when approvals arrive.
        self._approved_by = list(approved)
        return self._move(now, "require_input", input_request=request)

    def provide_input(self, now: float) -> TaskEvent:
        """The awaited input arrived: ``input-required`` -> ``working``.

        Raises:
            InvalidTaskState: not waiting, or waiting for approval (which only
                :meth:`approve` can give).
        """
        self._check("provide_input")
        if self._input_request is not None and self._input_request.kind != "input":
            raise self._invalid("provide_input", "the task waits for approval, not input")
        return self._move(now, "provide_input")

    def approve(
        self, now: float, approver_id: str, *, requester_id: str | None, allow_self: bool = False
    ) -> bool:
        """Record one approval of a task waiting for approval.

        Approvals count per distinct approver: the same approver twice counts once (and
        logs nothing). Each new approval is logged as an ``input-required`` event listing
        the approvers so far; the last one needed is followed by the move to ``working``.

        Args:
            now: the current time as epoch seconds.
            approver_id: the authenticated approver.
            requester_id: who asked for the actuation.
            allow_self: let the requester approve its own request.

        Returns:
            ``True`` when this approval was the last one needed (the task is then
            ``working``), ``False`` while more are needed.

        Raises:
            InvalidTaskState: the task is not waiting for approval.
            Forbidden: the approver is the requester and ``allow_self`` is false.
        """
        request = self._approval_request("approve")
        if approver_id == requester_id and not allow_self:
            raise Forbidden(
                "the requester cannot approve its own request",
                data={"task_id": self._id, "approver": approver_id},
            )
        if approver_id in self._approved_by:
            return False
        self._approved_by.append(approver_id)
        # Every approval is logged, the last one too, so the log names all approvers.
        self._input_request = request.model_copy(update={"approved_by": list(self._approved_by)})
        self._emit(now, "state")
        if len(self._approved_by) < (request.approvals_needed or 1):
            return False
        self._move(now, "approve")
        return True

    def reject_approval(self, now: float, approver_id: str, reason: str | None = None) -> TaskEvent:
        """An approver refused the actuation: ``input-required`` -> ``rejected``.

        Args:
            now: the current time as epoch seconds.
            approver_id: who refused; named in the reason when none is given.
            reason: why.

        Raises:
            InvalidTaskState: the task is not waiting for approval.
        """
        self._approval_request("reject")
        return self.reject(now, reason if reason is not None else f"rejected by {approver_id}")

    def complete(self, now: float, output: Any = None) -> TaskEvent:
        """The work finished: ``working`` -> ``completed``."""
        return self._move(now, "complete", output=output)

    def fail(self, now: float, error: RpcError) -> TaskEvent:
        """The work failed: -> ``failed`` with ``error`` as the task's error object."""
        if not isinstance(error, RpcError):
            raise UsageError(f"fail() needs an RpcError, got {type(error).__name__}")
        return self._move(now, "fail", error=ErrorObject(**error.to_wire()))

    def cancel(self, now: float, reason: str | None = None) -> TaskEvent:
        """Cancel a non-terminal task: -> ``canceled``.

        Raises:
            TaskNotCancelable: the task is already terminal.
        """
        if self.terminal:
            raise TaskNotCancelable(
                f"task {self._id!r} is {self._state} and cannot be canceled",
                data={"task_id": self._id, "state": self._state},
            )
        return self._move(now, "cancel", reason=reason)

    def reject(self, now: float, reason: str | None = None) -> TaskEvent:
        """Refuse the task: ``submitted`` or ``input-required`` -> ``rejected``."""
        return self._move(now, "reject", reason=reason)

    # -- activity -------------------------------------------------------------------------

    def progress(
        self, now: float, fraction: float | None = None, message: str | None = None
    ) -> TaskEvent:
        """Report progress.

        Args:
            now: the current time as epoch seconds.
            fraction: share done, 0.0 to 1.0, if known.
            message: a status line, if any.

        Raises:
            InvalidTaskState: the task is terminal.
            UsageError: ``fraction`` is outside 0..1.
        """
        self._check_active("progress")
        if fraction is not None:
            if isinstance(fraction, bool) or not (
                isinstance(fraction, int | float) and math.isfinite(fraction)
            ):
                raise UsageError(f"fraction must be a number in 0..1, got {fraction!r}")
            if not 0.0 <= fraction <= 1.0:
                raise UsageError(f"fraction must be in 0..1, got {fraction!r}")
            fraction = float(fraction)
        self._progress = Progress(fraction=fraction, message=message)
        return self._emit(now, "progress", progress=self._progress)

    def add_artifact(self, now: float, artifact: Artifact) -> TaskEvent:
        """Publish an artifact.

        Raises:
            InvalidTaskState: the task is terminal.
        """
        self._check_active("add_artifact")
        self._artifacts.append(artifact)
        return self._emit(now, "artifact", artifact=artifact)

    # -- reading --------------------------------------------------------------------------

    def events_after(self, seq: int, limit: int | None = None) -> list[TaskEvent]:
        """Events with a sequence number above ``seq``, oldest first.

        Args:
            seq: the last sequence number the caller has (0 for everything).
            limit: at most this many events.

        Returns:
            The events still held after ``seq``. If the bounded log has dropped some of
            them, the list starts at :attr:`first_seq` (above ``seq + 1``).
        """
        if isinstance(seq, bool) or seq < 0:
            raise UsageError(f"seq must be >= 0, got {seq!r}")
        if limit is not None and limit < 0:
            raise UsageError(f"limit must be >= 0 or None, got {limit!r}")
        start = max(seq + 1, self.first_seq) - self._offset - 1
        if start >= len(self._events):
            return []
        stop = len(self._events) if limit is None else start + limit
        return self._events[start:stop]

    def truncated_after(self, seq: int) -> bool:
        """Whether events after ``seq`` were dropped from the bounded log."""
        return seq + 1 < self.first_seq

    def snapshot(self) -> Task:
        """The task as the protocol shows it."""
        return Task(
            id=self._id,
            tool=self._tool,
            state=self._state,
            created_at=format_rfc3339(self._created_at),
            updated_at=format_rfc3339(self._updated_at),
            seq=self._seq,
            progress=self._progress,
            artifacts=list(self._artifacts),
            input_request=self._input_request,
            output=self._output,
            error=self._error,
        )

    # -- machinery ------------------------------------------------------------------------

    def _invalid(self, action: str, why: str | None = None) -> InvalidTaskState:
        text = f"cannot {action.replace('_', ' ')} task {self._id!r} in state {self._state}"
        return InvalidTaskState(
            text if why is None else f"{text}: {why}",
            data={"task_id": self._id, "state": self._state, "action": action},
        )

    def _check(self, action: TaskAction) -> TaskState:
        target = TRANSITIONS[self._state].get(action)
        if target is None:
            raise self._invalid(action)
        return target

    def _check_active(self, action: str) -> None:
        if self._state in TERMINAL_STATES:
            raise self._invalid(action, "the task is terminal")

    def _approval_request(self, action: TaskAction) -> InputRequest:
        self._check(action)
        request = self._input_request
        if request is None or request.kind != "approval":
            raise self._invalid(action, "the task does not wait for approval")
        return request

    def _move(
        self,
        now: float,
        action: TaskAction,
        *,
        input_request: InputRequest | None = None,
        output: Any = None,
        error: ErrorObject | None = None,
        reason: str | None = None,
    ) -> TaskEvent:
        self._state = self._check(action)
        self._input_request = input_request
        if action == "complete":
            self._output = output
        elif action == "fail":
            self._error = error
        elif reason is not None:
            self._reason = reason
            fraction = self._progress.fraction if self._progress is not None else None
            self._progress = Progress(fraction=fraction, message=reason)
        return self._emit(now, "state", progress=self._progress if reason is not None else None)

    def _emit(
        self,
        now: float,
        kind: Literal["state", "progress", "artifact"],
        *,
        progress: Progress | None = None,
        artifact: Artifact | None = None,
    ) -> TaskEvent:
        self._seq += 1
        self._updated_at = now
        state = self._state
        is_state = kind == "state"
        event = TaskEvent(
            task_id=self._id,
            seq=self._seq,
            time=format_rfc3339(now),
            kind=kind,
            state=state,
            progress=progress,
            artifact=artifact,
            input_request=self._input_request if is_state else None,
            output=self._output if is_state and state == "completed" else None,
            error=self._error if is_state and state == "failed" else None,
        )
        events = self._events
        events.append(event)
        # Trim in batches so that appending stays O(1) amortised; first_seq hides the
        # surplus, so the visible window is exactly max_events.
        limit = self._max_events
        if limit is not None and len(events) >= 2 * limit:
            drop = len(events) - limit
            del events[:drop]
            self._offset += drop
        return event


class TaskTable:
    """The tasks of one runtime, by id.

    Args:
        id_factory: makes new task ids (default: random UUID4 hex).
        max_events: passed to every :class:`TaskRecord`.
        max_tasks: most tasks held at once; :meth:`create` raises
            :class:`~agentlink.model.Overloaded` beyond it (``None``: no limit).
    """

    def __init__(
        self,
        *,
        id_factory: Callable[[], str] | None = None,
        max_events: int | None = None,
        max_tasks: int | None = None,
    ) -> None:
        self._id_factory = id_factory if id_factory is not None else _uuid_hex
        self._max_events = max_events
        self._max_tasks = max_tasks
        self._records: dict[str, TaskRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def __iter__(self) -> Iterator[TaskRecord]:
        return iter(list(self._records.values()))

    def create(
        self, now: float, *, tool: str | None = None, task_id: str | None = None
    ) -> TaskRecord:
        """Create a task in ``submitted``.

        Args:
            now: the current time as epoch seconds.
            tool: the tool the task runs, if any.
            task_id: use this id instead of a generated one.

        Raises:
            UsageError: the id is already taken.
            Overloaded: ``max_tasks`` tasks are held.
        """
        if self._max_tasks is not None and len(self._records) >= self._max_tasks:
            raise Overloaded("too many tasks", data={"limit": self._max_tasks})
        if task_id is None:
            task_id = self._id_factory()
        if task_id in self._records:
            raise UsageError(f"task id {task_id!r} is already in use")
        record = TaskRecord(task_id, now, tool=tool, max_events=self._max_events)
        self._records[task_id] = record
        return record

    def get(self, task_id: str) -> TaskRecord:
        """The task with this id.

        Raises:
            TaskNotFound: no such task (or it was forgotten).
        """
        record = self._records.get(task_id)
        if record is None:
            raise TaskNotFound(f"no task {task_id!r}", data={"task_id": task_id})
        return record

    def list_tasks(self, *, state: TaskState | None = None) -> list[TaskRecord]:
        """Tasks in creation order, optionally only those in ``state``."""
        if state is None:
            return list(self._records.values())
        return [record for record in self._records.values() if record.state == state]

    def forget(self, now: float, retention: float) -> list[str]:
        """Drop terminal tasks whose last change is at least ``retention`` seconds old.

        Returns:
            The ids dropped.
        """
        cutoff = now - retention
        gone = [
            task_id
            for task_id, record in self._records.items()
            if record.terminal and record.updated_at <= cutoff
        ]
        for task_id in gone:
            del self._records[task_id]
        return gone


def _uuid_hex() -> str:
    return uuid.uuid4().hex
