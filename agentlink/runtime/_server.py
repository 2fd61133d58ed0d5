"""Serving one agent: the protocol methods on top of an :class:`Agent`'s declarations.

``tools/call`` is the hot path: arguments are checked by the compiled validator, the
handler is awaited in the caller's task (in-process) under the call's deadline, and the
output is checked before it leaves. Everything else (tasks, approvals, events, messages)
goes through the same dispatcher, so every binding sees identical behaviour.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from agentlink.core._contract_net import ContractNetParticipant
from agentlink.core._deadline import format_rfc3339
from agentlink.core._dispatch import Call, Dispatcher, Handler
from agentlink.core._idempotency import BeginKind, IdempotencyCache, request_digest
from agentlink.core._interactions import OutOfSequence
from agentlink.core._validator import SchemaValidator
from agentlink.model import (
    METHODS,
    AgentlinkError,
    DeadlineExceeded,
    EventsPublishParams,
    EventsSubscribeParams,
    Forbidden,
    InputRequest,
    InternalError,
    InvalidParams,
    InvalidTaskState,
    InvalidToolInput,
    Message,
    MessageSendParams,
    Overloaded,
    RpcError,
    TaskApproveParams,
    TaskIdParams,
    TaskInputParams,
    TaskNotCancelable,
    TaskNotFound,
    TasksCancelParams,
    TasksListParams,
    TasksSubscribeParams,
    ToolExecutionError,
    ToolNotFound,
    ToolsListParams,
    Unauthorized,
    error_from_wire,
)
from agentlink.transport import Origin

from ._agent import Agent, MessageContext
from ._context import ToolContext, current_conversation, current_deadline, current_traceparent
from ._events import EventLog
from ._taskrun import RunningTask, TaskManager, Work
from ._toolspec import ToolSpec

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["AgentServer"]

PAGE = 100
# Errors that refuse a request before it does anything: they leave its key unused.
_REFUSALS = (
    InvalidParams,
    InvalidTaskState,
    TaskNotFound,
    TaskNotCancelable,
    ToolNotFound,
    InvalidToolInput,
    Forbidden,
    Unauthorized,
    Overloaded,
)


class AgentServer:
    """The protocol endpoint of one hosted agent."""

    def __init__(self, agent: Agent, runtime: Runtime) -> None:
        self.agent = agent
        self.runtime = runtime
        self.events = EventLog(agent.id)
        self.tasks = TaskManager(runtime.spawn)
        self.idempotency = IdempotencyCache()
        # Work of approval tasks, held until enough approvals arrive.
        self.pending_work: dict[str, Work] = {}
        self.topic_validators = {
            t.topic: SchemaValidator(t.data_schema) for t in agent.event_topics if t.data_schema
        }
        # Contract nets this agent takes part in, by (initiator, conversation).
        self.negotiations: dict[tuple[str, str], ContractNetParticipant] = {}
        self.dispatcher = Dispatcher(agent_id=agent.id)
        #: Authentication, policy, limits and audit (None without runtime security).
        self.guard = None
        if runtime.guards is not None:
            self.guard = runtime.guards.guard(agent.id, actuating=self._actuates)
            self.dispatcher.guard = self.guard
            limits = runtime.guards.limits
            if limits is not None and limits.max_bytes is not None:
                self.dispatcher.max_bytes = limits.max_bytes
            if limits is not None and limits.max_depth is not None:
                self.dispatcher.max_depth = limits.max_depth
        add = self.dispatcher.add
        add("agent/card", self._card)
        add("agent/ping", self._ping)
        add("tools/list", self._tools_list, params_model=ToolsListParams)
        add("tools/call", self._tools_call, params_check=_check_tools_call)
        add("message/send", self._keyed(self._message_send), params_model=MessageSendParams)
        add("tasks/get", self._tasks_get, params_model=TaskIdParams)
        add("tasks/list", self._tasks_list, params_model=TasksListParams)
        add("tasks/cancel", self._keyed(self._tasks_cancel), params_model=TasksCancelParams)
        add("tasks/subscribe", self._tasks_subscribe, params_model=TasksSubscribeParams)
        add("tasks/input", self._keyed(self._tasks_input), params_model=TaskInputParams)
        add("tasks/approve", self._keyed(self._tasks_approve), params_model=TaskApproveParams)
        add("events/publish", self._keyed(self._events_publish), params_model=EventsPublishParams)
        add("events/subscribe", self._events_subscribe, params_model=EventsSubscribeParams)
        missing = set(self.dispatcher.methods()) ^ {
            m for m in METHODS if not m.startswith("registry/")
        }
        assert not missing, missing

    def _actuates(self, tool: str) -> bool:
        spec = self.agent.tools.get(tool)
        return spec is not None and spec.tool.safety == "actuates"

    def check_event_data(self, topic: str, data: Any) -> None:
        """Refuse event data that is not JSON or not valid for the topic's declared schema.

        Raises:
            InvalidParams: with pointers into ``/data``; nothing is appended.
        """
        try:
            orjson.dumps(data)
        except TypeError as exc:
            raise InvalidParams(
                f"event data is not JSON: {exc}",
                data={"errors": [{"pointer": "/data", "message": "not JSON"}]},
            ) from None
        validator = self.topic_validators.get(topic)
        if validator is not None:
            errors = validator.errors(data)
            if errors:
                raise InvalidParams(
                    f"event data does not match the schema of {topic!r}",
                    data={"errors": [{**e, "pointer": "/data" + e["pointer"]} for e in errors]},
                )

    async def handle_frame(self, frame: bytes, origin: Origin) -> bytes | None:
        """The frame handler bound on the transport."""
        return await self.dispatcher.handle(frame, now=time.time(), context=origin)

    # -- core ----------------------------------------------------------------------------

    async def _card(self, call: Call) -> dict[str, Any]:
        return self.agent.card.to_wire()

    async def _ping(self, call: Call) -> dict[str, Any]:
        return {"ok": True, "time": format_rfc3339(call.now)}

    # -- tools ---------------------------------------------------------------------------

    async def _tools_list(self, call: Call) -> dict[str, Any]:
        params: ToolsListParams = call.model
        names = sorted(self.agent.tools)
        start = 0
        if params.cursor is not None:
            if params.cursor not in self.agent.tools:
                raise InvalidParams(
                    "unknown cursor",
                    data={"errors": [{"pointer": "/cursor", "message": "unknown cursor"}]},
                )
            start = names.index(params.cursor) + 1
        page = names[start : start + PAGE]
        result: dict[str, Any] = {"tools": [self.agent.tools[n].tool.to_wire() for n in page]}
        if start + PAGE < len(names):
            result["next_cursor"] = page[-1]
        return result

    async def _tools_call(self, call: Call) -> dict[str, Any]:
        params = call.params  # checked by _check_tools_call before the handler
        name: str = params["name"]
        arguments: dict[str, Any] = params.get("arguments", {})
        spec = self.agent.tools.get(name)
        if spec is None:
            raise ToolNotFound(
                f"agent {self.agent.id!r} has no tool {name!r}",
                data={"tool": name, "agent": self.agent.id},
            )
        kwargs = spec.arguments(arguments)
        self.runtime.observe_call(call.sender, self.agent.id, name)
        if call.meta.get("idempotency_key") is None:
            return await self._run_tool(spec, kwargs, call)
        result: dict[str, Any] = await self._once(call, partial(self._run_tool, spec, kwargs, call))
        return result

    async def _once(self, call: Call, work: Callable[[], Awaitable[dict[str, Any]]]) -> Any:
        """Run a state-changing request at most once per idempotency key.

        The same key with the same params gets the first answer (waiting for it while it
        is being produced); with other params, ``duplicate``. A request refused before it
        started (a check failed, or it was cancelled) leaves the key unused.
        """
        key = call.meta["idempotency_key"]
        scope = (call.sender or "", self.agent.id, call.method, key)
        digest = request_digest(call.method, call.params)
        while True:
            begin = self.idempotency.begin(scope, digest, call.now)
            if begin.kind is BeginKind.DONE:
                return _replay(begin.outcome)
            if begin.kind is BeginKind.NEW:
                break
            finished = anyio.Event()
            begin.entry.waiters.append(finished)
            await finished.wait()
        entry = begin.entry
        try:
            result = await work()
        except _REFUSALS:
            self.idempotency.abandon(scope)
            raise
        except RpcError as exc:
            self.idempotency.finish(scope, ("error", exc.to_wire()), time.time())
            raise
        except BaseException:
            self.idempotency.abandon(scope)
            raise
        else:
            self.idempotency.finish(scope, ("result", result), time.time())
        finally:
            for waiter in entry.waiters:
                waiter.set()
        return result

    def _keyed(self, handler: Handler) -> Handler:
        """``handler``, made idempotent for requests that carry an idempotency key."""

        async def keyed(call: Call) -> Any:
            if call.meta.get("idempotency_key") is None:
                return await handler(call)
            return await self._once(call, partial(handler, call))

        return keyed

    async def _run_tool(self, spec: ToolSpec, kwargs: dict[str, Any], call: Call) -> dict[str, Any]:
        if spec.tool.requires_approval or spec.tool.execution == "task":
            return {"task": self._start_task(spec, kwargs, call).snapshot().to_wire()}
        if spec.context_param is not None:
            kwargs = {**kwargs, spec.context_param: ToolContext(self.agent, call)}
        output = await self._invoke(spec, kwargs, call)
        result: dict[str, Any] = {"output": output}
        return result

    async def _invoke(self, spec: ToolSpec, kwargs: dict[str, Any], call: Call) -> Any:
        """Run a tool handler under the call's deadline and the tool's timeout."""
        limit = call.deadline
        if spec.tool.timeout_ms is not None:
            own = time.time() + spec.tool.timeout_ms / 1000
            limit = own if limit is None else min(limit, own)
        tokens = (
            current_deadline.set(limit),
            current_conversation.set(call.meta.get("conversation_id")),
            current_traceparent.set(call.meta.get("traceparent")),
        )
        try:
            if limit is None:
                value = await spec.func(**kwargs)
            else:
                with anyio.fail_after(max(0.0, limit - time.time())):
                    value = await spec.func(**kwargs)
        except RpcError:
            raise
        except TimeoutError:
            data: dict[str, Any] = {"tool": spec.tool.name, "started": True}
            if limit is not None:
                data["deadline"] = format_rfc3339(limit)
            raise DeadlineExceeded(
                f"tool {spec.tool.name!r} did not finish in time", data=data
            ) from None
        except Exception as exc:
            raise ToolExecutionError(
                str(exc) or type(exc).__name__,
                data={"tool": spec.tool.name, "exception": type(exc).__name__},
            ) from None
        finally:
            current_traceparent.reset(tokens[2])
            current_conversation.reset(tokens[1])
            current_deadline.reset(tokens[0])
        if call.deadline is not None and time.time() >= call.deadline:
            # Work that ends after the deadline is late even when it was not interrupted.
            raise DeadlineExceeded(
                f"tool {spec.tool.name!r} finished after the deadline",
                data={
                    "tool": spec.tool.name,
                    "started": True,
                    "deadline": format_rfc3339(call.deadline),
                },
            )
        return spec.output(value)

    def _start_task(self, spec: ToolSpec, kwargs: dict[str, Any], call: Call) -> RunningTask:
        if self.guard is not None and self.guard.max_open_tasks is not None:
            self.guard.check_open_tasks(self.tasks.open_count(call.sender))
        task = self.tasks.create(spec.tool.name, call.sender)
        # The task outlives the request: it keeps the conversation but not the deadline.
        detached = Call(None, call.method, call.params, call.meta, call.now, None, call.context)

        async def work(running: RunningTask) -> Any:
            args = kwargs
            if spec.context_param is not None:
                args = {**kwargs, spec.context_param: ToolContext(self.agent, detached, running)}
            return await self._invoke(spec, args, detached)

        if spec.tool.requires_approval:
            held: Work = work if self.guard is None else self._audited(work, task, spec.tool.name)
            arguments = orjson.dumps(call.params.get("arguments", {}), option=orjson.OPT_SORT_KEYS)
            task.record.require_input(
                time.time(),
                InputRequest(
                    kind="approval",
                    prompt=f"approve {spec.tool.name} {arguments.decode()}",
                    approvals_needed=spec.tool.approvals,
                ),
            )
            self.pending_work[task.id] = held
            if spec.approval_timeout is not None:
                self.runtime.spawn(partial(self._expire_approval, task, spec.approval_timeout))
        else:
            self.tasks.launch(task, work)
        task.changed()
        return task

    def _audited(self, work: Work, task: RunningTask, tool: str) -> Work:
        """``work`` that records the actuation it performs once approved."""
        guard = self.guard
        assert guard is not None

        async def actuation(running: RunningTask) -> Any:
            record = task.record
            fields: dict[str, Any] = {"tool": tool, "task_id": task.id, "caller": task.requester}
            fields["approved_by"] = list(record.approved_by)
            try:
                output = await work(running)
            except BaseException as exc:
                outcome = exc.name if isinstance(exc, RpcError) else type(exc).__name__
                guard.record("actuation", time.time(), **fields, outcome=outcome)
                raise
            guard.record("actuation", time.time(), **fields, outcome="ok")
            return output

        return actuation

    async def _expire_approval(self, task: RunningTask, timeout: float) -> None:
        """Fail a task still waiting for approval after ``timeout`` seconds, so a late
        approval never starts a stale actuation."""
        await anyio.sleep(timeout)
        request = task.record.input_request
        if (
            task.record.state == "input-required"
            and request is not None
            and request.kind == "approval"
        ):
            self.pending_work.pop(task.id, None)
            task.record.fail(
                time.time(),
                DeadlineExceeded(
                    f"no approval within {timeout} s", data={"started": False, "task_id": task.id}
                ),
            )
            task.changed()

    # -- tasks ---------------------------------------------------------------------------

    async def _tasks_get(self, call: Call) -> dict[str, Any]:
        return self.tasks.get(call.model.task_id).snapshot().to_wire()

    async def _tasks_list(self, call: Call) -> dict[str, Any]:
        params: TasksListParams = call.model
        tasks = self.tasks.list(params.state)
        start = 0
        if params.cursor is not None:
            ids = [t.id for t in tasks]
            if params.cursor not in ids:
                raise InvalidParams(
                    "unknown cursor",
                    data={"errors": [{"pointer": "/cursor", "message": "unknown cursor"}]},
                )
            start = ids.index(params.cursor) + 1
        page = tasks[start : start + params.limit]
        result: dict[str, Any] = {"tasks": [t.snapshot().to_wire() for t in page]}
        if start + params.limit < len(tasks):
            result["next_cursor"] = page[-1].id
        return result

    async def _tasks_cancel(self, call: Call) -> dict[str, Any]:
        params: TasksCancelParams = call.model
        task = self.tasks.get(params.task_id)
        task.cancel(params.reason)
        self.pending_work.pop(task.id, None)
        return task.snapshot().to_wire()

    async def _tasks_subscribe(self, call: Call) -> dict[str, Any]:
        params: TasksSubscribeParams = call.model
        task = self.tasks.get(params.task_id)
        wait = _poll_window(params.wait_ms, call.deadline)
        await task.wait_after(params.after_seq, wait)
        events = task.events_after(params.after_seq, 100)
        return {
            "events": [e.to_wire() for e in events],
            "task": task.snapshot().to_wire(),
        }

    async def _tasks_input(self, call: Call) -> dict[str, Any]:
        params: TaskInputParams = call.model
        task = self.tasks.get(params.task_id)
        request = task.record.input_request
        if task.record.state == "input-required" and request is not None and request.input_schema:
            errors = SchemaValidator(request.input_schema).errors(params.input)
            if errors:
                raise InvalidParams(
                    "input does not match the requested schema",
                    data={"errors": [{**e, "pointer": "/input" + e["pointer"]} for e in errors]},
                )
        task.provide_input(params.input)
        return task.snapshot().to_wire()

    async def _tasks_approve(self, call: Call) -> dict[str, Any]:
        params: TaskApproveParams = call.model
        task = self.tasks.get(params.task_id)
        approver = call.sender
        if approver is None:
            raise Forbidden("an approval must name its approver in _meta.sender")
        request = task.record.input_request
        if task.record.state != "input-required" or request is None or request.kind != "approval":
            raise InvalidTaskState(
                f"task {task.id} is not waiting for approval",
                data={"task_id": task.id, "state": task.record.state},
            )
        spec = self.agent.tools.get(task.record.tool or "")
        if spec is not None and spec.approvers is not None:
            await self.runtime.check_approver(approver, spec.approvers, task.id)
        allow_self = False
        if self.guard is not None:
            await self.guard.check_approval(call, task.record.tool)
            allow_self = self.guard.allows_self_approval(task.record.tool)
        if params.decision == "reject":
            task.record.reject_approval(time.time(), approver, params.reason)
            self.pending_work.pop(task.id, None)
            task.changed()
            return task.snapshot().to_wire()
        ready = task.record.approve(
            time.time(), approver, requester_id=task.requester, allow_self=allow_self
        )
        task.changed()
        if ready:
            work = self.pending_work.pop(task.id)
            self.tasks.launch(task, work)
        return task.snapshot().to_wire()

    # -- events --------------------------------------------------------------------------

    async def _events_publish(self, call: Call) -> dict[str, Any]:
        params: EventsPublishParams = call.model
        event = self.runtime.publish_raw(
            self.agent.id, params.topic, params.data, params.datacontenttype
        )
        return {"event": event}

    async def _events_subscribe(self, call: Call) -> dict[str, Any]:
        params: EventsSubscribeParams = call.model
        self.runtime.observe_subscription(call.sender, params.topics)
        wait = _poll_window(params.wait_ms, call.deadline)
        events = self.events.after(params.after_seq, params.topics, params.limit)
        while not events and wait > 0 and self.events.last_seq >= 0:
            start = time.time()
            seen = self.events.last_seq
            await self.events.wait(max(seen, params.after_seq), wait)
            wait -= time.time() - start
            if self.events.last_seq == seen:
                break
            events = self.events.after(params.after_seq, params.topics, params.limit)
        last = events[-1]["seq"] if events else max(params.after_seq, self.events.last_seq)
        return {"events": events, "last_seq": last}

    # -- messages ------------------------------------------------------------------------

    async def _message_send(self, call: Call) -> dict[str, Any]:
        message: Message = call.model.message
        meta = call.meta
        conversation = meta.get("conversation_id")
        if message.protocol is not None and conversation is None:
            raise InvalidParams(
                f"a {message.protocol} message needs _meta.conversation_id",
                data={"errors": [{"pointer": "/_meta/conversation_id", "message": "required"}]},
            )
        if conversation is not None and self.runtime.deliver_to_conversation(
            self.agent.id, conversation, message, meta
        ):
            return {}
        participant, refusal = self._follow_negotiation(message, call.sender, conversation)
        if refusal is not None:
            return {"reply": refusal.to_wire()}
        track = None if participant is None else partial(_track, participant)
        for route in self.agent.message_routes:
            if route.performative not in (None, message.performative):
                continue
            if route.content_type not in (None, message.content_type):
                continue
            if route.validator is not None:
                errors = route.validator.errors(message.content)
                if errors:
                    raise InvalidParams(
                        "message content does not match its schema",
                        data={
                            "errors": [
                                {**e, "pointer": "/message/content" + e["pointer"]} for e in errors
                            ]
                        },
                    )
            context = MessageContext(
                self.agent, call.sender, conversation, meta["message_id"], meta, track
            )
            token = current_conversation.set(conversation)
            try:
                reply = await route.handler(message, context)
            except RpcError:
                raise
            except Exception as exc:
                raise InternalError(f"message handler failed: {type(exc).__name__}") from None
            finally:
                current_conversation.reset(token)
            if reply is None or not _may_answer(message, reply):
                return {}
            if participant is not None:
                # Track our own answer so the next message of the initiator is judged right;
                # an answer the protocol does not allow is still sent, the initiator judges it.
                with contextlib.suppress(AgentlinkError):
                    participant.send(reply.performative)
            return {"reply": reply.to_wire()}
        if message.performative == "not-understood":
            return {}  # never answered: that is how loops between two agents start
        reason = f"no handler for {message.performative} {message.content_type}"
        return {"reply": _not_understood(message, reason).to_wire()}

    def _follow_negotiation(
        self, message: Message, sender: str | None, conversation: str | None
    ) -> tuple[ContractNetParticipant | None, Message | None]:
        """Check a contract-net message against the participant's state machine.

        Returns the participant's machine, and a not-understood reply for a message out of
        sequence (an accept-proposal for a proposal never made, a second award).
        """
        if message.protocol not in ("contract-net", "iterated-contract-net") or not conversation:
            return None, None
        if message.performative in ("not-understood", "inform"):
            # Never answered with a message (ALP-MSG-009, ALP-MSG-010): the handler decides.
            return None, None
        key = (sender or "", conversation)
        participant = self.negotiations.get(key)
        if participant is None:
            if message.performative != "cfp":
                reason = "no call for proposals in this conversation"
                return None, _not_understood(message, reason)
            if len(self.negotiations) >= 10_000:
                self.negotiations.pop(next(iter(self.negotiations)))
            participant = self.negotiations[key] = ContractNetParticipant(
                conversation_id=conversation
            )
        try:
            participant.receive(message.performative)
        except OutOfSequence as exc:
            return None, _not_understood(message, exc.message)
        if participant.finished:
            self.negotiations.pop(key, None)
        return participant, None


_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}\Z")


def _check_tools_call(params: dict[str, Any]) -> None:
    """``tools/call`` params against their schema, without pydantic (the hot path)."""
    name = params.get("name")
    arguments = params.get("arguments", {})
    if type(name) is not str or type(arguments) is not dict or _TOOL_NAME.match(name) is None:
        raise InvalidParams(
            "invalid params for tools/call", data={"errors": _tools_call_errors(params)}
        )


def _tools_call_errors(params: dict[str, Any]) -> list[dict[str, str]]:
    """Every way ``tools/call`` params break their schema, as a pointer list."""
    errors = []
    if "name" not in params:
        errors.append({"pointer": "", "message": "'name' is required"})
    elif type(params["name"]) is not str:
        errors.append({"pointer": "/name", "message": "must be a string"})
    elif _TOOL_NAME.match(params["name"]) is None:
        errors.append({"pointer": "/name", "message": "1-128 characters of [A-Za-z0-9_.-]"})
    if "arguments" in params and type(params["arguments"]) is not dict:
        errors.append({"pointer": "/arguments", "message": "must be an object"})
    return errors


def _may_answer(message: Message, reply: Message) -> bool:
    """An inform gets no answer but not-understood; a not-understood gets none at all."""
    if message.performative == "not-understood":
        return False
    return message.performative != "inform" or reply.performative == "not-understood"


def _poll_window(wait_ms: int, deadline: float | None) -> float:
    """How long a long poll may wait: ``wait_ms``, but ending early enough before the
    deadline that the (possibly empty) answer arrives in time."""
    wait = wait_ms / 1000
    if deadline is not None:
        left = deadline - time.time()
        wait = min(wait, left - min(0.05, left * 0.1))
    return wait


def _track(machine: ContractNetParticipant, performative: str) -> None:
    """Record an answer sent later; one the protocol forbids is for the initiator to judge."""
    with contextlib.suppress(AgentlinkError):
        machine.send(performative)


def _not_understood(message: Message, reason: str) -> Message:
    return Message(
        performative="not-understood", content={"reason": reason}, protocol=message.protocol
    )


def _replay(outcome: tuple[str, Any]) -> dict[str, Any]:
    """The stored first answer to an idempotent request."""
    kind, value = outcome
    if kind == "error":
        raise error_from_wire(value)
    result: dict[str, Any] = value
    return result
