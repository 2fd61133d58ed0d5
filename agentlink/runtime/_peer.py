"""Peer: the caller's proxy for another agent.

Every method builds a JSON-RPC request with ``_meta`` (sender, receiver, message id,
deadline, conversation, trace), sends it through the transport, and turns the reply into
a value or the matching :class:`~agentlink.model.RpcError` subclass. The deadline is the
earlier of the call's own ``timeout`` and the deadline of the call being served, so time
budgets shrink as work flows downstream and are never extended.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import nullcontext
from itertools import count
from typing import Any

import anyio

from agentlink.core._codec import encode_request, read_reply, reply_value
from agentlink.core._deadline import format_rfc3339
from agentlink.model import (
    PROTOCOL_VERSION,
    AgentCard,
    AgentlinkError,
    DeadlineExceeded,
    Message,
    Task,
    TaskCanceled,
    TaskEvent,
    TaskRejected,
    Tool,
    UsageError,
    error_from_wire,
)

from ._context import current_conversation, current_deadline, current_traceparent

__all__ = ["Peer", "TaskHandle"]

#: Sends a request frame to an agent id and returns the reply frame.
Sender = Callable[[str, bytes, float | None], Awaitable[bytes]]

_PREFIX = secrets.token_hex(5)
_ids = count(1)


def new_id() -> str:
    """A process-unique message id, cheap enough for every call."""
    return f"{_PREFIX}-{next(_ids)}"


class Peer:
    """Calls one remote agent on behalf of a local one.

    Example:
        ``await planner.peer("cnc-7").call("start_job", job="J-42", program="O1001")``
    """

    __slots__ = ("_send", "address", "agent_id", "describe", "sender")

    def __init__(
        self,
        agent_id: str,
        *,
        sender: str | None,
        send: Sender,
        describe: Callable[[str, str], Tool | None] | None = None,
        address: str | None = None,
    ) -> None:
        self.agent_id = agent_id
        #: Where the transport delivers the frames (default: the agent id).
        self.address = address if address is not None else agent_id
        self.sender = sender
        self._send = send
        #: Looks up a tool of an agent when it is known locally (to refuse misuse early).
        self.describe = describe

    def __repr__(self) -> str:
        return f"Peer({self.agent_id!r}, sender={self.sender!r})"

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        conversation_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> Any:
        """Send any agentlink method and return its result.

        Raises:
            RpcError: the matching subclass for the error the agent answered with.
            DeadlineExceeded: the deadline passed before the reply arrived.
            TransportError: the request could not be delivered.
        """
        message_id = new_id()
        meta: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "message_id": message_id,
            "receiver": self.agent_id,
        }
        if self.sender is not None:
            meta["sender"] = self.sender
        if idempotency_key is not None:
            meta["idempotency_key"] = idempotency_key
        conversation = conversation_id or current_conversation.get()
        if conversation is not None:
            meta["conversation_id"] = conversation
        if in_reply_to is not None:
            meta["in_reply_to"] = in_reply_to
        traceparent = current_traceparent.get()
        if traceparent is not None:
            meta["traceparent"] = traceparent
        deadline = current_deadline.get()
        if timeout is not None:
            if timeout <= 0:
                raise UsageError("timeout must be positive")
            mine = time.time() + timeout
            deadline = mine if deadline is None else min(deadline, mine)
        left = None
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0:
                raise DeadlineExceeded(
                    f"no time left to call {method} on {self.agent_id!r}",
                    data={"deadline": format_rfc3339(deadline)},
                )
            meta["deadline"] = format_rfc3339(deadline)
        frame = encode_request(message_id, method, {**(params or {}), "_meta": meta})
        if left is None:
            reply = await self._send(self.address, frame, None)
        else:
            try:
                with anyio.fail_after(left):
                    reply = await self._send(self.address, frame, left)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"{method} on {self.agent_id!r} did not answer before the deadline",
                    data={"deadline": meta["deadline"]},
                ) from None
        return reply_value(read_reply(reply))

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call a tool and return its output.

        A tool that runs as a task (``task=True`` or one that needs approval) is followed
        until it ends: its output is returned, or its error raised.
        """
        args = {**arguments, **kwargs} if arguments else kwargs
        result = await self.request(
            "tools/call",
            {"name": tool, "arguments": args},
            timeout=timeout,
            idempotency_key=idempotency_key,
        )
        if "task" in result:
            handle = TaskHandle(self, Task.model_validate(result["task"]))
            try:
                return await handle.result(timeout=timeout)
            except DeadlineExceeded:
                # Nobody waits for it any more: it must not run later (an approval that
                # arrives after the caller gave up would otherwise still actuate).
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(5),
                    contextlib.suppress(AgentlinkError),
                ):
                    await handle.cancel(reason="the caller stopped waiting")
                raise
        return result.get("output")

    async def start_task(
        self,
        tool: str,
        arguments: dict[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle:
        """Call a task tool and return a handle on the task without waiting for it.

        Raises:
            UsageError: the tool is known to finish at once (use :meth:`call`); nothing is
                sent then.
        """
        if self.describe is not None:
            tool_info = self.describe(self.agent_id, tool)
            if tool_info is not None and not (
                tool_info.execution == "task" or tool_info.requires_approval
            ):
                raise UsageError(f"tool {tool!r} finishes at once; use call() instead")
        args = {**arguments, **kwargs} if arguments else kwargs
        result = await self.request(
            "tools/call",
            {"name": tool, "arguments": args},
            timeout=timeout,
            idempotency_key=idempotency_key,
        )
        if "task" not in result:
            raise UsageError(f"tool {tool!r} finished at once; use call() for sync tools")
        return TaskHandle(self, Task.model_validate(result["task"]))

    async def send(
        self,
        message: Message,
        *,
        timeout: float | None = None,
        conversation_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> Message | None:
        """Send a message; returns the receiver's immediate reply, if it gave one."""
        result = await self.request(
            "message/send",
            {"message": message.to_wire()},
            timeout=timeout,
            conversation_id=conversation_id,
            in_reply_to=in_reply_to,
        )
        reply = result.get("reply")
        return None if reply is None else Message.model_validate(reply)

    async def card(self, *, timeout: float | None = None) -> AgentCard:
        """The agent's card."""
        return AgentCard.model_validate(await self.request("agent/card", timeout=timeout))

    async def ping(self, *, timeout: float | None = None) -> float:
        """Round-trip time in seconds."""
        start = time.perf_counter()
        await self.request("agent/ping", timeout=timeout)
        return time.perf_counter() - start

    async def tools(self) -> list[dict[str, Any]]:
        """The agent's tools as declared on the wire (every page)."""
        tools: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.request("tools/list", {} if cursor is None else {"cursor": cursor})
            tools.extend(page["tools"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return tools

    async def task(self, task_id: str) -> TaskHandle:
        """A handle on an existing task of this agent."""
        return TaskHandle(
            self, Task.model_validate(await self.request("tasks/get", {"task_id": task_id}))
        )

    async def approve(self, task_id: str, *, reason: str | None = None) -> Task:
        """Approve an actuating task waiting for approval."""
        params: dict[str, Any] = {"task_id": task_id, "decision": "approve"}
        if reason is not None:
            params["reason"] = reason
        return Task.model_validate(await self.request("tasks/approve", params))

    async def reject(self, task_id: str, *, reason: str | None = None) -> Task:
        """Reject an actuating task waiting for approval."""
        params: dict[str, Any] = {"task_id": task_id, "decision": "reject"}
        if reason is not None:
            params["reason"] = reason
        return Task.model_validate(await self.request("tasks/approve", params))

    async def publish(self, topic: str, data: Any = None) -> dict[str, Any]:
        """Ask the agent to publish an event on its log (``events/publish``)."""
        result = await self.request("events/publish", {"topic": topic, "data": data})
        event: dict[str, Any] = result["event"]
        return event

    async def events(
        self, topics: list[str], *, after_seq: int = 0, wait: float = 10.0, limit: int = 100
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Follow the agent's events on ``topics`` from ``after_seq``, resuming by number."""
        seq = after_seq
        while True:
            page = await self.request(
                "events/subscribe",
                {
                    "topics": topics,
                    "after_seq": seq,
                    "wait_ms": int(wait * 1000),
                    "limit": limit,
                },
            )
            for event in page["events"]:
                seq = event["seq"]
                yield event
            seq = max(seq, page["last_seq"]) if not page["events"] else seq


class TaskHandle:
    """A caller's view of a remote task: follow its events, wait for it, cancel it."""

    __slots__ = ("last_seq", "peer", "task")

    def __init__(self, peer: Peer, task: Task) -> None:
        self.peer = peer
        self.task = task
        self.last_seq = 0

    @property
    def id(self) -> str:
        return self.task.id

    async def refresh(self) -> Task:
        self.task = Task.model_validate(await self.peer.request("tasks/get", {"task_id": self.id}))
        return self.task

    async def events(
        self, *, after_seq: int | None = None, wait: float = 10.0
    ) -> AsyncGenerator[TaskEvent, None]:
        """Every event of the task after ``after_seq`` (default: the last one seen), until
        it ends. Reconnecting with the last seen ``seq`` misses nothing."""
        seq = self.last_seq if after_seq is None else after_seq
        while True:
            page = await self.peer.request(
                "tasks/subscribe",
                {"task_id": self.id, "after_seq": seq, "wait_ms": int(wait * 1000)},
            )
            self.task = Task.model_validate(page["task"])
            for raw in page["events"]:
                event = TaskEvent.model_validate(raw)
                seq = self.last_seq = event.seq
                yield event
            if self.task.state in ("completed", "failed", "canceled", "rejected") and (
                seq >= self.task.seq
            ):
                return

    async def wait(self, *, timeout: float | None = None) -> Task:
        """Wait until the task ends; returns its final snapshot.

        Raises:
            DeadlineExceeded: it did not end within ``timeout`` seconds.
        """
        try:
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                async for _ in self.events():
                    pass
        except TimeoutError:
            raise DeadlineExceeded(
                f"task {self.id} did not end within {timeout} s",
                data={"task_id": self.id, "started": True},
            ) from None
        return self.task

    async def result(self, *, timeout: float | None = None) -> Any:
        """Wait for the task and return its output.

        Raises:
            RpcError: the task failed (the matching subclass of its error).
            TaskCanceled: it was canceled.
            TaskRejected: its actuation was rejected.
            DeadlineExceeded: it did not end within ``timeout`` seconds.
        """
        task = await self.wait(timeout=timeout)
        if task.state == "completed":
            return task.output
        if task.error is not None:
            raise error_from_wire(task.error.model_dump())
        if task.state == "rejected":
            raise TaskRejected(f"task {task.id} was rejected", task=task)
        raise TaskCanceled(f"task {task.id} was {task.state}", task=task)

    async def cancel(self, *, reason: str | None = None) -> Task:
        params: dict[str, Any] = {"task_id": self.id}
        if reason is not None:
            params["reason"] = reason
        self.task = Task.model_validate(await self.peer.request("tasks/cancel", params))
        return self.task

    async def provide_input(self, value: Any) -> Task:
        self.task = Task.model_validate(
            await self.peer.request("tasks/input", {"task_id": self.id, "input": value})
        )
        return self.task
