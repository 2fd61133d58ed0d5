"""Under lost, duplicated and delayed frames, no command runs twice and no task is lost."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from agentlink.model import ConnectError, ReadError, TransportError
from agentlink.runtime import Agent, Runtime, ToolContext
from agentlink.testing import FaultyTransport, MemoryTransport

pytestmark = pytest.mark.anyio


def plant() -> tuple[Agent, Agent, Counter[str]]:
    runs: Counter[str] = Counter()
    press = Agent("press-1", role="execution", assets=["press-1"])
    mes = Agent("mes", role="demand")

    @press.tool(safety="actuates", idempotent=True)
    async def stamp(order: str) -> dict[str, str]:
        runs[order] += 1
        return {"stamped": order}

    @press.tool(task=True)
    async def batch(order: str, ctx: ToolContext) -> dict[str, str]:
        runs[f"task:{order}"] += 1
        await ctx.progress(1.0, "done")
        return {"batch": order}

    return press, mes, runs


async def retry(call, attempts: int = 50):  # type: ignore[no-untyped-def]
    """Retry a command on transport errors, as a client with an idempotency key may."""
    for _ in range(attempts):
        try:
            return await call()
        except TransportError:
            continue
    raise AssertionError("never got through")


@pytest.mark.parametrize("seed", range(5))
async def test_retried_commands_run_exactly_once_under_faults(seed: int) -> None:
    press, mes, runs = plant()
    faulty = FaultyTransport(MemoryTransport(), seed=seed)
    async with Runtime(agents=[press, mes], transport=faulty):
        faulty.drop_request, faulty.drop_reply, faulty.duplicate = 0.2, 0.3, 0.4
        peer = mes.peer("press-1")
        for i in range(20):
            order = f"order-{i}"
            result = await retry(lambda o=order: peer.call("stamp", order=o, idempotency_key=o))
            assert result == {"stamped": order}
        stats = faulty.stats
        faulty.drop_request = faulty.drop_reply = faulty.duplicate = 0.0
    assert runs == Counter({f"order-{i}": 1 for i in range(20)})
    assert stats.dropped_replies > 0
    assert stats.duplicated > 0
    assert stats.dropped_requests > 0


async def test_accepted_tasks_are_not_lost_when_replies_are() -> None:
    press, mes, runs = plant()
    faulty = FaultyTransport(MemoryTransport(), seed=3)
    async with Runtime(agents=[press, mes], transport=faulty):
        faulty.drop_reply, faulty.duplicate = 0.4, 0.3
        peer = mes.peer("press-1")
        handles = []
        for i in range(10):
            handles.append(
                await retry(
                    lambda i=i: peer.start_task("batch", order=f"b{i}", idempotency_key=f"b{i}")
                )
            )
        faulty.drop_reply = faulty.duplicate = 0.0
        with anyio.fail_after(5):
            outputs = [await h.result() for h in handles]
    assert outputs == [{"batch": f"b{i}"} for i in range(10)]
    assert runs == Counter({f"task:b{i}": 1 for i in range(10)})
    assert len({h.id for h in handles}) == 10


async def test_outage_gives_connect_error_and_recovers() -> None:
    press, mes, _ = plant()
    faulty = FaultyTransport(MemoryTransport())
    async with Runtime(agents=[press, mes], transport=faulty):
        faulty.disconnect()
        with pytest.raises(ConnectError):
            await mes.peer("press-1").call("stamp", order="x", idempotency_key="x")
        faulty.reconnect()
        assert await mes.peer("press-1").call("stamp", order="x", idempotency_key="x") == {
            "stamped": "x"
        }


async def test_delays_reorder_concurrent_calls_without_mixing_replies() -> None:
    press, mes, runs = plant()
    faulty = FaultyTransport(MemoryTransport(), seed=11)
    results: dict[int, object] = {}
    async with Runtime(agents=[press, mes], transport=faulty):
        faulty.delay = 0.02
        peer = mes.peer("press-1")

        async def one(i: int) -> None:
            results[i] = await peer.call("stamp", order=f"o{i}", idempotency_key=f"o{i}")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(30):
                    tg.start_soon(one, i)
        assert faulty.stats.delayed >= 30
    assert results == {i: {"stamped": f"o{i}"} for i in range(30)}
    assert all(n == 1 for n in runs.values())


def test_fault_probabilities_are_checked() -> None:
    with pytest.raises(Exception, match="probability"):
        FaultyTransport(MemoryTransport(), duplicate=1.5)
    assert ReadError.__mro__[1] is TransportError
