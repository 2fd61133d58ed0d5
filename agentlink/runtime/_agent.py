"""Agent: what an agent is (its card) and what it does (tools, message and event handlers).

An :class:`Agent` is declared once and hosted by a :class:`~agentlink.runtime.Runtime`::

    cnc = Agent("cnc-7", role="execution", capabilities=["machining.milling"], assets=["cnc-7"])

    @cnc.tool(safety="actuates", requires_approval=True, idempotent=True)
    async def set_spindle_speed(rpm: int) -> dict[str, int]:
        return {"rpm": rpm}

The runtime serves it over a transport; other agents reach it through a
:class:`~agentlink.runtime.Peer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel, TypeAdapter

from agentlink.core._validator import SchemaValidator
from agentlink.model import (
    PROFILES,
    PROTOCOL_VERSION,
    AgentCard,
    Event,
    EventTopic,
    Message,
    UsageError,
)

from ._context import ToolContext
from ._peer import Peer
from ._toolspec import ToolSpec, build_tool

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["Agent", "MessageContext"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
MessageHandler = Callable[[Message, "MessageContext"], Awaitable[Message | None]]
EventHandler = Callable[[Event], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class MessageContext:
    """Who sent a message and in which conversation."""

    agent: Agent
    sender: str | None
    conversation_id: str | None
    message_id: str
    meta: dict[str, Any]
    #: Records an answer sent later on the protocol machine of this conversation.
    track: Callable[[str], None] | None = None

    def peer(self, agent_id: str) -> Peer:
        return self.agent.peer(agent_id)

    def reply_to_sender(self) -> Peer:
        """A peer for the sender, to answer later within the same conversation."""
        if self.sender is None:
            raise UsageError("the message named no sender")
        return self.agent.peer(self.sender)

    async def reply(self, message: Message, *, timeout: float | None = None) -> Message | None:
        """Answer later, in this conversation (an inform after an agree, a notification
        of a subscription, a late proposal)."""
        if self.conversation_id is None:
            raise UsageError("the message started no conversation; return the reply instead")
        if self.track is not None:
            self.track(message.performative)
        return await self.reply_to_sender().send(
            message,
            timeout=timeout,
            conversation_id=self.conversation_id,
            in_reply_to=self.message_id,
        )


@dataclass(slots=True)
class MessageRoute:
    performative: str | None
    content_type: str | None
    handler: MessageHandler
    validator: SchemaValidator | None


@dataclass(slots=True)
class EventRoute:
    pattern: str
    handler: EventHandler


class Agent:
    """An agent's declaration: identity, role, capabilities, tools and handlers.

    Args:
        id: unique agent id (``[A-Za-z0-9._:-]``, up to 128 characters).
        role: ``perception``, ``demand``, ``execution``, ``decision``, ``evaluation`` or
            ``x-<custom>``.
        name: display name (default: the id).
        description: what the agent is for.
        capabilities: dotted capability names, e.g. ``vision.defect-detection``.
        assets: ids of the physical assets it serves.
        tags: free search tags.
        version: the agent's own version.
        profiles: the conformance profiles the card claims, in this order (default:
            derived from the declarations: ``core``, ``tasks`` and ``events`` always,
            ``messaging``, ``tools`` and ``safe-actuation`` when they apply).

    Raises:
        UsageError: a profile is unknown or listed twice.
    """

    def __init__(
        self,
        id: str,
        *,
        role: str,
        name: str | None = None,
        description: str = "",
        capabilities: Iterable[str] = (),
        assets: Iterable[str] = (),
        tags: Iterable[str] = (),
        version: str = "0.1.0",
        profiles: Iterable[str] | None = None,
    ) -> None:
        self.id = id
        self.role = role
        self.name = name or id
        self.description = description
        self.capabilities = list(capabilities)
        self.assets = list(assets)
        self.tags = list(tags)
        self.version = version
        self.profiles = None if profiles is None else _check_profiles(profiles)
        self.tools: dict[str, ToolSpec] = {}
        self.message_routes: list[MessageRoute] = []
        self.event_routes: list[EventRoute] = []
        self.event_topics: list[EventTopic] = []
        self.runtime: Runtime | None = None
        self._card: AgentCard | None = None
        self.card  # noqa: B018 - validate id, role and capabilities now, not at first use

    def __repr__(self) -> str:
        return f"Agent({self.id!r}, role={self.role!r})"

    # -- declaring -----------------------------------------------------------------------

    @overload
    def tool(self, func: F, /) -> F: ...

    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        safety: Literal["read-only", "actuates"] = "read-only",
        requires_approval: bool = False,
        approvals: int = 1,
        approvers: Iterable[str] | None = None,
        idempotent: bool = False,
        task: bool = False,
        timeout: float | None = None,
        approval_timeout: float | None = 600.0,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(  # type: ignore[misc]  # mypy misreads the positional-only overload pair
        self,
        func: Callable[..., Awaitable[Any]] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        safety: Literal["read-only", "actuates"] = "read-only",
        requires_approval: bool = False,
        approvals: int = 1,
        approvers: Iterable[str] | None = None,
        idempotent: bool = False,
        task: bool = False,
        timeout: float | None = None,
        approval_timeout: float | None = 600.0,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> Any:
        """Declare an ``async def`` function as a tool.

        The input schema comes from the parameters' type hints, the output schema from
        the return annotation. A parameter annotated :class:`ToolContext` receives the
        call's context and is not part of the schema.

        Either schema may be given instead, for what type hints cannot express
        (``additionalProperties``, ``minLength``, ``const``) or to publish a schema
        exactly as written; it replaces the generated one in the card and is what the
        call's arguments or output are validated against. With an explicit input schema,
        the arguments named like the function's parameters are passed to it (others the
        schema admits are not), and every parameter without a default must be in the
        schema's ``required``::

            @agent.tool(input_schema={
                "type": "object",
                "properties": {"text": {"type": "string", "minLength": 1}},
                "required": ["text"],
                "additionalProperties": False,
            })
            async def echo(text: str) -> dict[str, str]:
                return {"text": text}

        Args:
            name: tool name (default: the function name).
            description: default: the docstring.
            safety: ``actuates`` when calling it moves the physical world.
            requires_approval: run only after ``approvals`` distinct approvals.
            approvers: who may approve: agent ids, or ``role:<role>``; default anyone but
                the requester.
            idempotent: repeating the call is harmless.
            task: run as a long task (progress, artifacts, input, cancel).
            timeout: the longest a call may run, in seconds.
            approval_timeout: a task still waiting for approval after this many seconds
                fails with ``deadline_exceeded``, so a late approval never starts a stale
                actuation (None: wait forever).
            input_schema: JSON Schema of the arguments (an object schema), replacing the
                one generated from the parameters' type hints.
            output_schema: JSON Schema of the output, replacing the one generated from
                the return annotation.

        Raises:
            UsageError: the function cannot be declared as a tool (not ``async``, a name
                taken, an invalid schema or declaration).
        """

        def declare(f: F) -> F:
            spec = build_tool(
                f,
                name=name,
                description=description,
                safety=safety,
                requires_approval=requires_approval,
                approvals=approvals,
                idempotent=idempotent,
                task=task,
                timeout=timeout,
                approvers=None if approvers is None else frozenset(approvers),
                context_type=ToolContext,
                approval_timeout=approval_timeout,
                input_schema=input_schema,
                output_schema=output_schema,
            )
            if spec.tool.name in self.tools:
                raise UsageError(f"agent {self.id!r} already has a tool {spec.tool.name!r}")
            self.tools[spec.tool.name] = spec
            self._card = None
            return f

        return declare if func is None else declare(func)

    def on_message(
        self,
        performative: str | None = None,
        *,
        content_type: str | None = None,
        schema: type[BaseModel] | dict[str, Any] | None = None,
    ) -> Callable[[MessageHandler], MessageHandler]:
        """Handle messages with this performative and/or content type.

        The most specific route wins (both given, then performative, then content type,
        then a catch-all). A message no route accepts is answered ``not-understood``.
        ``schema`` validates ``content`` first; invalid content gets ``invalid_params``.
        """
        if schema is None:
            validator = None
        elif isinstance(schema, dict):
            validator = SchemaValidator(schema)
        else:
            validator = SchemaValidator(TypeAdapter(schema).json_schema())

        def declare(handler: MessageHandler) -> MessageHandler:
            self.message_routes.append(MessageRoute(performative, content_type, handler, validator))
            # Most specific first; stable for routes of equal specificity.
            self.message_routes.sort(
                key=lambda r: (r.performative is None) * 2 + (r.content_type is None)
            )
            self._card = None
            return handler

        return declare

    def on_event(self, pattern: str) -> Callable[[EventHandler], EventHandler]:
        """Handle events published in the runtime whose topic matches ``pattern``."""

        def declare(handler: EventHandler) -> EventHandler:
            self.event_routes.append(EventRoute(pattern, handler))
            return handler

        return declare

    def emits(
        self,
        topic: str,
        *,
        schema: type[BaseModel] | dict[str, Any] | None = None,
        description: str = "",
    ) -> None:
        """Declare an event topic this agent publishes (it appears in the card)."""
        data_schema = (
            {}
            if schema is None
            else schema
            if isinstance(schema, dict)
            else TypeAdapter(schema).json_schema()
        )
        self.event_topics.append(
            EventTopic(topic=topic, description=description, data_schema=data_schema)
        )
        self._card = None

    # -- describing ----------------------------------------------------------------------

    @property
    def card(self) -> AgentCard:
        """The agent's card, built from its declarations."""
        if self._card is None:
            profiles = ["core", "tasks", "events"]
            accepts = {r.content_type for r in self.message_routes if r.content_type}
            if any(r.content_type is None for r in self.message_routes):
                accepts.add("application/json")  # a route for any type takes the default
            if accepts:
                profiles.append("messaging")
            if self.tools:
                profiles.append("tools")
            if any(s.tool.safety == "actuates" for s in self.tools.values()):
                profiles.append("safe-actuation")
            runtime = self.runtime
            guards = None if runtime is None else runtime.guards
            if guards is not None and guards.authenticates:
                profiles.append("security")
            profiles = sorted(profiles) if self.profiles is None else self.profiles
            endpoints = [] if runtime is None else runtime.endpoints(self.id)
            security = [] if runtime is None else runtime.security_schemes()
            self._card = AgentCard.model_validate(
                {
                    "id": self.id,
                    "name": self.name,
                    "role": self.role,
                    "description": self.description,
                    "version": self.version,
                    "protocol_versions": [PROTOCOL_VERSION],
                    "capabilities": self.capabilities,
                    "tools": [s.tool.to_wire() for s in self.tools.values()],
                    "events": [t.to_wire() for t in self.event_topics],
                    "accepts": sorted(accepts),
                    "assets": self.assets,
                    "tags": self.tags,
                    "endpoints": endpoints,
                    "security": security,
                    "profiles": profiles,
                }
            )
        return self._card

    # -- acting (needs a runtime) --------------------------------------------------------

    def _require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise UsageError(f"agent {self.id!r} is not hosted by a running Runtime")
        return self.runtime

    def peer(self, agent_id: str) -> Peer:
        """A proxy for calling ``agent_id`` as this agent."""
        return self._require_runtime().peer(agent_id, sender=self.id)

    async def publish(self, topic: str, data: Any = None) -> Event:
        """Publish an event on this agent's log and to local subscribers."""
        return self._require_runtime().publish(self.id, topic, data)

    async def discover(self, **criteria: Any) -> list[AgentCard]:
        """Search the registry: role, capability, tool, asset, tag, profile, agent_id."""
        return await self._require_runtime().discover(sender=self.id, **criteria)


def _check_profiles(profiles: Iterable[str]) -> list[str]:
    """The declared profiles as a list, refusing unknown and repeated ones."""
    listed = list(profiles)
    unknown = [p for p in listed if p not in PROFILES]
    if unknown:
        raise UsageError(f"unknown profiles {unknown!r}; known: {', '.join(PROFILES)}")
    if len(set(listed)) != len(listed):
        raise UsageError(f"profiles listed twice: {listed!r}")
    return listed
