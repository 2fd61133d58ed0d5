"""Tools through a real runtime: schemas from type hints, calls, and every failure mode."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentlink.model import (
    AgentNotFound,
    InvalidToolInput,
    InvalidToolOutput,
    ToolExecutionError,
    ToolNotFound,
    UsageError,
)
from agentlink.runtime import Agent, Runtime, ToolContext

pytestmark = pytest.mark.anyio


class Reading(BaseModel):
    value: float
    unit: str


class Setpoint(BaseModel):
    target: float
    ramp_s: int = 0


def make_sensor() -> Agent:
    sensor = Agent("sensor-1", role="perception", assets=["oven-1"])

    @sensor.tool
    async def read(asset: str, samples: int = 1, labels: list[str] | None = None) -> Reading:
        """Read the temperature of an asset."""
        return Reading(value=21.5 * samples, unit="CEL")

    @sensor.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    return sensor


# -- schemas -----------------------------------------------------------------------------


def test_input_schema_is_generated_from_type_hints() -> None:
    sensor = make_sensor()
    tools = {t.name: t for t in sensor.card.tools}
    schema = tools["read"].input_schema.as_dict()
    assert schema["type"] == "object"
    assert schema["required"] == ["asset"]
    assert set(schema["properties"]) == {"asset", "samples", "labels"}
    assert schema["properties"]["asset"]["type"] == "string"
    assert schema["properties"]["samples"]["type"] == "integer"
    assert schema["properties"]["samples"]["default"] == 1
    assert schema["properties"]["labels"]["anyOf"] == [
        {"type": "array", "items": {"type": "string"}},
        {"type": "null"},
    ]
    assert schema["additionalProperties"] is False
    assert tools["read"].description == "Read the temperature of an asset."


def test_output_schema_of_a_pydantic_return_model() -> None:
    sensor = make_sensor()
    tool = next(t for t in sensor.card.tools if t.name == "read")
    schema = tool.output_schema
    assert schema["type"] == "object"
    assert sorted(schema["required"]) == ["unit", "value"]
    assert schema["properties"]["value"]["type"] == "number"
    assert schema["properties"]["unit"]["type"] == "string"


def test_tool_context_parameter_is_not_in_the_schema() -> None:
    agent = Agent("a-1", role="perception")

    @agent.tool
    async def whoami(prefix: str, ctx: ToolContext) -> str:
        return prefix

    schema = agent.card.tools[0].input_schema.as_dict()
    assert schema["required"] == ["prefix"]
    assert set(schema["properties"]) == {"prefix"}


def test_pydantic_parameter_appears_in_the_input_schema() -> None:
    agent = Agent("oven-1", role="execution")

    @agent.tool
    async def set_point(setpoint: Setpoint) -> float:
        return setpoint.target

    schema = agent.card.tools[0].input_schema.as_dict()
    assert schema["required"] == ["setpoint"]
    # The model is described (inline or by reference), never left as an untyped value.
    prop = schema["properties"]["setpoint"]
    ref = prop.get("$ref")
    described = schema["$defs"][ref.rsplit("/", 1)[-1]] if ref else prop
    assert described["required"] == ["target"]
    assert set(described["properties"]) == {"target", "ramp_s"}
    assert agent.card.tools[0].output_schema == {"type": "number"}


# -- calls -------------------------------------------------------------------------------


async def test_call_returns_exact_output() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        peer = client.peer("sensor-1")
        assert await peer.call("echo", text="hi") == {"text": "hi"}
        assert await peer.call("read", asset="oven-1", samples=2) == {
            "value": 43.0,
            "unit": "CEL",
        }
        assert await peer.call("read", {"asset": "oven-1"}) == {"value": 21.5, "unit": "CEL"}


async def test_pydantic_model_parameter_is_constructed() -> None:
    oven = Agent("oven-1", role="execution")
    client = Agent("client", role="decision")
    received: list[Any] = []

    @oven.tool
    async def set_point(setpoint: Setpoint) -> dict[str, Any]:
        received.append(setpoint)
        return {"target": setpoint.target, "ramp_s": setpoint.ramp_s}

    async with Runtime(agents=[oven, client]):
        output = await client.peer("oven-1").call("set_point", setpoint={"target": 180.0})
    assert output == {"target": 180.0, "ramp_s": 0}
    assert received == [Setpoint(target=180.0, ramp_s=0)]
    assert type(received[0]) is Setpoint


async def test_tool_context_gives_the_caller() -> None:
    agent = Agent("a-1", role="perception")
    client = Agent("client-7", role="decision")
    seen: list[str | None] = []

    @agent.tool
    async def whoami(ctx: ToolContext) -> str:
        seen.append(ctx.caller)
        assert ctx.agent is agent
        return ctx.caller or ""

    async with Runtime(agents=[agent, client]) as rt:
        assert await client.peer("a-1").call("whoami") == "client-7"
        # A runtime-level peer names no sender.
        assert await rt.peer("a-1").call("whoami") == ""
    assert seen == ["client-7", None]


# -- invalid input -----------------------------------------------------------------------


async def test_invalid_arguments_list_every_failing_pointer() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        with pytest.raises(InvalidToolInput) as info:
            await client.peer("sensor-1").call("read", asset=5, samples="two")
    assert info.value.code == -32012
    pointers = [e["pointer"] for e in info.value.data["errors"]]
    assert pointers == ["/asset", "/samples"]
    assert info.value.data["tool"] == "read"


async def test_missing_required_argument_is_invalid_input() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        with pytest.raises(InvalidToolInput) as info:
            await client.peer("sensor-1").call("read", samples=1)
    errors = info.value.data["errors"]
    assert len(errors) == 1
    assert errors[0]["pointer"] == ""
    assert "asset" in errors[0]["message"]


async def test_no_coercion_of_strings_to_numbers() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        with pytest.raises(InvalidToolInput) as info:
            await client.peer("sensor-1").call("read", asset="oven-1", samples="1")
    assert [e["pointer"] for e in info.value.data["errors"]] == ["/samples"]


async def test_unknown_extra_argument_is_rejected() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        with pytest.raises(InvalidToolInput) as info:
            await client.peer("sensor-1").call("echo", text="hi", volume=11)
    errors = info.value.data["errors"]
    assert len(errors) == 1
    assert "volume" in errors[0]["message"]


async def test_invalid_nested_model_argument_points_inside_it() -> None:
    oven = Agent("oven-1", role="execution")
    client = Agent("client", role="decision")
    calls = 0

    @oven.tool
    async def set_point(setpoint: Setpoint) -> float:
        nonlocal calls
        calls += 1
        return setpoint.target

    async with Runtime(agents=[oven, client]):
        with pytest.raises(InvalidToolInput) as info:
            await client.peer("oven-1").call("set_point", setpoint={"target": "hot", "ramp_s": 1.5})
    pointers = [e["pointer"] for e in info.value.data["errors"]]
    assert pointers == ["/setpoint/ramp_s", "/setpoint/target"]
    assert calls == 0


# -- unknown tool, failing tool, bad output ----------------------------------------------


async def test_unknown_tool_is_an_error_never_a_result() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        with pytest.raises(ToolNotFound) as info:
            await client.peer("sensor-1").call("teleport", to="mars")
    assert info.value.code == -32011
    assert info.value.data["tool"] == "teleport"
    assert info.value.data["agent"] == "sensor-1"


async def test_raising_handler_is_tool_execution_error_and_runtime_keeps_serving() -> None:
    agent = Agent("flaky", role="execution")
    client = Agent("client", role="decision")

    @agent.tool
    async def divide(a: float, b: float) -> float:
        return a / b

    async with Runtime(agents=[agent, client]):
        peer = client.peer("flaky")
        with pytest.raises(ToolExecutionError) as info:
            await peer.call("divide", a=1.0, b=0.0)
        assert info.value.code == -32014
        assert info.value.data["exception"] == "ZeroDivisionError"
        assert info.value.data["tool"] == "divide"
        assert await peer.call("divide", a=1.0, b=4.0) == 0.25


async def test_output_not_matching_the_return_type_is_invalid_output() -> None:
    agent = Agent("liar", role="perception")
    client = Agent("client", role="decision")

    @agent.tool
    async def count() -> int:
        return "many"  # type: ignore[return-value]

    @agent.tool
    async def labels() -> list[str]:
        return ["ok", 3]  # type: ignore[list-item]

    async with Runtime(agents=[agent, client]):
        peer = client.peer("liar")
        with pytest.raises(InvalidToolOutput) as info:
            await peer.call("count")
        assert info.value.code == -32013
        assert info.value.data["tool"] == "count"
        with pytest.raises(InvalidToolOutput) as info:
            await peer.call("labels")
        assert [e["pointer"] for e in info.value.data["errors"]] == ["/1"]


async def test_output_model_of_the_wrong_shape_is_invalid_output() -> None:
    agent = Agent("liar", role="perception")
    client = Agent("client", role="decision")

    @agent.tool
    async def read() -> Reading:
        return {"value": "warm"}  # type: ignore[return-value]

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidToolOutput):
            await client.peer("liar").call("read")


# -- agent not found ---------------------------------------------------------------------


async def test_calling_a_missing_agent_fails_at_once() -> None:
    client = Agent("client", role="decision")
    async with Runtime(agents=[client]):
        with anyio.fail_after(1), pytest.raises(AgentNotFound) as info:
            await client.peer("ghost").call("anything", timeout=30)
    assert info.value.code == -32010


async def test_calling_a_removed_agent_fails_at_once() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]) as rt:
        assert await client.peer("sensor-1").call("echo", text="x") == {"text": "x"}
        await rt.remove("sensor-1")
        with anyio.fail_after(1), pytest.raises(AgentNotFound):
            await client.peer("sensor-1").call("echo", text="x")


async def test_output_that_is_not_json_is_invalid_output() -> None:
    # Without a return annotation any JSON value is valid output; a set is no JSON value.
    agent = Agent("liar", role="perception")
    client = Agent("client", role="decision")

    @agent.tool
    async def ids():  # type: ignore[no-untyped-def]
        return {1, 2}

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidToolOutput) as info:
            await client.peer("liar").call("ids")
    assert info.value.data["tool"] == "ids"


async def test_tools_list_matches_the_card() -> None:
    sensor = make_sensor()
    client = Agent("client", role="decision")
    async with Runtime(agents=[sensor, client]):
        listed = await client.peer("sensor-1").tools()
        card = await client.peer("sensor-1").card()
    assert sorted(t["name"] for t in listed) == ["echo", "read"]
    assert sorted(listed, key=lambda t: t["name"]) == sorted(
        (t.to_wire() for t in card.tools), key=lambda t: t["name"]
    )


def test_tool_declarations_that_cannot_be_described_are_refused() -> None:
    agent = Agent("a-1", role="execution")

    async def variadic(*values: int) -> int:
        return 0

    def blocking(x: int) -> int:
        return x

    async def twice(x: int) -> int:
        return x

    for func in (variadic, blocking):
        with pytest.raises(UsageError):
            agent.tool(func)
    agent.tool(twice)
    with pytest.raises(UsageError):
        agent.tool(twice)
    # Declaration mistakes are usage errors, inside the library's exception tree.
    with pytest.raises(UsageError):
        agent.tool(name="approve_me", requires_approval=True)(twice)
    with pytest.raises(UsageError):
        agent.tool(name="many", safety="actuates", requires_approval=True, approvals=9)(twice)
    assert sorted(agent.tools) == ["twice"]
