"""Params and results of every agentlink method, and the table that names them.

``METHODS`` is the single list of methods: the dispatch layer, the schema export and the
spec's method table are all checked against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from ._base import (
    AgentId,
    AssetId,
    Capability,
    ContentType,
    JsonObject,
    Model,
    Role,
    Timestamp,
    ToolName,
    Topic,
)
from ._card import AgentCard, Profile
from ._envelope import RequestParams
from ._event import Event
from ._message import Message
from ._registry import Lease, RegistryChange
from ._task import Task, TaskEvent, TaskId, TaskState
from ._tool import Tool

__all__ = [
    "METHODS",
    "CardParams",
    "DeregisterParams",
    "DeregisterResult",
    "EventsPublishParams",
    "EventsPublishResult",
    "EventsSubscribeParams",
    "EventsSubscribeResult",
    "HeartbeatParams",
    "MessageSendParams",
    "MessageSendResult",
    "MethodSpec",
    "PingParams",
    "PingResult",
    "RegisterParams",
    "SearchParams",
    "SearchResult",
    "TaskApproveParams",
    "TaskIdParams",
    "TaskInputParams",
    "TasksCancelParams",
    "TasksListParams",
    "TasksListResult",
    "TasksSubscribeParams",
    "TasksSubscribeResult",
    "ToolCallParams",
    "ToolCallResult",
    "ToolsListParams",
    "ToolsListResult",
    "WatchParams",
    "WatchResult",
]

Cursor = Annotated[str, Field(min_length=1, max_length=1024)]
WaitMs = Annotated[int, Field(ge=0, le=60_000)]
Limit = Annotated[int, Field(ge=1, le=1000)]
Pattern = Annotated[str, Field(pattern=r"^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$")]


class CardParams(RequestParams):
    pass


class PingParams(RequestParams):
    pass


class PingResult(Model):
    ok: Annotated[bool, Field(json_schema_extra={"const": True})]
    time: Timestamp

    @field_validator("ok")
    @classmethod
    def _ok_is_true(cls, value: bool) -> bool:
        # Not Literal[True]: that would also take 1, since 1 == True in Python.
        if value is not True:
            raise ValueError("ok must be true")
        return value


class ToolsListParams(RequestParams):
    cursor: Cursor | None = None


class ToolsListResult(Model):
    tools: list[Tool]
    next_cursor: Cursor | None = None


class ToolCallParams(RequestParams):
    name: ToolName
    arguments: JsonObject = Field(default_factory=dict)


class ToolCallResult(Model):
    """Exactly one of ``output`` (the tool finished) or ``task`` (it runs as a task)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["output"]}, {"required": ["task"]}]}
    )

    output: Any = None
    task: Task | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if len({"output", "task"} & self.model_fields_set) != 1:
            raise ValueError("exactly one of 'output' and 'task' must be present")
        return self


class MessageSendParams(RequestParams):
    message: Message


class MessageSendResult(Model):
    """``reply`` carries an immediate answer (agree, refuse, propose, inform, ...), if any."""

    reply: Message | None = None


class TaskIdParams(RequestParams):
    task_id: TaskId


class TasksCancelParams(TaskIdParams):
    reason: str | None = None


class TasksListParams(RequestParams):
    state: TaskState | None = None
    cursor: Cursor | None = None
    limit: Limit = 100


class TasksListResult(Model):
    tasks: list[Task]
    next_cursor: Cursor | None = None


class TasksSubscribeParams(TaskIdParams):
    after_seq: Annotated[int, Field(ge=0)] = 0
    wait_ms: WaitMs = 0


class TasksSubscribeResult(Model):
    events: list[TaskEvent]
    task: Task


class TaskInputParams(TaskIdParams):
    input: Any


class TaskApproveParams(TaskIdParams):
    decision: Literal["approve", "reject"]
    reason: str | None = None


class EventsPublishParams(RequestParams):
    topic: Topic
    data: Any = None
    datacontenttype: ContentType = "application/json"


class EventsPublishResult(Model):
    event: Event


class EventsSubscribeParams(RequestParams):
    topics: Annotated[list[Pattern], Field(min_length=1, max_length=64)]
    after_seq: Annotated[int, Field(ge=0)] = 0
    wait_ms: WaitMs = 0
    limit: Limit = 100


class EventsSubscribeResult(Model):
    events: list[Event]
    last_seq: Annotated[int, Field(ge=0)]


class RegisterParams(RequestParams):
    card: AgentCard
    ttl_s: Annotated[float, Field(gt=0, le=86400)] = 30.0


class HeartbeatParams(RequestParams):
    agent_id: AgentId
    lease_id: Annotated[str, Field(min_length=1, max_length=256)]


class DeregisterParams(HeartbeatParams):
    pass


class DeregisterResult(Model):
    removed: bool


class SearchParams(RequestParams):
    """All given criteria must match (AND); list criteria are not offered on purpose."""

    role: Role | None = None
    capability: Capability | None = None
    tool: ToolName | None = None
    asset: AssetId | None = None
    tag: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    profile: Profile | None = None
    agent_id: AgentId | None = None
    limit: Limit = 100
    cursor: Cursor | None = None


class SearchResult(Model):
    agents: list[AgentCard]
    next_cursor: Cursor | None = None


class WatchParams(RequestParams):
    after_seq: Annotated[int, Field(ge=0)] = 0
    wait_ms: WaitMs = 0


class WatchResult(Model):
    changes: list[RegistryChange]
    last_seq: Annotated[int, Field(ge=0)]


class MethodSpec(NamedTuple):
    """A method's name, the profile it belongs to, and its params and result models."""

    name: str
    profile: str
    params: type[RequestParams]
    result: type[Model]


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("agent/card", "core", CardParams, AgentCard),
        MethodSpec("agent/ping", "core", PingParams, PingResult),
        MethodSpec("tools/list", "tools", ToolsListParams, ToolsListResult),
        MethodSpec("tools/call", "tools", ToolCallParams, ToolCallResult),
        MethodSpec("message/send", "messaging", MessageSendParams, MessageSendResult),
        MethodSpec("tasks/get", "tasks", TaskIdParams, Task),
        MethodSpec("tasks/list", "tasks", TasksListParams, TasksListResult),
        MethodSpec("tasks/cancel", "tasks", TasksCancelParams, Task),
        MethodSpec("tasks/subscribe", "tasks", TasksSubscribeParams, TasksSubscribeResult),
        MethodSpec("tasks/input", "tasks", TaskInputParams, Task),
        MethodSpec("tasks/approve", "safe-actuation", TaskApproveParams, Task),
        MethodSpec("events/publish", "events", EventsPublishParams, EventsPublishResult),
        MethodSpec("events/subscribe", "events", EventsSubscribeParams, EventsSubscribeResult),
        MethodSpec("registry/register", "discovery", RegisterParams, Lease),
        MethodSpec("registry/heartbeat", "discovery", HeartbeatParams, Lease),
        MethodSpec("registry/deregister", "discovery", DeregisterParams, DeregisterResult),
        MethodSpec("registry/search", "discovery", SearchParams, SearchResult),
        MethodSpec("registry/watch", "discovery", WatchParams, WatchResult),
    )
}
