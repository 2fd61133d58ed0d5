"""What a running handler knows about the call it serves, and what flows downstream.

The deadline and conversation of the call being served live in context variables, so a
:class:`Peer` call made from inside a handler inherits them without the handler passing
anything: the remaining time and the conversation id propagate on their own.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentlink.core._dispatch import Call
from agentlink.model import Artifact, InputRequest, UsageError

if TYPE_CHECKING:
    from ._agent import Agent
    from ._peer import Peer
    from ._taskrun import RunningTask

__all__ = ["ToolContext", "current_conversation", "current_deadline", "current_traceparent"]

#: Absolute deadline (unix seconds) of the call being served, if any.
current_deadline: ContextVar[float | None] = ContextVar("agentlink_deadline", default=None)
#: Conversation id of the call being served, if any.
current_conversation: ContextVar[str | None] = ContextVar("agentlink_conversation", default=None)
#: W3C trace context of the call being served, if any.
current_traceparent: ContextVar[str | None] = ContextVar("agentlink_traceparent", default=None)


@dataclass(slots=True, eq=False)
class ToolContext:
    """Handed to a tool that declares a parameter of this type.

    Attributes:
        agent: the agent serving the call.
        call: the request as received (``meta``, ``sender``, ``deadline``).
        task: the task this call runs as, for tools declared ``task=True`` or approval tools.
    """

    agent: Agent
    call: Call
    task: RunningTask | None = None

    @property
    def caller(self) -> str | None:
        """The calling agent's id as given in ``_meta.sender``."""
        return self.call.sender

    @property
    def meta(self) -> dict[str, Any]:
        return self.call.meta

    @property
    def deadline(self) -> float | None:
        """Absolute deadline (unix seconds) of this work: the earlier of the caller's
        deadline and the tool's own timeout; None when there is neither."""
        return current_deadline.get()

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        deadline = self.deadline
        return None if deadline is None else deadline - time.time()

    def peer(self, agent_id: str) -> Peer:
        """A proxy for calling another agent on behalf of this one."""
        return self.agent.peer(agent_id)

    def _require_task(self) -> RunningTask:
        if self.task is None:
            raise UsageError("progress, artifacts and input need a task tool (task=True)")
        return self.task

    async def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report progress of the task (0.0 to 1.0)."""
        self._require_task().progress(fraction, message)

    async def artifact(
        self, name: str, data: Any, *, content_type: str = "application/json"
    ) -> None:
        """Attach a named output to the task."""
        self._require_task().artifact(Artifact(name=name, content_type=content_type, data=data))

    async def request_input(self, prompt: str, *, schema: dict[str, Any] | None = None) -> Any:
        """Move the task to ``input-required`` and wait for ``tasks/input``."""
        request = InputRequest(kind="input", prompt=prompt, input_schema=schema)
        return await self._require_task().request_input(request)
