"""What the fixture needs from the runtime's declarations: explicit tool schemas and
explicit profiles."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from agentlink.model import InvalidToolInput, InvalidToolOutput, UsageError
from agentlink.runtime import Agent, Runtime

pytestmark = pytest.mark.anyio

STRICT_TEXT = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1}},
    "required": ["text"],
    "additionalProperties": False,
}


def hosted() -> tuple[Agent, Agent]:
    agent = Agent("press", role="execution")
    return agent, Agent("caller", role="decision")


async def test_an_explicit_input_schema_is_published_and_enforced() -> None:
    agent, caller = hosted()

    @agent.tool(input_schema=STRICT_TEXT, output_schema={"type": "object"})
    async def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    tool = agent.card.tool("shout")
    assert tool is not None
    assert tool.input_schema.as_dict() == STRICT_TEXT
    assert tool.output_schema == {"type": "object"}
    given = copy.deepcopy(STRICT_TEXT)

    @agent.tool(input_schema=given)
    async def whisper(text: str) -> dict[str, Any]:
        return {"text": text.lower()}

    given["properties"]["text"]["minLength"] = 5  # the declaration keeps its own copy
    assert agent.tools["whisper"].tool.input_schema.as_dict() == STRICT_TEXT
    async with Runtime(agents=[agent, caller]):
        assert await caller.peer("press").call("shout", text="a") == {"text": "A"}
        for arguments in ({"text": ""}, {"text": "a", "more": 1}, {}):
            with pytest.raises(InvalidToolInput):
                await caller.peer("press").call("shout", arguments)


async def test_members_that_are_no_parameter_are_not_passed() -> None:
    agent, caller = hosted()

    @agent.tool(input_schema={"type": "object", "properties": {"at": {"type": "string"}}})
    async def stamp(at: datetime | None = None) -> dict[str, Any]:
        return {"year": None if at is None else at.year}

    async with Runtime(agents=[agent, caller]):
        press = caller.peer("press")
        assert await press.call("stamp", {"anything": 1}) == {"year": None}
        # Parameters are still converted by their type hints.
        assert await press.call("stamp", at="2024-05-01T00:00:00Z") == {"year": 2024}
        with pytest.raises(InvalidToolInput):
            await press.call("stamp", at="not a time")


async def test_an_explicit_output_schema_is_enforced() -> None:
    agent, caller = hosted()

    @agent.tool(output_schema={"type": "object", "properties": {"ok": {"const": True}}})
    async def check(ok: bool) -> dict[str, Any]:
        return {"ok": ok}

    async with Runtime(agents=[agent, caller]):
        assert await caller.peer("press").call("check", ok=True) == {"ok": True}
        with pytest.raises(InvalidToolOutput):
            await caller.peer("press").call("check", ok=False)


def test_a_required_parameter_must_be_required_by_the_schema() -> None:
    agent = Agent("press", role="execution")
    with pytest.raises(UsageError, match="force"):

        @agent.tool(input_schema={"type": "object", "properties": {"force": {"type": "number"}}})
        async def press(force: float) -> None: ...

    with pytest.raises(UsageError):

        @agent.tool(input_schema={"type": "array"})
        async def listed() -> None: ...

    with pytest.raises(UsageError):

        @agent.tool(input_schema={"type": "object", "properties": 3})
        async def malformed() -> None: ...

    assert agent.tools == {}


def test_profiles_are_derived_unless_declared() -> None:
    derived = Agent("a", role="execution")
    assert derived.card.profiles == ["core", "events", "tasks"]
    declared = Agent("b", role="execution", profiles=["tools", "core", "negotiation"])
    assert declared.card.profiles == ["tools", "core", "negotiation"]
    assert Agent("c", role="execution", profiles=[]).card.profiles == []


@pytest.mark.parametrize("profiles", [["core", "nope"], ["core", "core"]])
def test_unknown_or_repeated_profiles_are_refused(profiles: list[str]) -> None:
    with pytest.raises(UsageError):
        Agent("a", role="execution", profiles=profiles)
