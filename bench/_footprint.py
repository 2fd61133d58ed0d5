"""Memory per idle agent and per open task, measured in a fresh process.

::

    python -m bench._footprint --agents 10000 --tasks 1000

Prints one JSON line: a list of figures. A fresh process keeps the resident set (RSS) of
earlier groups out of the deltas. In order:

1. ``--agents`` idle agents (a role, a capability, an asset; no tool) are declared, then
   hosted by Runtimes (memory transport, each serving its registry) of at most
   ``RUNTIME_SIZE`` agents in this one process; RSS deltas per agent. The first Runtime
   hosts half as many agents as the others: the hosting time per agent of both shows how
   hosting grows with the size of a Runtime (flat when each agent costs the same).
2. With tracemalloc (Python allocations only): ``SAMPLE`` agent cards alone (the floor:
   what any directory must hold per agent), then ``SAMPLE`` agents declared and hosted.
3. ``--tasks`` task tools started and left waiting (``peer.start_task``), beside the same
   number of bare anyio tasks waiting on an event (the floor).

The process ends without tearing the Runtimes down: teardown is not measured.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import orjson

from ._report import Group
from ._settings import Settings

__all__ = ["footprint", "main"]

RUNTIME_SIZE = 5_000  # agents per Runtime in step 1
SAMPLE = 500  # cards and agents measured with tracemalloc in step 2


def rss() -> int | None:
    """This process's resident set in bytes (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _idle_agent(i: int, prefix: str) -> Any:
    from agentlink.runtime import Agent

    return Agent(
        f"{prefix}-{i:05d}",
        role="perception",
        capabilities=["vibration.monitor"],
        assets=[f"pump-{i}"],
    )


async def measure(agents: int, tasks: int) -> list[dict[str, Any]]:
    from agentlink.model import PROTOCOL_VERSION, AgentCard
    from agentlink.runtime import Agent, Runtime

    figures: list[dict[str, Any]] = []

    def add(
        name: str,
        value: float,
        unit: str,
        floor: str | None = None,
        note: str = "",
        better: str = "lower",
    ) -> None:
        figures.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "better": better,
                "floor": floor,
                "note": note,
            }
        )

    async with AsyncExitStack() as stack:
        # 1. RSS of many idle agents, hosted in this process.
        gc.collect()
        before = rss()
        declared = [_idle_agent(i, "idle") for i in range(agents)]
        gc.collect()
        after_declaring = rss()
        half = min(RUNTIME_SIZE // 2, agents)
        chunks = [declared[:half]] + [
            declared[i : i + RUNTIME_SIZE] for i in range(half, agents, RUNTIME_SIZE)
        ]
        host_times = []
        hosted_now = 0
        for chunk in chunks:
            start = time.perf_counter()
            runtime = await stack.enter_async_context(Runtime(agents=chunk))
            host_times.append((len(chunk), time.perf_counter() - start))
            hosted_now += len(runtime.servers)
        gc.collect()
        after_hosting = rss()
        add("idle agents hosted", hosted_now, "agents", better="higher")
        if before is not None and after_declaring is not None and after_hosting is not None:
            add(
                f"RSS per idle agent ({agents:,} hosted)",
                (after_hosting - before) / agents,
                "bytes/agent",
                note="declared and hosted",
            )
            add(
                "RSS per idle agent, declared only",
                (after_declaring - before) / agents,
                "bytes/agent",
            )
        add(
            f"host time per agent, {host_times[0][0]} per Runtime",
            host_times[0][1] / host_times[0][0] * 1e6,
            "us/agent",
        )
        if len(host_times) > 1:
            size, took = host_times[1]
            add(
                f"host time per agent, {size} per Runtime",
                took / size * 1e6,
                "us/agent",
                floor=f"host time per agent, {host_times[0][0]} per Runtime",
            )

        # 2. Python allocations per card (the floor) and per hosted agent.
        sample = min(SAMPLE, agents)
        tracemalloc.start()
        base = traced()
        cards = [
            AgentCard.model_validate(
                {
                    "id": f"card-{i:05d}",
                    "name": f"card-{i:05d}",
                    "role": "perception",
                    "protocol_versions": [PROTOCOL_VERSION],
                    "capabilities": ["vibration.monitor"],
                    "assets": [f"pump-{i}"],
                }
            )
            for i in range(sample)
        ]
        add("card alone (tracemalloc)", (traced() - base) / sample, "bytes/agent")
        del cards
        base = traced()
        hosted = [_idle_agent(i, "traced") for i in range(sample)]
        await stack.enter_async_context(Runtime(agents=hosted))
        add(
            "idle agent, declared and hosted (tracemalloc)",
            (traced() - base) / sample,
            "bytes/agent",
            floor="card alone (tracemalloc)",
        )

        # 3. Open tasks, and bare anyio tasks waiting on an event.
        release = anyio.Event()
        holder = Agent("holder", role="execution")

        @holder.tool(task=True)
        async def hold() -> dict[str, bool]:
            await release.wait()
            return {"done": True}

        caller = Agent("caller", role="decision")
        await stack.enter_async_context(Runtime(agents=[holder, caller]))
        peer = caller.peer("holder")
        await peer.start_task("hold")  # the first task pays for what every later one shares
        base = traced()
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(release.wait)
            await anyio.wait_all_tasks_blocked()
            add("bare anyio task waiting (tracemalloc)", (traced() - base) / tasks, "bytes/task")
            tg.cancel_scope.cancel()
        base = traced()
        handles = [await peer.start_task("hold") for _ in range(tasks)]
        add(
            "open task (tracemalloc)",
            (traced() - base) / tasks,
            "bytes/task",
            floor="bare anyio task waiting (tracemalloc)",
        )
        if len(handles) != tasks:
            raise RuntimeError("tasks did not start")
        tracemalloc.stop()
        return figures


async def footprint(group: Group, settings: Settings) -> None:
    """Run the measurement in a fresh process and add its figures to ``group``."""
    from ._procs import ROOT, child_env

    command = [
        sys.executable,
        "-m",
        "bench._footprint",
        "--agents",
        str(settings.idle_agents),
        "--tasks",
        str(settings.open_tasks),
    ]
    with anyio.fail_after(600):
        done = await anyio.run_process(command, cwd=ROOT, env=child_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the footprint process failed:\n{done.stderr.decode()[-2000:]}")
    for figure in orjson.loads(done.stdout.splitlines()[-1]):
        group.add(
            figure["name"],
            figure["value"],
            figure["unit"],
            better=figure["better"],
            floor=figure["floor"],
            note=figure["note"],
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._footprint")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=1_000)
    args = parser.parse_args(argv)

    async def run() -> None:
        figures = await measure(args.agents, args.tasks)
        print(orjson.dumps(figures).decode(), flush=True)
        # Leave without tearing down thousands of agents: it is not measured.
        sys.stdout.flush()
        os._exit(0)

    anyio.run(run)


if __name__ == "__main__":
    main()
