"""Guards around actuation and state changes: approval timeout, callers that give up,
idempotency on every state-changing method, honest task timestamps."""

from __future__ import annotations

import anyio
import orjson
import pytest

from agentlink.core._deadline import parse_rfc3339
from agentlink.model import DeadlineExceeded, Duplicate, Message
from agentlink.runtime import Agent, MessageContext, Runtime

pytestmark = pytest.mark.anyio


def press(runs: list[int], *, approval_timeout: float | None = 600.0) -> Agent:
    agent = Agent("press-1", role="execution")

    @agent.tool(
        safety="actuates",
        requires_approval=True,
        approvers=["role:decision"],
        approval_timeout=approval_timeout,
    )
    async def stroke(force_kn: int) -> dict[str, int]:
        runs.append(force_kn)
        return {"force_kn": force_kn}

    return agent


async def test_unapproved_task_fails_after_the_approval_timeout() -> None:
    runs: list[int] = []
    mes, planner = Agent("mes", role="demand"), Agent("planner", role="decision")
    async with Runtime(agents=[press(runs, approval_timeout=0.2), mes, planner]):
        handle = await mes.peer("press-1").start_task("stroke", force_kn=80)
        with anyio.fail_after(5):
            task = await handle.wait()
        assert task.state == "failed"
        assert task.error is not None
        assert task.error.code == -32020
        with pytest.raises(Exception, match="not waiting for approval"):
            await planner.peer("press-1").approve(handle.id)
    assert runs == []


async def test_a_caller_that_gives_up_cancels_the_pending_actuation() -> None:
    runs: list[int] = []
    mes, planner = Agent("mes", role="demand"), Agent("planner", role="decision")
    async with Runtime(agents=[press(runs), mes, planner]) as rt:
        with anyio.fail_after(5), pytest.raises(DeadlineExceeded):
            await mes.peer("press-1").call("stroke", force_kn=90, timeout=0.2)
        (task,) = rt.servers["press-1"].tasks.list()
        assert task.record.state == "canceled"
        with pytest.raises(Exception, match="not waiting for approval"):
            await planner.peer("press-1").approve(task.id)
    assert runs == []


async def test_approval_task_times_only_move_forward_and_the_prompt_is_json() -> None:
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[press([]), mes]):
        handle = await mes.peer("press-1").start_task("stroke", force_kn=70)
        events = [e async for e in _first(handle, 2)]
        times = [parse_rfc3339(e.time) for e in events]
        assert times == sorted(times)
        task = await handle.refresh()
        assert parse_rfc3339(task.updated_at) >= parse_rfc3339(task.created_at)
        assert task.input_request is not None
        prompt = task.input_request.prompt
        assert prompt.startswith("approve stroke ")
        assert orjson.loads(prompt.removeprefix("approve stroke ")) == {"force_kn": 70}


async def _first(handle, n):  # type: ignore[no-untyped-def]
    count = 0
    async for event in handle.events(wait=0.1):
        yield event
        count += 1
        if count == n:
            return


async def test_idempotency_covers_events_and_messages() -> None:
    camera = Agent("cam-1", role="perception")
    received: list[object] = []

    @camera.on_message("inform")
    async def note(message: Message, ctx: MessageContext) -> None:
        received.append(message.content)

    mes = Agent("mes", role="demand")
    async with Runtime(agents=[camera, mes]) as rt:
        peer = mes.peer("cam-1")
        first = await peer.request(
            "events/publish", {"topic": "lot.start", "data": 1}, idempotency_key="k"
        )
        again = await peer.request(
            "events/publish", {"topic": "lot.start", "data": 1}, idempotency_key="k"
        )
        assert first == again
        assert rt.servers["cam-1"].events.last_seq == 1
        with pytest.raises(Duplicate) as info:
            await peer.request(
                "events/publish", {"topic": "lot.start", "data": 2}, idempotency_key="k"
            )
        assert info.value.data["idempotency_key"] == "k"
        for _ in range(3):
            await peer.request(
                "message/send",
                {"message": {"performative": "inform", "content": {"lot": 7}}},
                idempotency_key="m",
            )
        assert received == [{"lot": 7}]
        # A refusal before execution does not use the key up (ALP-CORE-046).
        with pytest.raises(Exception, match="task"):
            await peer.request("tasks/cancel", {"task_id": "nope"}, idempotency_key="c")
        assert rt.servers["cam-1"].idempotency.get(("mes", "cam-1", "tasks/cancel", "c")) is None
