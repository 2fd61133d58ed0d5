"""The job-shop example: ft06 dispatched by contract net yields a valid, good schedule."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest

from agentlink.examples import Outcome, Settings, run_in_process
from agentlink.examples._dispatching import (
    FT06,
    FT06_OPTIMUM,
    Rule,
    parse_orlib,
    rehearse,
)
from agentlink.examples.job_shop import EXAMPLE, build
from agentlink.model import Message
from agentlink.runtime import Runtime

SVG = "{http://www.w3.org/2000/svg}"
ROUTES = parse_orlib(FT06)


def run(settings: Settings) -> Outcome:
    return anyio.run(run_in_process, EXAMPLE, settings)


@pytest.fixture(scope="module")
def fast() -> Outcome:
    return run(Settings(seed=7, fast=True))


def operations(outcome: Outcome) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = outcome.data["operations"]
    return ops


def test_ft06_is_read_from_its_or_library_text() -> None:
    assert len(ROUTES) == 6
    assert all(len(route) == 6 for route in ROUTES)
    assert [(op.machine, op.duration) for op in ROUTES[0]] == [
        (2, 1),
        (0, 3),
        (1, 6),
        (3, 7),
        (5, 3),
        (4, 6),
    ]
    # Every job visits every machine once.
    assert all(sorted(op.machine for op in route) == list(range(6)) for route in ROUTES)


def test_every_operation_is_scheduled_once_on_its_machine_for_its_duration(
    fast: Outcome,
) -> None:
    ops = operations(fast)
    assert len(ops) == 36
    assert sorted((op["job"], op["step"]) for op in ops) == [
        (j, s) for j in range(6) for s in range(6)
    ]
    for op in ops:
        expected = ROUTES[op["job"]][op["step"]]
        assert op["machine"] == expected.machine
        assert op["end"] - op["start"] == expected.duration
        assert op["start"] >= 0


def test_no_two_operations_overlap_on_a_machine(fast: Outcome) -> None:
    for machine in range(6):
        on_it = sorted(
            (op["start"], op["end"]) for op in operations(fast) if op["machine"] == machine
        )
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(on_it)), on_it


def test_each_job_runs_its_steps_in_order(fast: Outcome) -> None:
    for job in range(6):
        steps = sorted(
            (op["step"], op["start"], op["end"]) for op in operations(fast) if op["job"] == job
        )
        for (_, _, end), (_, start, _) in itertools.pairwise(steps):
            assert end <= start


def test_makespan_is_the_last_end_and_not_below_the_optimum(fast: Outcome) -> None:
    assert fast.data["makespan"] == max(op["end"] for op in operations(fast))
    assert fast.data["optimum"] == FT06_OPTIMUM == 55
    assert fast.data["makespan"] >= 55
    assert fast.data["gap_percent"] == round(100 * (fast.data["makespan"] - 55) / 55, 2)


def test_the_full_run_reaches_the_optimum() -> None:
    full = run(Settings(seed=7))
    assert full.data["makespan"] == 55
    # The plain priority rules alone do not get there.
    plain = [r for r in full.data["rehearsal"] if "seeded" not in r["rule"]]
    assert min(r["makespan"] for r in plain) > 55
    assert "makespan 55 (optimum 55, gap 0.0 %)" in full.headline


def test_tardiness_is_measured_against_each_due_date(fast: Outcome) -> None:
    jobs = fast.data["jobs"]
    assert [j["job"] for j in jobs] == list(range(6))
    for j in jobs:
        completion = max(op["end"] for op in operations(fast) if op["job"] == j["job"])
        assert j["completion"] == completion
        assert j["tardiness"] == max(0, completion - j["due"])
    assert fast.data["total_tardiness"] == sum(j["tardiness"] for j in jobs)


def test_every_operation_went_through_a_contract_net(fast: Outcome) -> None:
    stats = fast.data["stats"]
    assert stats["contract_nets"] == stats["awards"] == stats["informs"] == 36
    # Two rounds each: the schedulable operations, then the chosen one.
    assert stats["rounds"] == 72
    assert stats["cfps"] == stats["proposals"] + stats["refusals"]
    assert stats["messages"] == sum(
        stats[k] for k in ("cfps", "proposals", "refusals", "awards", "informs", "rejections")
    )
    # Every operation started and finished as an event the monitor saw.
    assert fast.data["events"] == 72


def test_same_seed_same_result() -> None:
    first, second = run(Settings(seed=3, fast=True)), run(Settings(seed=3, fast=True))
    assert first.data == second.data
    assert first.artifacts == second.artifacts
    assert first.rows == second.rows


def test_gantt_chart_is_svg_with_a_bar_per_operation(fast: Outcome) -> None:
    root = ET.fromstring(fast.artifacts["gantt.svg"])
    assert root.tag == f"{SVG}svg"
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(bars) == 36


def test_the_rehearsal_replays_as_the_contract_nets_dispatched(fast: Outcome) -> None:
    due = [j["due"] for j in fast.data["jobs"]]
    plain = {r["rule"]: r["makespan"] for r in fast.data["rehearsal"]}
    for name in ("SPT", "MWKR", "MOPNR"):
        schedule = rehearse(ROUTES, due, Rule(name, name))
        assert max(b.end for b in schedule) == plain[name]


@pytest.mark.anyio
async def test_a_machine_refuses_work_for_another_machine() -> None:
    agents = build(Settings(fast=True))
    machines = agents["machines"]
    async with Runtime(agents=machines):
        call = {
            "operations": [
                {"job": 0, "step": 0, "capability": "machining.m2", "duration": 1, "ready": 0}
            ]
        }
        refused = (
            await machines[0].peer("machine-1").send(Message(performative="cfp", content=call))
        )
        assert refused is not None
        assert refused.performative == "refuse"
        proposed = (
            await machines[0].peer("machine-2").send(Message(performative="cfp", content=call))
        )
        assert proposed is not None
        assert proposed.performative == "propose"
        assert proposed.content["bids"] == [
            {"job": 0, "step": 0, "machine": 2, "start": 0, "end": 1}
        ]
