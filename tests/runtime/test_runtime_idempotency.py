"""Idempotent calls: a repeated command runs once; the key is scoped by sender."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentlink.model import Duplicate, InvalidToolInput, ToolExecutionError
from agentlink.runtime import Agent, Peer, Runtime

pytestmark = pytest.mark.anyio


class Dispenser:
    """A tool body with a visible effect per run; optionally held until released."""

    def __init__(self, *, held: bool = False) -> None:
        self.runs: list[int] = []
        self.release = anyio.Event()
        self.started = anyio.Event()
        if not held:
            self.release.set()

    async def dispense(self, grams: int) -> dict[str, int]:
        self.runs.append(grams)
        self.started.set()
        await self.release.wait()
        return {"grams": grams, "batch": len(self.runs)}


def make_agents(dispenser: Dispenser) -> list[Agent]:
    doser = Agent("doser", role="execution")

    @doser.tool(idempotent=True)
    async def dispense(grams: int) -> dict[str, int]:
        return await dispenser.dispense(grams)

    @doser.tool(idempotent=True)
    async def jam(grams: int) -> int:
        dispenser.runs.append(grams)
        raise RuntimeError("valve stuck")

    return [doser, Agent("planner", role="decision"), Agent("backup", role="decision")]


def peer(agents: list[Agent], agent_id: str) -> Peer:
    return next(a for a in agents if a.id == agent_id).peer("doser")


async def test_same_key_same_args_returns_the_first_result() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        first = await peer(agents, "planner").call("dispense", grams=5, idempotency_key="k1")
        second = await peer(agents, "planner").call("dispense", grams=5, idempotency_key="k1")
        assert first == second == {"grams": 5, "batch": 1}
        # Argument order does not change the request.
        third = await peer(agents, "planner").call("dispense", {"grams": 5}, idempotency_key="k1")
        assert third == first
    assert dispenser.runs == [5]


async def test_without_a_key_every_call_runs() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        await peer(agents, "planner").call("dispense", grams=5)
        assert await peer(agents, "planner").call("dispense", grams=5) == {"grams": 5, "batch": 2}
    assert dispenser.runs == [5, 5]


async def test_same_key_different_args_is_duplicate() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        await peer(agents, "planner").call("dispense", grams=5, idempotency_key="k1")
        with pytest.raises(Duplicate) as info:
            await peer(agents, "planner").call("dispense", grams=50, idempotency_key="k1")
        assert info.value.code == -32027
        assert info.value.data["idempotency_key"] == "k1"
        with pytest.raises(Duplicate):
            await peer(agents, "planner").call("jam", grams=5, idempotency_key="k1")
    assert dispenser.runs == [5]


async def test_concurrent_repeat_waits_for_the_first_and_shares_its_result() -> None:
    dispenser = Dispenser(held=True)
    agents = make_agents(dispenser)
    results: list[Any] = []

    async def call() -> None:
        results.append(
            await peer(agents, "planner").call("dispense", grams=7, idempotency_key="k2")
        )

    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await dispenser.started.wait()
                tg.start_soon(call)
                # Both calls are parked: the first in the handler, the repeat behind it.
                await anyio.wait_all_tasks_blocked()
                assert dispenser.runs == [7]
                dispenser.release.set()
    assert results == [{"grams": 7, "batch": 1}, {"grams": 7, "batch": 1}]
    assert dispenser.runs == [7]


async def test_concurrent_repeat_with_different_args_is_duplicate() -> None:
    dispenser = Dispenser(held=True)
    agents = make_agents(dispenser)
    results: list[Any] = []
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def first() -> None:
                    results.append(
                        await peer(agents, "planner").call(
                            "dispense", grams=7, idempotency_key="k3"
                        )
                    )

                tg.start_soon(first)
                await dispenser.started.wait()
                with pytest.raises(Duplicate):
                    await peer(agents, "planner").call("dispense", grams=8, idempotency_key="k3")
                dispenser.release.set()
    assert results == [{"grams": 7, "batch": 1}]
    assert dispenser.runs == [7]


async def test_key_is_scoped_by_sender() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        first = await peer(agents, "planner").call("dispense", grams=5, idempotency_key="k1")
        other = await peer(agents, "backup").call("dispense", grams=5, idempotency_key="k1")
        # A different sender may even use the same key with other arguments.
        third = await peer(agents, "backup").call("dispense", grams=9, idempotency_key="k9")
    assert first == {"grams": 5, "batch": 1}
    assert other == {"grams": 5, "batch": 2}
    assert third == {"grams": 9, "batch": 3}
    assert dispenser.runs == [5, 5, 9]


async def test_a_failed_first_attempt_is_replayed_not_rerun() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        for _ in range(2):
            with pytest.raises(ToolExecutionError) as info:
                await peer(agents, "planner").call("jam", grams=1, idempotency_key="kj")
            assert "valve stuck" in info.value.message
    assert dispenser.runs == [1]


async def test_repeated_actuation_command_creates_one_task() -> None:
    runs: list[int] = []
    cnc = Agent("cnc-7", role="execution")

    @cnc.tool(safety="actuates", requires_approval=True, idempotent=True)
    async def set_speed(rpm: int) -> int:
        runs.append(rpm)
        return rpm

    planner = Agent("planner", role="decision")
    supervisor = Agent("supervisor", role="decision")
    async with Runtime(agents=[cnc, planner, supervisor]):
        first = await planner.peer("cnc-7").start_task("set_speed", rpm=1, idempotency_key="s1")
        again = await planner.peer("cnc-7").start_task("set_speed", rpm=1, idempotency_key="s1")
        assert again.id == first.id
        listing = await planner.peer("cnc-7").request("tasks/list", {})
        assert [t["id"] for t in listing["tasks"]] == [first.id]
        await supervisor.peer("cnc-7").approve(first.id)
        with anyio.fail_after(5):
            assert await again.result() == 1
    assert runs == [1]


async def test_a_request_refused_before_execution_does_not_use_up_its_key() -> None:
    dispenser = Dispenser()
    agents = make_agents(dispenser)
    async with Runtime(agents=agents):
        with pytest.raises(InvalidToolInput):
            await peer(agents, "planner").call("dispense", grams="5", idempotency_key="k4")
        output = await peer(agents, "planner").call("dispense", grams=6, idempotency_key="k4")
    assert output == {"grams": 6, "batch": 1}
    assert dispenser.runs == [6]


async def test_repeat_waiting_behind_a_cancelled_first_call_runs_it_itself() -> None:
    dispenser = Dispenser(held=True)
    agents = make_agents(dispenser)
    results: list[Any] = []

    async def repeat() -> None:
        results.append(
            await peer(agents, "planner").call("dispense", grams=7, idempotency_key="k5")
        )

    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as outer:
                async with anyio.create_task_group() as first:
                    first.start_soon(
                        lambda: peer(agents, "planner").call(
                            "dispense", grams=7, idempotency_key="k5"
                        )
                    )
                    await dispenser.started.wait()
                    outer.start_soon(repeat)
                    await anyio.wait_all_tasks_blocked()
                    first.cancel_scope.cancel()
                # The first attempt left no answer; the repeat now runs the command.
                await anyio.wait_all_tasks_blocked()
                assert dispenser.runs == [7, 7]
                dispenser.release.set()
    assert results == [{"grams": 7, "batch": 2}]
