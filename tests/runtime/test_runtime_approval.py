"""Safe actuation: an actuating tool that needs approval runs only once approved."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentlink.model import Forbidden, InvalidTaskState, TaskRejected
from agentlink.runtime import Agent, Peer, Runtime, TaskHandle, ToolContext

pytestmark = pytest.mark.anyio


class Spindle:
    """Counts how often the physical effect happened, and with what."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, str | None]] = []


def make_cell(
    spindle: Spindle, *, approvals: int = 1, approvers: list[str] | None = None
) -> list[Agent]:
    cnc = Agent("cnc-7", role="execution", assets=["cnc-7"])

    @cnc.tool(safety="actuates", requires_approval=True, approvals=approvals, approvers=approvers)
    async def set_speed(rpm: int, ctx: ToolContext) -> dict[str, int]:
        spindle.runs.append((rpm, ctx.caller))
        return {"rpm": rpm}

    @cnc.tool(task=True)
    async def warm_up(ctx: ToolContext) -> str:
        return "warm"

    return [
        cnc,
        Agent("planner", role="decision"),
        Agent("supervisor", role="decision"),
        Agent("shift-lead", role="decision"),
        Agent("inspector", role="evaluation"),
    ]


async def request_speed(agents: list[Agent], rpm: int = 1200) -> TaskHandle:
    planner = next(a for a in agents if a.id == "planner")
    return await planner.peer("cnc-7").start_task("set_speed", rpm=rpm)


def peer_of(agents: list[Agent], agent_id: str) -> Peer:
    return next(a for a in agents if a.id == agent_id).peer("cnc-7")


def test_actuating_tool_is_declared_on_the_card() -> None:
    agents = make_cell(Spindle(), approvals=2)
    tool = next(t for t in agents[0].card.tools if t.name == "set_speed")
    assert tool.safety == "actuates"
    assert tool.requires_approval is True
    assert tool.approvals == 2
    assert "safe-actuation" in agents[0].card.profiles


async def test_does_not_run_until_approved() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        assert handle.task.state == "input-required"
        request = handle.task.input_request
        assert request is not None
        assert request.kind == "approval"
        assert request.approvals_needed == 1
        assert request.approved_by == []
        assert (await handle.refresh()).state == "input-required"
        assert spindle.runs == []

        task = await peer_of(agents, "supervisor").approve(handle.id)
        assert task.state in ("working", "completed")
        with anyio.fail_after(5):
            assert await handle.result() == {"rpm": 1200}
    # It ran once, on behalf of the requester.
    assert spindle.runs == [(1200, "planner")]


async def test_call_waits_for_approval_and_returns_the_output() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    outputs: list[Any] = []
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def command() -> None:
                    outputs.append(await peer_of(agents, "planner").call("set_speed", rpm=900))

                tg.start_soon(command)
                # The command is now parked in its long poll; find its task as an approver.
                await anyio.wait_all_tasks_blocked()
                listing = await peer_of(agents, "supervisor").request(
                    "tasks/list", {"state": "input-required"}
                )
                assert [t["tool"] for t in listing["tasks"]] == ["set_speed"]
                assert spindle.runs == []
                await peer_of(agents, "supervisor").approve(listing["tasks"][0]["id"])
    assert outputs == [{"rpm": 900}]
    assert spindle.runs == [(900, "planner")]


async def test_requester_cannot_approve_its_own_command() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        with pytest.raises(Forbidden) as info:
            await peer_of(agents, "planner").approve(handle.id)
        assert info.value.code == -32022
        task = await handle.refresh()
        assert task.state == "input-required"
        assert task.input_request is not None
        assert task.input_request.approved_by == []
    assert spindle.runs == []


async def test_approval_without_a_named_approver_is_forbidden() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents) as rt:
        handle = await request_speed(agents)
        anonymous = rt.peer("cnc-7")
        with pytest.raises(Forbidden):
            await anonymous.approve(handle.id)
        assert (await handle.refresh()).state == "input-required"
    assert spindle.runs == []


async def test_reject_ends_rejected_and_never_runs() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        task = await peer_of(agents, "supervisor").reject(handle.id, reason="unsafe")
        assert task.state == "rejected"
        with anyio.fail_after(5):
            final = await handle.wait()
        assert final.state == "rejected"
        assert final.progress is not None
        assert final.progress.message == "unsafe"
        with pytest.raises(InvalidTaskState):
            await peer_of(agents, "shift-lead").approve(handle.id)
        with anyio.fail_after(5), pytest.raises(TaskRejected):
            await (await peer_of(agents, "planner").task(handle.id)).result()
    assert spindle.runs == []


async def test_two_approvals_need_two_distinct_approvers() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvals=2)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        assert handle.task.input_request is not None
        assert handle.task.input_request.approvals_needed == 2

        task = await peer_of(agents, "supervisor").approve(handle.id)
        assert task.state == "input-required"
        assert task.input_request is not None
        assert task.input_request.approved_by == ["supervisor"]

        # The same approver again counts once and changes nothing.
        again = await peer_of(agents, "supervisor").approve(handle.id)
        assert again.state == "input-required"
        assert again.input_request is not None
        assert again.input_request.approved_by == ["supervisor"]
        assert again.seq == task.seq
        assert spindle.runs == []

        task = await peer_of(agents, "shift-lead").approve(handle.id)
        assert task.state in ("working", "completed")
        with anyio.fail_after(5):
            assert await handle.result() == {"rpm": 1200}
    assert spindle.runs == [(1200, "planner")]


async def test_approvers_by_role() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvers=["role:decision"])
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        with pytest.raises(Forbidden) as info:
            await peer_of(agents, "inspector").approve(handle.id)
        assert info.value.data["approver"] == "inspector"
        assert (await handle.refresh()).state == "input-required"
        with pytest.raises(Forbidden):
            await peer_of(agents, "inspector").reject(handle.id)
        assert (await handle.refresh()).state == "input-required"
        assert spindle.runs == []

        await peer_of(agents, "supervisor").approve(handle.id)
        with anyio.fail_after(5):
            assert await handle.result() == {"rpm": 1200}
    assert spindle.runs == [(1200, "planner")]


async def test_approvers_by_id() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvers=["shift-lead"])
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        with pytest.raises(Forbidden):
            await peer_of(agents, "supervisor").approve(handle.id)
        await peer_of(agents, "shift-lead").approve(handle.id)
        with anyio.fail_after(5):
            assert await handle.result() == {"rpm": 1200}
    assert spindle.runs == [(1200, "planner")]


async def test_approving_a_task_not_waiting_for_approval_is_invalid_state() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        await peer_of(agents, "supervisor").approve(handle.id)
        with anyio.fail_after(5):
            await handle.wait()
        with pytest.raises(InvalidTaskState) as info:
            await peer_of(agents, "shift-lead").approve(handle.id)
        assert info.value.code == -32015
        assert info.value.data["task_id"] == handle.id
        assert info.value.data["state"] == "completed"

        plain = await peer_of(agents, "planner").start_task("warm_up")
        with anyio.fail_after(5):
            await plain.wait()
        with pytest.raises(InvalidTaskState):
            await peer_of(agents, "supervisor").approve(plain.id)
    assert spindle.runs == [(1200, "planner")]


async def test_approval_task_cannot_be_fed_input() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        with pytest.raises(InvalidTaskState):
            await handle.provide_input({"approve": True})
        assert (await handle.refresh()).state == "input-required"
    assert spindle.runs == []


async def test_cancel_a_task_waiting_for_approval_never_runs() -> None:
    spindle = Spindle()
    agents = make_cell(spindle)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        assert (await handle.cancel()).state == "canceled"
        with pytest.raises(InvalidTaskState):
            await peer_of(agents, "supervisor").approve(handle.id)
        assert (await handle.refresh()).state == "canceled"
    assert spindle.runs == []


async def test_approval_events_are_logged() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvals=2)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        await peer_of(agents, "supervisor").approve(handle.id)
        await peer_of(agents, "shift-lead").approve(handle.id)
        with anyio.fail_after(5):
            events = [e async for e in handle.events(after_seq=0)]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    approvals = [e.input_request.approved_by for e in events if e.input_request is not None]
    # Each new approval is logged with the approvers so far, then the move to working.
    assert approvals == [[], ["supervisor"], ["supervisor", "shift-lead"]]
    assert [e.state for e in events][-2:] == ["working", "completed"]


async def test_reject_after_a_partial_approval_never_runs() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvals=2)
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        await peer_of(agents, "supervisor").approve(handle.id)
        task = await peer_of(agents, "shift-lead").reject(handle.id)
        assert task.state == "rejected"
        assert task.progress is not None
        assert task.progress.message == "rejected by shift-lead"
        with pytest.raises(InvalidTaskState):
            await peer_of(agents, "inspector").approve(handle.id)
    assert spindle.runs == []


async def test_only_permitted_approvers_may_reject() -> None:
    spindle = Spindle()
    agents = make_cell(spindle, approvers=["supervisor"])
    async with Runtime(agents=agents):
        handle = await request_speed(agents)
        with pytest.raises(Forbidden):
            await peer_of(agents, "shift-lead").reject(handle.id)
        assert (await handle.refresh()).state == "input-required"
        await peer_of(agents, "supervisor").reject(handle.id)
        assert (await handle.refresh()).state == "rejected"
    assert spindle.runs == []
