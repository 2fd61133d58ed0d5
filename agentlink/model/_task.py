"""Tasks: long-running work with a state machine and a resumable event sequence."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from ._base import AgentId, ContentType, JsonObject, Model, Timestamp, ToolName
from ._envelope import ErrorObject

__all__ = [
    "TASK_STATES",
    "TERMINAL_STATES",
    "Approval",
    "Artifact",
    "InputRequest",
    "Progress",
    "Task",
    "TaskEvent",
    "TaskState",
]

TaskState = Literal[
    "submitted", "working", "input-required", "completed", "failed", "canceled", "rejected"
]
TASK_STATES: tuple[str, ...] = get_args(TaskState)
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "canceled", "rejected"})
TaskId = Annotated[str, Field(min_length=1, max_length=256)]


class Progress(Model):
    fraction: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    message: str | None = None


class Artifact(Model):
    """A named output a task produces along the way."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    content_type: ContentType = "application/json"
    data: Any = None


class InputRequest(Model):
    """What a task in ``input-required`` waits for: input, or approvals."""

    kind: Literal["input", "approval"]
    prompt: str = ""
    input_schema: JsonObject | None = None
    approvals_needed: Annotated[int, Field(ge=1)] | None = None
    approved_by: list[AgentId] = Field(default_factory=list)


class Task(Model):
    """A snapshot of a task."""

    id: TaskId
    tool: ToolName | None = None
    state: TaskState
    created_at: Timestamp
    updated_at: Timestamp
    seq: Annotated[int, Field(ge=0)] = Field(description="Sequence number of the last event.")
    progress: Progress | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    input_request: InputRequest | None = None
    output: Any = None
    error: ErrorObject | None = None


class TaskEvent(Model):
    """One change to a task. ``seq`` starts at 1 and grows by one per event of the task."""

    task_id: TaskId
    seq: Annotated[int, Field(ge=1)]
    time: Timestamp
    kind: Literal["state", "progress", "artifact"]
    state: TaskState
    progress: Progress | None = None
    artifact: Artifact | None = None
    input_request: InputRequest | None = None
    output: Any = None
    error: ErrorObject | None = None


class Approval(Model):
    """A decision on an actuating task waiting for approval."""

    task_id: TaskId
    approver: AgentId
    decision: Literal["approve", "reject"]
    reason: str | None = None
    time: Timestamp | None = None
