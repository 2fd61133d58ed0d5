"""The conformance fixture agent (protocol/SPEC.md, Conformance fixture agent).

Behaviour tests need an agent whose behaviour is fixed: its card, tools, messages and
limits are specified to the member. The schemas below are written out exactly as the
specification publishes them, not generated from type hints, so that the card's ``tools``
equal the specification's JSON; a test compares the two.

The fixture keeps the runtime's limits (frame 1 MiB, depth 64, batch 64, idempotency
keys for 24 hours, finished tasks for an hour) and publishes no event of its own.

In secure mode (:func:`fixture_security`) it accepts HS256 bearer tokens under a published
key, forbids the subject ``guest`` the actuating tools and approvals, and lets the subject
``conf-limited`` make 5 requests an hour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio

from agentlink.core._deadline import format_rfc3339
from agentlink.model import Message, ToolExecutionError
from agentlink.runtime import Agent, MessageContext, ToolContext
from agentlink.security import (
    Allow,
    BearerScheme,
    Deny,
    HmacKey,
    Limits,
    Policy,
    Rate,
    SecurityConfig,
)

from ._messages import FixtureConversations

__all__ = ["FIXTURE_ID", "FIXTURE_PROFILES", "fixture_agent", "fixture_security"]

#: The fixture's agent id.
FIXTURE_ID = "fixture"
#: The profiles the fixture claims, in the order of the specification.
FIXTURE_PROFILES = (
    "core",
    "tools",
    "messaging",
    "tasks",
    "events",
    "negotiation",
    "industrial-data",
    "safe-actuation",
)

#: Secure mode (protocol/SPEC.md, Conformance fixture agent): the published HS256 key.
FIXTURE_KEY = b"agentlink-conformance-key"
FIXTURE_ISSUER = "agentlink-conformance"
#: Secure mode: the subject limited to a few requests (ALP-SEC-020).
LIMITED_SUBJECT = "conf-limited"

_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}
_NO_ARGUMENTS: dict[str, Any] = {"type": "object", "additionalProperties": False}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


@dataclass(slots=True)
class _Equipment:
    """The simulated equipment: how many actuations (``actuate`` and ``stop``) ran."""

    actuations: int = 0


def fixture_security() -> SecurityConfig:
    """The fixture's secure mode: one ``bearer`` scheme (HS256 under the key
    ``agentlink-conformance-key``, issuer ``agentlink-conformance``; tokens may be reused
    until they expire), ``guest`` forbidden ``actuate``, ``stop`` and ``tasks/approve``,
    ``conf-limited`` held to 5 requests an hour; everyone else may call everything."""
    return SecurityConfig(
        bearer=BearerScheme(
            keys=[HmacKey(FIXTURE_KEY)],
            issuer=FIXTURE_ISSUER,
            algorithms=["HS256"],
            replay=False,
        ),
        policy=Policy(
            rules=[
                Allow(callers=["*"], methods=["*"]),
                Deny(callers=["guest"], tools=["actuate", "stop"], methods=["tasks/approve"]),
            ]
        ),
        limits=Limits(caller_rates={LIMITED_SUBJECT: Rate(5, per=3600)}),
    )


def fixture_agent(*, secure: bool = False) -> Agent:
    """A new conformance fixture agent, with its own actuation counter and conversations.

    Host it in a :class:`~agentlink.runtime.Runtime` over each binding to test; see
    :func:`~agentlink.conformance.serve_fixture` for a server with a registry.

    Args:
        secure: claim the ``security`` profile too; host it in a runtime configured with
            :func:`fixture_security`.
    """
    agent = Agent(
        FIXTURE_ID,
        role="execution",
        name="AgentLink conformance fixture",
        capabilities=["conformance.fixture"],
        assets=["fixture-asset-1"],
        tags=["conformance"],
        profiles=(*FIXTURE_PROFILES, "security") if secure else FIXTURE_PROFILES,
    )
    agent.emits(
        "fixture.ticks",
        schema=_object({"n": {"type": "integer"}}, "n"),
        description="Ticks published by callers.",
    )
    equipment = _Equipment()
    conversations = FixtureConversations()

    @agent.tool(
        description="Returns its text.",
        idempotent=True,
        input_schema={
            **_object({"text": {"type": "string"}}, "text"),
            "additionalProperties": False,
        },
        output_schema=_object({"text": {"type": "string"}}, "text"),
    )
    async def echo(text: str) -> dict[str, Any]:
        return {"text": text}

    @agent.tool(
        description="Adds two numbers.",
        idempotent=True,
        input_schema=_object({"a": {"type": "number"}, "b": {"type": "number"}}, "a", "b"),
        output_schema=_object({"sum": {"type": "number"}}, "sum"),
    )
    async def add(a: float, b: float) -> dict[str, Any]:
        return {"sum": a + b}

    @agent.tool(
        description="Always fails.",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
    )
    async def fail() -> dict[str, Any]:
        raise ToolExecutionError("fixture failure", data={"tool": "fail"})

    @agent.tool(
        description="Sleeps, then answers.",
        idempotent=True,
        input_schema=_object({"ms": {"type": "integer", "minimum": 0, "maximum": 60000}}, "ms"),
        output_schema=_object({"slept_ms": {"type": "integer"}}, "slept_ms"),
    )
    async def slow(ms: int) -> dict[str, Any]:
        # The runtime bounds the call by its deadline and answers deadline_exceeded with
        # data.started true as soon as it passes.
        await anyio.sleep(ms / 1000)
        return {"slept_ms": ms}

    @agent.tool(
        description="Runs as a task with one progress event per step.",
        task=True,
        input_schema=_object(
            {
                "steps": {"type": "integer", "minimum": 1, "maximum": 100},
                "step_ms": {"type": "integer", "minimum": 0, "maximum": 10000},
            },
            "steps",
            "step_ms",
        ),
        output_schema=_object({"steps": {"type": "integer"}}, "steps"),
    )
    async def long_task(steps: int, step_ms: int, ctx: ToolContext) -> dict[str, Any]:
        for step in range(1, steps + 1):
            await anyio.sleep(step_ms / 1000)
            # A cancel that arrived while this step slept stops here, before its progress.
            await anyio.lowlevel.checkpoint_if_cancelled()
            await ctx.progress(step / steps)
        return {"steps": steps}

    @agent.tool(
        description="Runs as a task that asks for an answer.",
        task=True,
        input_schema=_object({"prompt": {"type": "string"}}, "prompt"),
        output_schema=_object({"answer": {"type": "string"}}, "answer"),
    )
    async def ask(prompt: str, ctx: ToolContext) -> dict[str, Any]:
        given = await ctx.request_input(prompt, schema=_ANSWER_SCHEMA)
        return {"answer": given["answer"]}

    @agent.tool(
        description="Applies a set point after one approval.",
        safety="actuates",
        requires_approval=True,
        approvals=1,
        idempotent=True,
        input_schema=_object({"setpoint": {"type": "number"}}, "setpoint"),
        output_schema=_object({"applied": {"type": "number"}}, "applied"),
    )
    async def actuate(setpoint: float) -> dict[str, Any]:
        equipment.actuations += 1
        return {"applied": setpoint}

    @agent.tool(
        description="How many actuations have executed.",
        input_schema=_NO_ARGUMENTS,
        output_schema=_object({"count": {"type": "integer", "minimum": 0}}, "count"),
    )
    async def actuation_count() -> dict[str, Any]:
        return {"count": equipment.actuations}

    @agent.tool(
        description="Stops the simulated equipment; never waits for approval.",
        safety="actuates",
        idempotent=True,
        input_schema=_NO_ARGUMENTS,
        output_schema=_object({"stopped": {"const": True}}, "stopped"),
    )
    async def stop() -> dict[str, Any]:
        equipment.actuations += 1
        return {"stopped": True}

    @agent.tool(
        description="Reads a simulated temperature.",
        idempotent=True,
        input_schema=_object({"asset_id": {"type": "string", "minLength": 1}}, "asset_id"),
        output_schema=_object(
            {
                "value": {"type": "number"},
                "unit": {"const": "CEL"},
                "quality": {"enum": ["good", "uncertain", "bad"]},
                "source_ts": {"type": "string"},
                "asset_id": {"type": "string"},
            },
            "value",
            "unit",
            "quality",
            "source_ts",
            "asset_id",
        ),
    )
    async def measure(asset_id: str) -> dict[str, Any]:
        return {
            "value": 21.5,
            "unit": "CEL",
            "quality": "good",
            "source_ts": format_rfc3339(time.time()),
            "asset_id": asset_id,
        }

    @agent.on_message()
    async def on_message(message: Message, ctx: MessageContext) -> Message | None:
        return conversations.answer(
            message, sender=ctx.sender, conversation_id=ctx.conversation_id, now=time.time()
        )

    return agent
