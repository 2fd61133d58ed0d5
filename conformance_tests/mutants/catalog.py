"""Deliberately non-conforming implementations: the reference fixture with one defect each.

A mutant names the requirements it violates and the conformance units its defect may
reasonably disturb beyond them. The suite must fail every violated requirement, and
nothing outside those units (``tests/suite/test_suite_mutants.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Frame = Any
Handler = Callable[[bytes, Any], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Mutant:
    name: str
    violates: frozenset[str]
    units: frozenset[str]
    describe: str
    #: Rewrites each incoming request (single requests and batch members).
    request: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: Rewrites each outgoing response, given the request it answers (None: unknown).
    reply: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any] | None] | None = None
    #: Rewrites a whole reply frame (after ``reply``), given the raw request frame.
    frame: Callable[[bytes | None, bytes | None], bytes | None] | None = None
    #: Patches the implementation before it starts (monkeypatching its classes).
    patch: Callable[[], None] | None = None
    #: Adjusts the running HTTP transport and runtime.
    transport: Callable[[Any, Any], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _meta(request: dict[str, Any]) -> dict[str, Any]:
    params = request.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else {}


def _drop_meta(member: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def rewrite(request: dict[str, Any]) -> dict[str, Any]:
        meta = _meta(request)
        if isinstance(meta.get(member), str) and 1 <= len(meta[member]) <= 256:
            del meta[member]  # only a well-formed member: a bad one must still be refused
        return request

    return rewrite


def _drop_expired_deadline(request: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    meta = _meta(request)
    deadline = meta.get("deadline")
    if isinstance(deadline, str):
        try:
            when = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
        except ValueError:
            return request
        if when.tzinfo is not None and when <= datetime.now(UTC):
            meta.pop("deadline")
    return request


def _any_version(request: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(request)
    protocol = meta.get("protocol")
    if isinstance(protocol, str) and re.fullmatch(r"agentlink/[0-9]+\.[0-9]+", protocol):
        meta["protocol"] = "agentlink/0.1"  # every well-formed version is "supported"
    return request


def _unknown_tool_as_result(
    reply: dict[str, Any], request: dict[str, Any] | None
) -> dict[str, Any]:
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == -32011:
        return {
            "jsonrpc": "2.0",
            "id": reply.get("id"),
            "result": {"output": {"isError": True, "message": error.get("message")}},
        }
    return reply


def _tool_failure_as_result(
    reply: dict[str, Any], request: dict[str, Any] | None
) -> dict[str, Any]:
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == -32014:
        return {"jsonrpc": "2.0", "id": reply.get("id"), "result": {"output": {"isError": True}}}
    return reply


def _method_not_found_as_invalid_request(
    reply: dict[str, Any], request: dict[str, Any] | None
) -> dict[str, Any]:
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == -32601:
        error["code"] = -32600
        error["data"] = {"name": "invalid_request"}
    return reply


def _parse_error_as_invalid_request(
    reply: dict[str, Any], request: dict[str, Any] | None
) -> dict[str, Any]:
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == -32700:
        error["code"] = -32600
        error["data"] = {"name": "invalid_request"}
    return reply


def _card_with_bad_role(reply: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    if request is not None and request.get("method") == "agent/card" and "result" in reply:
        reply["result"]["role"] = "robot"
    return reply


def _inform_answered(reply: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    if request is None or request.get("method") != "message/send" or "result" not in reply:
        return reply
    message = (request.get("params") or {}).get("message") or {}
    if message.get("performative") == "inform" and not reply["result"].get("reply"):
        reply["result"]["reply"] = {"performative": "inform", "content": {"ack": True}}
    return reply


def _accept_without_proposal_informs(
    reply: dict[str, Any], request: dict[str, Any] | None
) -> dict[str, Any]:
    if request is None or request.get("method") != "message/send" or "result" not in reply:
        return reply
    message = (request.get("params") or {}).get("message") or {}
    answer = reply["result"].get("reply") or {}
    if (
        message.get("performative") == "accept-proposal"
        and answer.get("performative") == "not-understood"
    ):
        reply["result"]["reply"] = {"performative": "inform", "content": {"done": True}}
    return reply


def _batch_first_only(frame: bytes | None, request: bytes | None) -> bytes | None:
    if frame is None:
        return None
    try:
        replies = json.loads(frame)
    except ValueError:
        return frame
    if isinstance(replies, list) and len(replies) > 1:
        return json.dumps(replies[:1]).encode()
    return frame


def _empty_batch_as_array(frame: bytes | None, request: bytes | None) -> bytes | None:
    if frame is not None and request is not None and request.strip() == b"[]":
        return json.dumps([json.loads(frame)]).encode()
    return frame


def _answer_notifications(frame: bytes | None, request: bytes | None) -> bytes | None:
    if frame is None and request is not None:
        return b'{"jsonrpc": "2.0", "id": null, "result": {}}'
    return frame


# -- implementation patches ---------------------------------------------------------------


def _patch_no_input_validation() -> None:
    from agentlink.runtime import _toolspec

    def arguments(self: Any, raw: dict[str, Any]) -> dict[str, Any]:
        return raw

    _toolspec.ToolSpec.arguments = arguments  # type: ignore[method-assign]


def _patch_actuates_without_approval() -> None:
    from agentlink.runtime import _server

    original = _server.AgentServer._run_tool

    async def run_tool(self: Any, spec: Any, kwargs: Any, call: Any) -> Any:
        if spec.tool.requires_approval:
            value = await spec.func(**kwargs)
            return {"output": spec.output(value)}
        return await original(self, spec, kwargs, call)

    _server.AgentServer._run_tool = run_tool  # type: ignore[method-assign]


def _patch_loses_events_on_resume() -> None:
    from agentlink.runtime import _events

    original = _events.EventLog.after

    def after(self: Any, after_seq: int, patterns: Any = None, limit: int = 100) -> Any:
        events = original(self, after_seq, patterns, limit)
        return events[1:] if after_seq > 0 else events

    _events.EventLog.after = after  # type: ignore[method-assign]


def _task_seq_gap(reply: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """Numbers task events 1, 3, 4, ...: seq 2 is never used."""
    result = reply.get("result")
    if request is None or not isinstance(result, dict):
        return reply

    def shift(seq: int) -> int:
        return seq + 1 if seq >= 2 else seq

    for event in result.get("events", []) if request.get("method") == "tasks/subscribe" else []:
        if isinstance(event, dict) and "task_id" in event:
            event["seq"] = shift(event["seq"])
    task = result.get("task") if isinstance(result.get("task"), dict) else result
    if isinstance(task, dict) and "state" in task and isinstance(task.get("seq"), int):
        task["seq"] = shift(task["seq"])
    return reply


def _patch_cancel_terminal_allowed() -> None:
    from agentlink.runtime import _taskrun

    original = _taskrun.RunningTask.cancel

    def cancel(self: Any, reason: str | None) -> None:
        if self.record.terminal:
            return
        original(self, reason)

    _taskrun.RunningTask.cancel = cancel  # type: ignore[method-assign]


def _patch_self_approval_allowed() -> None:
    from agentlink.core import _tasks

    original = _tasks.TaskRecord.approve

    def approve(
        self: Any,
        now: float,
        approver_id: str,
        *,
        requester_id: str | None,
        allow_self: bool = False,
    ) -> bool:
        return original(self, now, approver_id, requester_id=requester_id, allow_self=True)

    _tasks.TaskRecord.approve = approve  # type: ignore[method-assign]


def _patch_receiver_ignored() -> None:
    from agentlink.core import _dispatch

    original = _dispatch.Dispatcher.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.agent_id = None

    _dispatch.Dispatcher.__init__ = init  # type: ignore[method-assign]


def _patch_bad_cursor_accepted() -> None:
    from agentlink.runtime import _server

    original = _server.AgentServer._tools_list

    async def tools_list(self: Any, call: Any) -> Any:
        if call.model.cursor is not None and call.model.cursor not in self.agent.tools:
            call.model = call.model.model_copy(update={"cursor": None})
        return await original(self, call)

    _server.AgentServer._tools_list = tools_list  # type: ignore[method-assign]


def _patch_task_input_ignores_schema() -> None:
    from agentlink.runtime import _server

    async def tasks_input(self: Any, call: Any) -> Any:
        task = self.tasks.get(call.model.task_id)
        task.provide_input(call.model.input)
        return task.snapshot().to_wire()

    _server.AgentServer._tasks_input = tasks_input  # type: ignore[method-assign]


def _patch_event_data_unchecked() -> None:
    from agentlink.runtime import _server

    def check(self: Any, topic: str, data: Any) -> None:
        return None

    _server.AgentServer.check_event_data = check  # type: ignore[method-assign]


def _transport_oversize_accepted(transport: Any, runtime: Any) -> None:
    transport.app.max_bytes = 64 << 20
    for server in runtime.servers.values():
        server.dispatcher.max_bytes = 64 << 20


def _transport_any_content_type(transport: Any, runtime: Any) -> None:
    original = transport.app._rpc

    async def rpc(handler: Any, origin: Any, headers: dict[str, str], *rest: Any) -> None:
        await original(handler, origin, {**headers, "content-type": "application/json"}, *rest)

    transport.app._rpc = rpc


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant(
            "unknown-tool-as-result",
            frozenset({"ALP-TOOL-007"}),
            frozenset({"tools-call"}),
            "answers an unknown tool with a result instead of tool_not_found",
            reply=_unknown_tool_as_result,
        ),
        Mutant(
            "tool-failure-as-result",
            frozenset({"ALP-TOOL-011"}),
            frozenset({"tools-call", "tools-task-execution"}),
            "answers a failing tool with a result instead of tool_execution_error",
            reply=_tool_failure_as_result,
        ),
        Mutant(
            "no-input-validation",
            frozenset({"ALP-TOOL-008", "ALP-TOOL-009"}),
            # The actuating tool's invalid input now reaches the approval step too.
            frozenset({"tools-call", "tools-validation", "core-errors", "act-approval"}),
            "runs tools on arguments that do not validate",
            patch=_patch_no_input_validation,
        ),
        Mutant(
            "ignores-expired-deadlines",
            frozenset({"ALP-CORE-036"}),
            frozenset({"core-deadlines", "core-errors"}),
            "executes requests whose deadline has passed",
            request=_drop_expired_deadline,
        ),
        Mutant(
            "actuates-without-approval",
            frozenset({"ALP-ACT-004"}),
            frozenset(
                {
                    "act-approval",
                    "act-idempotency",
                    "act-declaration",
                    "tasks-lifecycle",
                    "tasks-events",
                    "tasks-input",
                }
            ),
            "runs an actuating tool that requires approval at once",
            patch=_patch_actuates_without_approval,
        ),
        Mutant(
            "runs-duplicates-twice",
            frozenset({"ALP-CORE-044"}),
            frozenset({"core-idempotency", "act-idempotency"}),
            "ignores idempotency keys",
            request=_drop_meta("idempotency_key"),
        ),
        Mutant(
            "loses-events-on-resume",
            frozenset({"ALP-EVT-005"}),
            frozenset({"events-subscribe", "events-publish", "events-patterns", "http-sse"}),
            "drops the first event after the resume point",
            patch=_patch_loses_events_on_resume,
        ),
        Mutant(
            "invalid-card",
            frozenset({"ALP-CARD-001"}),
            frozenset({"core-card", "http-card"}),
            "serves a card whose role is not a role",
            reply=_card_with_bad_role,
        ),
        Mutant(
            "parse-error-as-invalid-request",
            frozenset({"ALP-CORE-001"}),
            frozenset({"core-framing", "core-errors", "core-batch"}),
            "answers malformed JSON with invalid_request",
            reply=_parse_error_as_invalid_request,
        ),
        Mutant(
            "method-not-found-as-invalid-request",
            frozenset({"ALP-CORE-008"}),
            frozenset({"core-framing", "core-errors", "core-batch"}),
            "answers an unknown method with invalid_request",
            reply=_method_not_found_as_invalid_request,
        ),
        Mutant(
            "batch-first-only",
            frozenset({"ALP-CORE-011"}),
            # The retention test fills the log with one batch of publications.
            frozenset({"core-batch", "events-subscribe"}),
            "answers only the first request of a batch",
            frame=_batch_first_only,
        ),
        Mutant(
            "empty-batch-as-array",
            frozenset({"ALP-CORE-010"}),
            frozenset({"core-batch"}),
            "answers an empty batch with an array",
            frame=_empty_batch_as_array,
        ),
        Mutant(
            "answers-notifications",
            frozenset({"ALP-CORE-006"}),
            frozenset({"core-framing", "core-batch", "http-rpc"}),
            "replies to notifications",
            frame=_answer_notifications,
        ),
        Mutant(
            "no-version-check",
            frozenset({"ALP-CORE-025"}),
            frozenset({"core-versioning", "core-meta", "core-errors"}),
            "accepts every protocol version",
            request=_any_version,
        ),
        Mutant(
            "oversize-accepted",
            frozenset({"ALP-CORE-017", "ALP-HTTP-004"}),
            frozenset({"core-limits", "http-rpc"}),
            "accepts bodies over the size limit",
            transport=_transport_oversize_accepted,
        ),
        Mutant(
            "any-content-type",
            frozenset({"ALP-HTTP-005"}),
            frozenset({"http-rpc"}),
            "executes bodies of any content type",
            transport=_transport_any_content_type,
        ),
        Mutant(
            "task-seq-gap",
            frozenset({"ALP-TASK-002"}),
            frozenset(
                {
                    "tasks-lifecycle",
                    "tasks-events",
                    "tasks-subscribe",
                    "tasks-cancel",
                    "tasks-input",
                    "http-sse",
                    "act-approval",
                    "tools-task-execution",
                }
            ),
            "skips a task event sequence number",
            reply=_task_seq_gap,
        ),
        Mutant(
            "cancel-terminal-allowed",
            frozenset({"ALP-TASK-014"}),
            frozenset({"tasks-cancel", "tasks-lifecycle"}),
            "lets a finished task be canceled",
            patch=_patch_cancel_terminal_allowed,
        ),
        Mutant(
            "self-approval-allowed",
            frozenset({"ALP-ACT-010"}),
            frozenset({"act-approval"}),
            "lets the requester approve its own actuation",
            patch=_patch_self_approval_allowed,
        ),
        Mutant(
            "receiver-ignored",
            frozenset({"ALP-CORE-022"}),
            frozenset({"core-meta"}),
            "serves requests addressed to another agent",
            patch=_patch_receiver_ignored,
        ),
        Mutant(
            "inform-answered",
            frozenset({"ALP-MSG-009"}),
            frozenset({"msg-send", "neg-request"}),
            "answers an inform with an inform",
            reply=_inform_answered,
        ),
        Mutant(
            "accept-without-proposal-informs",
            frozenset({"ALP-NEG-018"}),
            frozenset(
                {
                    "neg-contract-net",
                    "neg-conversation",
                    "msg-content",
                    "neg-request",
                    "neg-query",
                    "neg-iterated-contract-net",
                }
            ),
            "performs an accept-proposal for a proposal it never made",
            reply=_accept_without_proposal_informs,
        ),
        Mutant(
            "bad-cursor-accepted",
            frozenset({"ALP-TOOL-005"}),
            frozenset({"tools-list"}),
            "answers an unknown cursor with the first page",
            patch=_patch_bad_cursor_accepted,
        ),
        Mutant(
            "task-input-ignores-schema",
            frozenset({"ALP-TASK-017"}),
            frozenset({"tasks-input"}),
            "accepts task input that does not match the requested schema",
            patch=_patch_task_input_ignores_schema,
        ),
        Mutant(
            "event-data-unchecked",
            frozenset({"ALP-EVT-003"}),
            frozenset({"events-publish"}),
            "appends events whose data breaks the topic's schema",
            patch=_patch_event_data_unchecked,
        ),
    )
}
