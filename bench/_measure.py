"""Timing: calls driven by concurrent callers, and operations timed in tight loops.

A subject and its floor are measured in alternating rounds (subject, floor, floor, subject,
...), so that a change of load on a shared machine falls on both and their ratio holds.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

__all__ = ["Budget", "Run", "Sample", "compare_calls", "drive", "time_ops"]

#: An asynchronous call under test: one request and its reply.
AsyncCall = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Budget:
    """How long to measure: seconds per subject per round, and how many rounds."""

    seconds: float
    rounds: int
    warmup: float
    #: At least this many calls per run, however long they take (for slow subjects).
    min_calls: int = 50
    #: A run stops after this many seconds even below ``min_calls``.
    max_seconds: float = 30.0


@dataclass(slots=True)
class Run:
    """The latency of every call of one run, and the wall time the run took."""

    latencies_ns: list[int]
    seconds: float

    def percentile_us(self, q: float) -> float:
        """The ``q``-th percentile latency in microseconds (nearest rank)."""
        ordered = sorted(self.latencies_ns)
        rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[rank] / 1000

    @property
    def per_second(self) -> float:
        return len(self.latencies_ns) / self.seconds


@dataclass(slots=True)
class Sample:
    """The runs of one subject. Each figure is that of the best run: load from other
    processes on a shared machine only ever makes a run slower."""

    runs: list[Run] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(run.latencies_ns) for run in self.runs)

    def percentile_us(self, q: float) -> float:
        return min(run.percentile_us(q) for run in self.runs)

    @property
    def per_second(self) -> float:
        return max(run.per_second for run in self.runs)


async def drive(call: AsyncCall, *, callers: int, seconds: float, budget: Budget) -> Run:
    """Call ``call`` from ``callers`` concurrent tasks for about ``seconds``.

    Each caller loops until the time is up and at least ``budget.min_calls`` calls were
    made in all (or ``budget.max_seconds`` passed); calls in flight then finish. Throughput
    is the calls completed over the wall time from the first start to the last finish.
    """
    latencies: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    soft_stop = start + int(seconds * 1e9)
    hard_stop = start + int(budget.max_seconds * 1e9)

    async def caller() -> None:
        while True:
            now = clock()
            if now >= hard_stop or (now >= soft_stop and len(latencies) >= budget.min_calls):
                return
            await call()
            latencies.append(clock() - now)

    if callers == 1:
        await caller()
    else:
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
    return Run(latencies, (clock() - start) / 1e9)


async def compare_calls(
    subjects: Mapping[str, AsyncCall], *, callers: int, budget: Budget
) -> dict[str, Sample]:
    """Measure each subject with ``callers`` concurrent callers, in alternating rounds."""
    for call in subjects.values():
        await drive(call, callers=callers, seconds=budget.warmup, budget=budget)
    samples = {name: Sample() for name in subjects}
    names = list(subjects)
    for round_ in range(budget.rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            gc.collect()
            run = await drive(
                subjects[name], callers=callers, seconds=budget.seconds, budget=budget
            )
            samples[name].runs.append(run)
    return samples


def time_ops(
    ops: Mapping[str, Callable[[], object]], *, seconds: float, repeats: int
) -> dict[str, float]:
    """Nanoseconds per call of each operation: the fastest of ``repeats`` timed loops,
    the operations taking turns. Each loop runs about ``seconds / repeats``."""
    loops: dict[str, int] = {}
    for name, op in ops.items():
        loops[name] = _calibrate(op, seconds / max(repeats, 1))
    best = dict.fromkeys(ops, float("inf"))
    names = list(ops)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            op, n = ops[name], loops[name]
            start = time.perf_counter_ns()
            for _ in range(n):
                op()
            best[name] = min(best[name], (time.perf_counter_ns() - start) / n)
    return best


def _calibrate(op: Callable[[], object], seconds: float) -> int:
    """How many calls of ``op`` take about ``seconds``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            op()
        took = time.perf_counter() - start
        if took >= seconds / 4 or n >= 1 << 24:
            return max(1, int(n * seconds / max(took, 1e-9)))
        n *= 4
