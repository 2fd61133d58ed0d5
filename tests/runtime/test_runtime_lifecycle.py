"""Hosting: discovery through the runtime, removal, and a clean shutdown."""

from __future__ import annotations

import anyio
import pytest

from agentlink.model import AgentNotFound, Event, UsageError
from agentlink.runtime import Agent, Runtime, ToolContext
from tests.runtime.runtime_helpers import Collector

pytestmark = pytest.mark.anyio


def make_plant() -> list[Agent]:
    camera = Agent(
        "cam-1",
        role="perception",
        capabilities=["vision.defect-detection"],
        assets=["line-1"],
        tags=["camera"],
    )

    @camera.tool
    async def snapshot(exposure_ms: int) -> str:
        return "jpeg"

    scale = Agent("scale-1", role="perception", capabilities=["weighing"], assets=["line-2"])
    cnc = Agent("cnc-7", role="execution", capabilities=["machining.milling"], assets=["line-1"])

    @cnc.tool(safety="actuates", requires_approval=True)
    async def set_speed(rpm: int) -> int:
        return rpm

    planner = Agent("planner", role="decision")
    return [camera, scale, cnc, planner]


async def ids(agent: Agent, **criteria: str) -> list[str]:
    return sorted(card.id for card in await agent.discover(**criteria))


async def test_discover_by_each_criterion() -> None:
    agents = make_plant()
    planner = agents[-1]
    async with Runtime(agents=agents):
        assert await ids(planner, role="perception") == ["cam-1", "scale-1"]
        assert await ids(planner, role="execution") == ["cnc-7"]
        assert await ids(planner, capability="vision.defect-detection") == ["cam-1"]
        assert await ids(planner, capability="vision") == ["cam-1"]
        assert await ids(planner, capability="machining") == ["cnc-7"]
        assert await ids(planner, asset="line-1") == ["cam-1", "cnc-7"]
        assert await ids(planner, tool="snapshot") == ["cam-1"]
        assert await ids(planner, tool="set_speed") == ["cnc-7"]
        assert await ids(planner, tag="camera") == ["cam-1"]
        assert await ids(planner, profile="safe-actuation") == ["cnc-7"]
        assert await ids(planner, role="perception", asset="line-2") == ["scale-1"]
        assert await ids(planner, role="evaluation") == []
        assert await ids(planner, tool="teleport") == []
        assert await ids(planner) == ["cam-1", "cnc-7", "planner", "scale-1"]


async def test_cards_speak_the_protocol_version() -> None:
    agents = make_plant()
    async with Runtime(agents=agents):
        cards = await agents[-1].discover()
        assert len(cards) == 4
        assert all(card.protocol_versions == ["agentlink/0.1"] for card in cards)
        card = await agents[-1].peer("cam-1").card()
        assert card.protocol_versions == ["agentlink/0.1"]
        assert card.id == "cam-1"
        assert [t.name for t in card.tools] == ["snapshot"]
        assert [e.binding for e in card.endpoints] == ["memory"]


async def test_removed_agent_disappears() -> None:
    agents = make_plant()
    planner = agents[-1]
    async with Runtime(agents=agents) as rt:
        await rt.remove("cam-1")
        assert await ids(planner, role="perception") == ["scale-1"]
        assert await ids(planner, tool="snapshot") == []
        assert await ids(planner, asset="line-1") == ["cnc-7"]
        with pytest.raises(AgentNotFound):
            await planner.peer("cam-1").call("snapshot", exposure_ms=5)
        assert agents[0].runtime is None
        # Removing twice is harmless; the agent may be hosted again.
        await rt.remove("cam-1")
        await rt.add(agents[0])
        assert await ids(planner, tool="snapshot") == ["cam-1"]
        assert await planner.peer("cam-1").call("snapshot", exposure_ms=5) == "jpeg"


async def test_removed_agent_stops_receiving_events() -> None:
    camera = Agent("cam-1", role="perception")
    quality = Agent("quality", role="evaluation")
    logger = Agent("logger", role="evaluation")
    removed, kept = Collector(), Collector()
    quality.on_event(">")(removed)
    logger.on_event(">")(kept)
    async with Runtime(agents=[camera, quality, logger]) as rt:
        await camera.publish("one")
        with anyio.fail_after(5):
            await removed.wait_for(1)
        await rt.remove("quality")
        await camera.publish("two")
        with anyio.fail_after(5):
            await kept.wait_for(2)
    assert removed.topics == ["one"]
    assert kept.topics == ["one", "two"]


async def test_hosting_twice_is_a_usage_error() -> None:
    agents = make_plant()
    async with Runtime(agents=agents) as rt:
        with pytest.raises(UsageError):
            await rt.add(agents[0])
        async with Runtime() as other:
            with pytest.raises(UsageError):
                await other.add(agents[0])
        with pytest.raises(UsageError):
            await rt.add(Agent("cam-1", role="perception"))


async def test_agent_outside_a_runtime_cannot_act() -> None:
    agent = Agent("lonely", role="decision")
    with pytest.raises(UsageError):
        agent.peer("anyone")
    with pytest.raises(UsageError):
        await agent.publish("status")
    with pytest.raises(UsageError):
        await agent.discover(role="perception")


async def test_leaving_the_runtime_cancels_running_tasks() -> None:
    cnc = Agent("cnc-7", role="execution")
    planner = Agent("planner", role="decision")
    started, cancelled = anyio.Event(), anyio.Event()
    finished = 0

    @cnc.tool(task=True)
    async def forever(ctx: ToolContext) -> None:
        nonlocal finished
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        finished += 1

    with anyio.fail_after(2):
        async with Runtime(agents=[cnc, planner]):
            await planner.peer("cnc-7").start_task("forever")
            await started.wait()
    assert cancelled.is_set()
    assert finished == 0
    assert cnc.runtime is None
    assert planner.runtime is None


async def test_leaving_the_runtime_stops_subscriptions() -> None:
    camera = Agent("cam-1", role="perception")
    quality = Agent("quality", role="evaluation")
    entered, cancelled = anyio.Event(), anyio.Event()

    @quality.on_event(">")
    async def stuck(event: Event) -> None:
        entered.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    with anyio.fail_after(2):
        async with Runtime(agents=[camera, quality]):
            await camera.publish("status")
            await entered.wait()
    assert cancelled.is_set()


async def test_leaving_the_runtime_with_idle_subscriptions_and_polls_is_prompt() -> None:
    camera = Agent("cam-1", role="perception")
    quality = Agent("quality", role="evaluation")
    idle = Collector()
    quality.on_event(">")(idle)
    with anyio.fail_after(2):
        async with Runtime(agents=[camera, quality], lease_ttl=3600) as rt:
            # A runtime-owned long poll, parked on an empty log.
            async def poll() -> None:
                await quality.peer("cam-1").request(
                    "events/subscribe", {"topics": [">"], "wait_ms": 60_000}
                )

            rt.spawn(poll)
            await anyio.wait_all_tasks_blocked()
    assert idle.events == []


async def test_agents_can_be_hosted_again_by_a_new_runtime() -> None:
    agents = make_plant()
    for _ in range(2):
        async with Runtime(agents=agents):
            assert await agents[-1].peer("cam-1").call("snapshot", exposure_ms=1) == "jpeg"
            assert await ids(agents[-1], role="perception") == ["cam-1", "scale-1"]


async def test_runtime_must_be_running_to_spawn() -> None:
    rt = Runtime()

    async def nothing() -> None:
        return None

    with pytest.raises(UsageError):
        rt.spawn(nothing)
