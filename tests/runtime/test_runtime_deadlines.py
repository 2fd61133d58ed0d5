"""Deadlines and cancellation across agents: refused late, propagated, never extended."""

from __future__ import annotations

import time
from contextlib import suppress

import anyio
import pytest

from agentlink.model import DeadlineExceeded, UsageError
from agentlink.runtime import Agent, Runtime, ToolContext
from tests.runtime.runtime_helpers import raw_request

pytestmark = pytest.mark.anyio


class Slow:
    """A tool body that blocks until released, and records how it ended."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.cancelled = anyio.Event()
        self.finished = 0
        self.entered = 0

    async def run(self) -> str:
        self.entered += 1
        self.started.set()
        try:
            await self.release.wait()
            self.finished += 1  # the only effect; applied only when the work completes
            return "done"
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise


def make_slow_agent(slow: Slow, *, timeout: float | None = None) -> Agent:
    agent = Agent("slow", role="execution")

    @agent.tool(timeout=timeout)
    async def work() -> str:
        return await slow.run()

    return agent


async def test_timeout_on_a_slow_tool_raises_deadline_exceeded_promptly() -> None:
    slow = Slow()
    client = Agent("client", role="decision")
    async with Runtime(agents=[make_slow_agent(slow), client]):
        started = time.monotonic()
        with anyio.fail_after(2), pytest.raises(DeadlineExceeded) as info:
            await client.peer("slow").call("work", timeout=0.05)
        assert time.monotonic() - started < 1.0
        assert info.value.code == -32020
        assert slow.cancelled.is_set()
        assert slow.finished == 0


async def test_tool_timeout_bounds_a_call_without_a_deadline() -> None:
    slow = Slow()
    client = Agent("client", role="decision")
    async with Runtime(agents=[make_slow_agent(slow, timeout=0.05), client]):
        with anyio.fail_after(2), pytest.raises(DeadlineExceeded) as info:
            await client.peer("slow").call("work")
        assert info.value.data["tool"] == "work"
        assert info.value.data["started"] is True
        assert slow.cancelled.is_set()
        assert slow.finished == 0


async def test_non_positive_timeout_is_a_usage_error() -> None:
    slow = Slow()
    client = Agent("client", role="decision")
    async with Runtime(agents=[make_slow_agent(slow), client]):
        with pytest.raises(UsageError):
            await client.peer("slow").call("work", timeout=0)
    assert slow.entered == 0


async def test_deadline_propagates_downstream_and_is_never_extended() -> None:
    front = Agent("front", role="decision")
    back = Agent("back", role="perception")
    client = Agent("client", role="decision")
    seen: dict[str, float | None] = {}

    @back.tool
    async def leaf(ctx: ToolContext) -> str:
        seen["back"] = ctx.deadline
        return "leaf"

    @front.tool
    async def relay(ctx: ToolContext) -> str:
        seen["front"] = ctx.deadline
        # Asking for more time than is left must not extend the budget.
        return await ctx.peer("back").call("leaf", timeout=60)

    async with Runtime(agents=[front, back, client]):
        before = time.time()
        assert await client.peer("front").call("relay", timeout=5) == "leaf"
        after = time.time()

    front_deadline, back_deadline = seen["front"], seen["back"]
    assert front_deadline is not None
    assert back_deadline is not None
    assert before + 5 - 0.001 <= front_deadline <= after + 5 + 0.001
    assert back_deadline <= front_deadline


async def test_downstream_timeout_shorter_than_the_budget_wins() -> None:
    front = Agent("front", role="decision")
    back = Agent("back", role="perception")
    client = Agent("client", role="decision")
    seen: dict[str, float | None] = {}

    @back.tool
    async def leaf(ctx: ToolContext) -> str:
        seen["back"] = ctx.deadline
        return "leaf"

    @front.tool
    async def relay(ctx: ToolContext) -> str:
        seen["front"] = ctx.deadline
        return await ctx.peer("back").call("leaf", timeout=1)

    async with Runtime(agents=[front, back, client]):
        await client.peer("front").call("relay", timeout=30)
        after = time.time()

    front_deadline, back_deadline = seen["front"], seen["back"]
    assert front_deadline is not None
    assert back_deadline is not None
    assert back_deadline <= after + 1 + 0.001
    assert back_deadline < front_deadline - 20


async def test_tool_timeout_becomes_the_downstream_deadline() -> None:
    front = Agent("front", role="decision")
    back = Agent("back", role="perception")
    client = Agent("client", role="decision")
    seen: dict[str, float | None] = {}

    @back.tool
    async def leaf(ctx: ToolContext) -> str:
        seen["back"] = ctx.deadline
        return "leaf"

    @front.tool(timeout=2)
    async def relay(ctx: ToolContext) -> str:
        return await ctx.peer("back").call("leaf")

    async with Runtime(agents=[front, back, client]):
        await client.peer("front").call("relay")
        after = time.time()

    assert seen["back"] is not None
    assert seen["back"] <= after + 2 + 0.001


async def test_expired_deadline_is_refused_before_the_handler_runs() -> None:
    calls = 0
    agent = Agent("actuator", role="execution")

    @agent.tool
    async def move(mm: int) -> int:
        nonlocal calls
        calls += 1
        return mm

    async with Runtime(agents=[agent]) as rt:
        with pytest.raises(DeadlineExceeded) as info:
            await raw_request(
                rt,
                "actuator",
                "tools/call",
                {"name": "move", "arguments": {"mm": 3}},
                sender="client",
                deadline="2000-01-01T00:00:00Z",
            )
        assert info.value.data["deadline"] == "2000-01-01T00:00:00Z"
        assert info.value.data["started"] is False
        # The same frame with time left runs.
        assert await raw_request(
            rt, "actuator", "tools/call", {"name": "move", "arguments": {"mm": 3}}
        ) == {"output": 3}
    assert calls == 1


async def test_expired_deadline_refuses_every_method() -> None:
    agent = Agent("actuator", role="execution")
    async with Runtime(agents=[agent]) as rt:
        for method, params in [
            ("agent/ping", {}),
            ("tasks/get", {"task_id": "nope"}),
            ("events/subscribe", {"topics": [">"]}),
        ]:
            with pytest.raises(DeadlineExceeded):
                await raw_request(rt, "actuator", method, params, deadline="2000-01-01T00:00:00Z")


async def test_cancelling_the_caller_cancels_the_remote_handler() -> None:
    slow = Slow()
    client = Agent("client", role="decision")
    async with Runtime(agents=[make_slow_agent(slow), client]):
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.peer("slow").call, "work")
                await slow.started.wait()
                tg.cancel_scope.cancel()
            await slow.cancelled.wait()
        assert slow.finished == 0
        # The agent still serves: the next call runs to the end.
        slow.release.set()
        assert await client.peer("slow").call("work") == "done"
    assert slow.finished == 1


async def test_cancelled_idempotent_call_records_nothing_and_a_retry_runs() -> None:
    slow = Slow()
    client = Agent("client", role="decision")
    async with Runtime(agents=[make_slow_agent(slow), client]):
        peer = client.peer("slow")
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: peer.call("work", idempotency_key="k-1"))
                await slow.started.wait()
                tg.cancel_scope.cancel()
        assert slow.finished == 0
        slow.release.set()
        with anyio.fail_after(2):
            assert await peer.call("work", idempotency_key="k-1") == "done"
    assert slow.entered == 2
    assert slow.finished == 1


def make_stubborn_pair(seen: list[str]) -> list[Agent]:
    """``front.stubborn`` does work that cannot be interrupted (shielded) for longer than
    its callers allow, then tries to call ``back.leaf``."""
    front = Agent("front", role="execution")
    back = Agent("back", role="execution")

    @back.tool
    async def leaf() -> str:
        seen.append("leaf ran")
        return "leaf"

    @front.tool
    async def stubborn(ctx: ToolContext) -> str:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.1)  # e.g. a hardware write that must finish
        try:
            await ctx.peer("back").call("leaf")
        except DeadlineExceeded:
            seen.append("downstream refused")
        return "ok"

    return [front, back, Agent("client", role="decision")]


async def test_no_downstream_call_once_the_budget_is_spent() -> None:
    seen: list[str] = []
    agents = make_stubborn_pair(seen)
    async with Runtime(agents=agents):
        # How the outer call ends is the next test's concern; here only the downstream.
        with anyio.fail_after(2), suppress(DeadlineExceeded):
            await agents[-1].peer("front").call("stubborn", timeout=0.05)
    assert seen == ["downstream refused"]


async def test_no_successful_result_after_the_deadline() -> None:
    seen: list[str] = []
    agents = make_stubborn_pair(seen)
    async with Runtime(agents=agents):
        with anyio.fail_after(2), pytest.raises(DeadlineExceeded) as info:
            await agents[-1].peer("front").call("stubborn", timeout=0.05)
    assert info.value.data["started"] is True
