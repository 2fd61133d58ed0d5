"""Long tasks through a real runtime: events, resume, cancel, input and failure."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentlink.model import (
    DeadlineExceeded,
    InvalidParams,
    InvalidTaskState,
    InvalidToolInput,
    InvalidToolOutput,
    TaskEvent,
    TaskNotCancelable,
    TaskNotFound,
    ToolExecutionError,
)
from agentlink.runtime import Agent, Runtime, TaskHandle, ToolContext

pytestmark = pytest.mark.anyio


async def collect(handle: TaskHandle, *, after_seq: int | None = None) -> list[TaskEvent]:
    with anyio.fail_after(5):
        return [event async for event in handle.events(after_seq=after_seq)]


async def wait_for_state(handle: TaskHandle, state: str) -> None:
    """Follow the task's events until it reaches ``state``."""
    with anyio.fail_after(5):
        async for event in handle.events():
            if event.state == state:
                return
    raise AssertionError(f"task ended {handle.task.state} without reaching {state}")


def make_machine() -> tuple[Agent, dict[str, Any]]:
    """An execution agent with task tools, and a dict the tools report into."""
    cnc = Agent("cnc-7", role="execution")
    probe: dict[str, Any] = {
        "gate": anyio.Event(),
        "started": anyio.Event(),
        "cancelled": anyio.Event(),
        "finished": 0,
        "input": [],
    }

    @cnc.tool(task=True)
    async def job(steps: int, ctx: ToolContext) -> dict[str, int]:
        for i in range(steps):
            await ctx.progress((i + 1) / steps, f"step {i + 1}")
        await ctx.artifact("report", {"steps": steps})
        return {"steps": steps}

    @cnc.tool(task=True)
    async def hold(ctx: ToolContext) -> str:
        probe["started"].set()
        try:
            await probe["gate"].wait()
        except anyio.get_cancelled_exc_class():
            probe["cancelled"].set()
            raise
        probe["finished"] += 1
        return "held"

    @cnc.tool(task=True)
    async def ask(ctx: ToolContext) -> dict[str, Any]:
        value = await ctx.request_input(
            "how many parts?",
            schema={"type": "object", "properties": {"parts": {"type": "integer"}}},
        )
        probe["input"].append(value)
        return {"got": value}

    @cnc.tool(task=True)
    async def explode(ctx: ToolContext) -> None:
        await ctx.progress(0.5)
        raise RuntimeError("spindle jammed")

    return cnc, probe


async def test_start_task_returns_a_live_handle() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=2)
        assert handle.task.state in ("submitted", "working")
        assert handle.task.tool == "job"
        assert handle.id == handle.task.id
        with anyio.fail_after(5):
            assert await handle.result() == {"steps": 2}


async def test_task_events_are_numbered_without_gaps() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=3)
        events = await collect(handle)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.kind, e.state) for e in events] == [
        ("state", "submitted"),
        ("state", "working"),
        ("progress", "working"),
        ("progress", "working"),
        ("progress", "working"),
        ("artifact", "working"),
        ("state", "completed"),
    ]
    progress = [e.progress for e in events if e.kind == "progress"]
    assert [p.fraction for p in progress if p] == [1 / 3, 2 / 3, 1.0]
    assert [p.message for p in progress if p] == ["step 1", "step 2", "step 3"]
    artifact = events[5].artifact
    assert artifact is not None
    assert (artifact.name, artifact.data) == ("report", {"steps": 3})
    assert events[-1].output == {"steps": 3}
    assert {e.task_id for e in events} == {handle.id}
    assert handle.task.state == "completed"
    assert handle.task.seq == 7
    assert [a.name for a in handle.task.artifacts] == ["report"]


async def test_result_returns_the_output() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=1)
        with anyio.fail_after(5):
            assert await handle.result() == {"steps": 1}
            # call() follows a task tool to its end and returns its output too.
            assert await client.peer("cnc-7").call("job", steps=2) == {"steps": 2}


async def test_resuming_after_seq_yields_exactly_the_later_events() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=3)
        everything = await collect(handle)
        for k in (0, 1, 4, 6):
            again = await client.peer("cnc-7").task(handle.id)
            assert await collect(again, after_seq=k) == everything[k:]


async def test_following_a_finished_task_from_its_last_seq_returns_at_once() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=1)
        everything = await collect(handle)
        assert handle.last_seq == len(everything)
        # Nothing is left to wait for: each of these must return without a long poll.
        with anyio.fail_after(1):
            assert [e async for e in handle.events(after_seq=len(everything))] == []
        with anyio.fail_after(1):
            assert (await handle.wait()).state == "completed"
        with anyio.fail_after(1):
            assert await handle.result() == {"steps": 1}


async def test_cancel_a_running_task() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("hold")
        with anyio.fail_after(5):
            await probe["started"].wait()
            task = await handle.cancel(reason="operator stop")
            assert task.state == "canceled"
            await probe["cancelled"].wait()
            final = await handle.wait()
        assert final.state == "canceled"
        assert final.progress is not None
        assert final.progress.message == "operator stop"
        assert probe["finished"] == 0
        with pytest.raises(TaskNotCancelable) as info:
            await handle.cancel()
        assert info.value.code == -32002
        # Releasing the gate afterwards changes nothing.
        probe["gate"].set()
        assert (await handle.refresh()).state == "canceled"
    assert probe["finished"] == 0


async def test_cancel_a_completed_task_is_not_cancelable() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=1)
        with anyio.fail_after(5):
            await handle.wait()
        with pytest.raises(TaskNotCancelable):
            await handle.cancel()
        assert (await handle.refresh()).state == "completed"


async def test_unknown_task_id_is_task_not_found() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        peer = client.peer("cnc-7")
        with pytest.raises(TaskNotFound) as info:
            await peer.task("no-such-task")
        assert info.value.code == -32001
        for method, params in [
            ("tasks/cancel", {"task_id": "no-such-task"}),
            ("tasks/subscribe", {"task_id": "no-such-task"}),
            ("tasks/input", {"task_id": "no-such-task", "input": 1}),
            ("tasks/approve", {"task_id": "no-such-task", "decision": "approve"}),
        ]:
            with pytest.raises(TaskNotFound):
                await peer.request(method, params)


async def test_task_asking_for_input_resumes_with_the_value() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("ask")
        await wait_for_state(handle, "input-required")
        request = handle.task.input_request
        assert request is not None
        assert request.kind == "input"
        assert request.prompt == "how many parts?"
        assert probe["input"] == []
        task = await handle.provide_input({"parts": 12})
        assert task.state == "working"
        with anyio.fail_after(5):
            assert await handle.result() == {"got": {"parts": 12}}
    assert probe["input"] == [{"parts": 12}]


async def test_input_not_matching_the_requested_schema_is_refused() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("ask")
        await wait_for_state(handle, "input-required")
        with pytest.raises(InvalidParams) as info:
            await handle.provide_input({"parts": "twelve"})
        assert [e["pointer"] for e in info.value.data["errors"]] == ["/input/parts"]
        assert (await handle.refresh()).state == "input-required"
        await handle.provide_input({"parts": 3})
        with anyio.fail_after(5):
            assert await handle.result() == {"got": {"parts": 3}}
    assert probe["input"] == [{"parts": 3}]


async def test_providing_input_to_a_task_not_waiting_is_invalid_state() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        working = await client.peer("cnc-7").start_task("hold")
        with anyio.fail_after(5):
            await probe["started"].wait()
        with pytest.raises(InvalidTaskState) as info:
            await working.provide_input(1)
        assert info.value.code == -32015
        done = await client.peer("cnc-7").start_task("job", steps=1)
        with anyio.fail_after(5):
            await done.wait()
        with pytest.raises(InvalidTaskState):
            await done.provide_input(1)
        probe["gate"].set()
        with anyio.fail_after(5):
            assert await working.result() == "held"


async def test_cancel_a_task_waiting_for_input() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("ask")
        await wait_for_state(handle, "input-required")
        assert (await handle.cancel()).state == "canceled"
        with pytest.raises(InvalidTaskState):
            await handle.provide_input({"parts": 1})
        with anyio.fail_after(5):
            assert (await handle.wait()).state == "canceled"
    assert probe["input"] == []


async def test_failing_task_ends_failed_with_the_error_code() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("explode")
        with anyio.fail_after(5), pytest.raises(ToolExecutionError) as info:
            await handle.result()
        assert "spindle jammed" in info.value.message
        events = await collect(await client.peer("cnc-7").task(handle.id))
        assert events[-1].state == "failed"
        assert events[-1].error is not None
        assert events[-1].error.code == -32014
        assert handle.task.state == "failed"
        assert handle.task.error is not None
        assert handle.task.error.code == -32014
        assert "spindle jammed" in handle.task.error.message
        with anyio.fail_after(5), pytest.raises(ToolExecutionError):
            await client.peer("cnc-7").call("explode")


async def test_task_tool_arguments_are_validated_before_a_task_exists() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]) as rt:
        with pytest.raises(InvalidToolInput):
            await client.peer("cnc-7").start_task("job", steps="three")
        listing = await client.peer("cnc-7").request("tasks/list", {})
        assert listing["tasks"] == []
        assert rt.servers["cnc-7"].tasks.list() == []


async def test_task_output_not_matching_the_return_type_fails_the_task() -> None:
    cnc = Agent("cnc-7", role="execution")
    client = Agent("planner", role="decision")

    @cnc.tool(task=True)
    async def count(ctx: ToolContext) -> int:
        return "many"  # type: ignore[return-value]

    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("count")
        with anyio.fail_after(5), pytest.raises(InvalidToolOutput):
            await handle.result()
    assert handle.task.state == "failed"
    assert handle.task.error is not None
    assert handle.task.error.code == -32013
    assert handle.task.output is None


async def test_task_tool_timeout_fails_the_task_with_deadline_exceeded() -> None:
    cnc = Agent("cnc-7", role="execution")
    client = Agent("planner", role="decision")
    cancelled = anyio.Event()

    @cnc.tool(task=True, timeout=0.05)
    async def stuck(ctx: ToolContext) -> int:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return 1

    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("stuck")
        with anyio.fail_after(5):
            task = await handle.wait()
            await cancelled.wait()
    assert task.state == "failed"
    assert task.error is not None
    assert task.error.code == -32020


async def test_task_outlives_the_deadline_of_the_call_that_created_it() -> None:
    cnc = Agent("cnc-7", role="execution")
    client = Agent("planner", role="decision")

    @cnc.tool(task=True)
    async def bake(ctx: ToolContext) -> str:
        await anyio.sleep(0.2)  # longer than the creating call's deadline
        return "baked"

    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("bake", timeout=0.05)
        with anyio.fail_after(5):
            assert await handle.result() == "baked"


async def test_call_with_timeout_on_a_slow_task_tool_raises_deadline_exceeded() -> None:
    # A caller should not have to know whether a tool runs as a task to handle its timeout.
    cnc = Agent("cnc-7", role="execution")
    client = Agent("planner", role="decision")

    @cnc.tool(task=True)
    async def bake(ctx: ToolContext) -> str:
        await anyio.sleep(5)
        return "baked"

    async with Runtime(agents=[cnc, client]):
        with anyio.fail_after(2), pytest.raises(DeadlineExceeded):
            await client.peer("cnc-7").call("bake", timeout=0.05)


async def test_task_subscribe_ends_before_the_callers_deadline_with_a_normal_result() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("hold")
        with anyio.fail_after(5):
            await probe["started"].wait()
        seq = (await handle.refresh()).seq
        with anyio.fail_after(2):
            page = await client.peer("cnc-7").request(
                "tasks/subscribe",
                {"task_id": handle.id, "after_seq": seq, "wait_ms": 10_000},
                timeout=0.1,
            )
        assert page["events"] == []
        assert page["task"]["state"] == "working"
        probe["gate"].set()


async def test_cancel_and_input_errors_name_the_task_and_its_state() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        done = await client.peer("cnc-7").start_task("job", steps=1)
        with anyio.fail_after(5):
            await done.wait()
        with pytest.raises(TaskNotCancelable) as cancel_info:
            await done.cancel()
        assert cancel_info.value.data["task_id"] == done.id
        assert cancel_info.value.data["state"] == "completed"
        with pytest.raises(InvalidTaskState) as input_info:
            await done.provide_input(1)
        assert input_info.value.data["task_id"] == done.id
        assert input_info.value.data["state"] == "completed"
        with pytest.raises(TaskNotFound) as missing:
            await client.peer("cnc-7").task("no-such-task")
        assert missing.value.data["task_id"] == "no-such-task"


async def test_tasks_list_filters_by_state_and_pages() -> None:
    cnc, probe = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        peer = client.peer("cnc-7")
        finished = []
        for steps in (1, 2, 3):
            handle = await peer.start_task("job", steps=steps)
            with anyio.fail_after(5):
                await handle.wait()
            finished.append(handle.id)
        running = await peer.start_task("hold")
        with anyio.fail_after(5):
            await probe["started"].wait()

        working = await peer.request("tasks/list", {"state": "working"})
        assert [t["id"] for t in working["tasks"]] == [running.id]
        assert "next_cursor" not in working

        seen: list[str] = []
        params: dict[str, Any] = {"state": "completed", "limit": 2}
        while True:
            page = await peer.request("tasks/list", params)
            assert len(page["tasks"]) <= 2
            seen.extend(t["id"] for t in page["tasks"])
            if "next_cursor" not in page:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == finished
        everything = await peer.request("tasks/list", {})
        assert [t["id"] for t in everything["tasks"]] == [*finished, running.id]
        probe["gate"].set()


async def test_tool_call_result_has_exactly_one_of_output_and_task() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")

    @cnc.tool
    async def ping() -> str:
        return "pong"

    async with Runtime(agents=[cnc, client]):
        peer = client.peer("cnc-7")
        # Absent arguments mean {}.
        assert await peer.request("tools/call", {"name": "ping"}) == {"output": "pong"}
        started = await peer.request("tools/call", {"name": "job", "arguments": {"steps": 1}})
        assert list(started) == ["task"]
        assert started["task"]["tool"] == "job"
        with pytest.raises(InvalidParams) as info:
            await peer.request("tools/call", {"name": "ping", "arguments": [1]})
        assert [e["pointer"] for e in info.value.data["errors"]] == ["/arguments"]


async def test_long_task_history_is_paged_without_gaps() -> None:
    cnc, _ = make_machine()
    client = Agent("planner", role="decision")
    async with Runtime(agents=[cnc, client]):
        handle = await client.peer("cnc-7").start_task("job", steps=250)
        events = await collect(handle)
        page = await client.peer("cnc-7").request(
            "tasks/subscribe", {"task_id": handle.id, "after_seq": 0}
        )
    # submitted, working, 250 progress, 1 artifact, completed
    assert [e.seq for e in events] == list(range(1, 255))
    assert events[-1].state == "completed"
    assert 100 <= len(page["events"]) < 254
    assert [e["seq"] for e in page["events"]] == list(range(1, len(page["events"]) + 1))
