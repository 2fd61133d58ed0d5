"""The maintenance example: predictable failures are foreseen and avoided, lock-outs need
a supervisor's approval, bad readings are never used, and downtime drops."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest

from agentlink.examples import Outcome, Settings, run_in_process
from agentlink.examples._maintenance_agents import PARTS
from agentlink.examples._maintenance_model import QUANTITIES, Machine, assign_drifts
from agentlink.examples._maintenance_risk import MachineRisk
from agentlink.examples.maintenance import EXAMPLE, RUNS, build
from agentlink.model import Forbidden, Measurement, TaskRejected
from agentlink.runtime import Agent, Runtime

FAST = Settings(seed=7, fast=True)


def run(settings: Settings) -> Outcome:
    return anyio.run(run_in_process, EXAMPLE, settings)


@pytest.fixture(scope="module")
def fast() -> Outcome:
    return run(FAST)


@pytest.fixture(scope="module")
def full() -> Outcome:
    return run(Settings(seed=7))


def bad_readings(outcome: Outcome, run: str) -> set[tuple[str, int, str]]:
    faults = outcome.data["sensor_faults"][run]
    return {
        (m, f["step"], f["channel"])
        for m, fs in faults.items()
        for f in fs
        if f["quality"] == "bad"
    }


@pytest.mark.parametrize("which", ["fast", "full"])
def test_every_predictable_baseline_failure_is_predicted_before_it_occurs(
    which: str, request: pytest.FixtureRequest
) -> None:
    outcome: Outcome = request.getfixturevalue(which)
    base = outcome.data["runs"]["baseline"]
    expected = [(f["machine"], f["step"], m) for f in base["failures"] for m in f["modes"]]
    expected = [e for e in expected if e[2] != "RNF"]
    assert {mode for _, _, mode in expected} == {"TWF", "HDF", "PWF", "OSF"}
    predicted = base["failures_predicted"]
    assert sorted((p["machine"], p["step"], p["mode"]) for p in predicted) == sorted(expected)
    published = {(p["machine"], p["step"], p["mode"]) for p in base["predictions"]}
    for failure in predicted:
        assert failure["predicted_at"] is not None, failure
        assert failure["predicted_at"] < failure["step"]
        # The prediction is one the planner published, for that machine and mode.
        assert (failure["machine"], failure["predicted_at"], failure["mode"]) in published
    assert outcome.data["predicted"]["before_failure"] == len(expected)


@pytest.mark.parametrize("which", ["fast", "full"])
def test_the_maintained_plant_avoids_them_and_stands_less(
    which: str, request: pytest.FixtureRequest
) -> None:
    outcome: Outcome = request.getfixturevalue(which)
    base, kept = outcome.data["runs"]["baseline"], outcome.data["runs"]["maintained"]
    assert kept["predictable_failures"] == 0
    assert outcome.data["failures_avoided"] == base["predictable_failures"] > 0
    assert kept["downtime_min"] < base["downtime_min"]
    assert kept["unplanned_downtime_min"] < base["unplanned_downtime_min"]
    assert base["planned_downtime_min"] == 0  # run to failure: nothing is planned
    for machine, minutes in kept["downtime_by_machine_min"].items():
        assert minutes < base["downtime_by_machine_min"][machine]


def test_no_machine_is_locked_out_without_the_supervisors_approval(fast: Outcome) -> None:
    lockouts = fast.data["lockouts"]
    assert lockouts
    approved = {
        (d["machine"], d["work_order"])
        for d in fast.data["lockout_decisions"]
        if d["decision"] == "approve"
    }
    for lock in lockouts:
        assert lock["approved_by"] == ["supervisor"]
        assert (lock["machine"], lock["work_order"]) in approved
    # Work is only done under the work order's own lock, taken no later.
    locked = {(lock["machine"], lock["work_order"]): lock["step"] for lock in lockouts}
    for job in fast.data["services"]:
        assert locked[job["machine"], job["work_order"]] <= job["step"]
    started = [o for o in fast.data["work_orders"] if o["start"] < fast.data["steps"]]
    assert len(lockouts) == len(started) == len(fast.data["services"])


def test_bad_readings_are_skipped_and_never_feed_a_prediction(fast: Outcome) -> None:
    for run in RUNS:
        bad = bad_readings(fast, run)
        assert bad, "the sensors send some bad readings"
        skipped = {
            (s["machine"], s["step"], s["channel"]) for s in fast.data["skipped_readings"][run]
        }
        assert skipped == bad
        for prediction in fast.data["runs"][run]["predictions"]:
            for channel, steps in prediction["inputs"].items():
                for step in steps:
                    assert (prediction["machine"], step, channel) not in bad
        readings = fast.data["readings"][run]
        assert readings["bad_skipped"] == readings["bad_sent"] == len(bad)
        assert readings["uncertain_sent"] > 0


def test_windows_come_from_an_iterated_contract_net_before_the_predicted_limit(
    fast: Outcome,
) -> None:
    orders = fast.data["work_orders"]
    assert fast.data["negotiation_rounds"] == [2]
    for order in orders:
        assert order["crew"] in ("crew-a", "crew-b")
        assert order["predicted_at"] + 2 <= order["start"] <= order["latest_step"]
        assert order["end"] > order["start"]
    for crew in ("crew-a", "crew-b"):
        booked = sorted((o["start"], o["end"]) for o in orders if o["crew"] == crew)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(booked))
    # Tool changes are booked as late as the limit allows: little tool life is thrown away.
    tools = [o for o in orders if o["actions"] == ["replace-tool"]]
    assert tools
    assert sum(o["latest_step"] - o["start"] for o in tools) <= 2 * len(tools)


def test_each_work_order_requests_its_spare_part(fast: Outcome) -> None:
    wanted: dict[str, int] = {}
    for order in fast.data["work_orders"]:
        for action in order["actions"]:
            if action in PARTS:
                wanted[PARTS[action]] = wanted.get(PARTS[action], 0) + 1
    assert fast.data["runs"]["maintained"]["parts_requested"] == dict(sorted(wanted.items()))
    assert fast.data["runs"]["baseline"]["parts_requested"] == {}


def test_same_seed_same_result_and_another_seed_another(fast: Outcome) -> None:
    again = run(FAST)
    assert again.data == fast.data
    assert again.headline == fast.headline
    assert run(Settings(seed=8, fast=True)).data != fast.data


def test_the_outcome_summarises_both_runs(fast: Outcome) -> None:
    assert fast.name == "maintenance"
    assert "predictable failures avoided" in fast.headline
    assert [row[0] for row in fast.rows] == list(RUNS)
    assert all(len(row) == len(fast.columns) for row in fast.rows)
    assert {m["drift"] for m in fast.data["machines"]} == {"coolant", "overspeed", "overload"}
    svg = ET.fromstring(fast.artifacts["downtime.svg"])
    bars = svg.findall(".//{http://www.w3.org/2000/svg}rect[@class='bar']")
    stops = [stop for run in RUNS for stop in fast.data["runs"][run]["stops"]]
    assert len(bars) == len(stops) + 1  # and a hairline at the horizon
    for run in RUNS:
        data = fast.data["runs"][run]
        minutes = {"planned": 0, "unplanned": 0}
        for stop in data["stops"]:
            minutes[stop["kind"]] += (stop["to"] - stop["from"]) * fast.data["step_min"]
        assert minutes["planned"] == data["planned_downtime_min"]
        assert minutes["unplanned"] == data["unplanned_downtime_min"]


def agents_of(groups: dict[str, list[Agent]]) -> dict[str, Agent]:
    return {a.id: a for group in groups.values() for a in group}


def test_a_lock_out_waits_for_the_supervisor_who_checks_the_parts() -> None:
    groups = build(FAST)
    agents = agents_of(groups)
    crew, planner = agents["crew-a"], agents["pdm"]

    async def scenario() -> None:
        async with Runtime(agents=list(agents.values())):
            m1 = crew.peer("M1")
            await planner.peer("M1").call("start_run", run="test")
            await planner.peer("stores").call("start_run", run="test")
            await (
                agents["mro"]
                .peer("stores")
                .call(
                    "request", work_order="WO-1", machine="M1", part="insert", quantity=1, need_by=2
                )
            )
            handle = await m1.start_task("lock_out", work_order="WO-1", step=0)
            assert handle.task.state == "input-required"
            with pytest.raises(Forbidden):  # no lock, no work
                await m1.call("service", work_order="WO-1", actions=["replace-tool"], step=0)
            with pytest.raises(Forbidden):  # the planner is no supervisor
                await planner.peer("M1").approve(handle.id)
            # The parts are not drawn yet: the supervisor refuses.
            decision = await crew.peer("supervisor").call(
                "authorize", machine="M1", task_id=handle.id, work_order="WO-1", step=0
            )
            assert decision["decision"] == "reject"
            with pytest.raises(TaskRejected):
                await handle.result(timeout=5)
            running = await planner.peer("M1").call("run_process", step=0)
            assert running["state"] == "running"

            await crew.peer("stores").call("issue", work_order="WO-1")
            handle = await m1.start_task("lock_out", work_order="WO-1", step=1)
            decision = await crew.peer("supervisor").call(
                "authorize", machine="M1", task_id=handle.id, work_order="WO-1", step=1
            )
            assert decision["decision"] == "approve"
            lock = await handle.result(timeout=5)
            assert (lock["crew"], lock["approved_by"]) == ("crew-a", ["supervisor"])
            assert (await planner.peer("M1").call("run_process", step=1))["state"] == "locked"
            await m1.call("service", work_order="WO-1", actions=["replace-tool"], step=1)
            with pytest.raises(Forbidden):  # only the lock's holder removes it
                await agents["crew-b"].peer("M1").call("release", work_order="WO-1", step=2)
            released = await m1.call("release", work_order="WO-1", step=2)
            assert released["state"] == "running"

    anyio.run(scenario)


def test_telemetry_is_measurements_with_units_quality_and_simulated_time() -> None:
    groups = build(FAST)
    agents = agents_of(groups)
    planner = agents["pdm"]

    async def scenario() -> list[dict[str, Any]]:
        async with Runtime(agents=list(agents.values())):
            await planner.peer("M2").call("start_run", run="test")
            for step in range(40):
                await planner.peer("M2").call("run_process", step=step)
            page = await planner.peer("sensor-M2").request(
                "events/subscribe", {"topics": ["machine.telemetry"], "limit": 100}
            )
            events: list[dict[str, Any]] = page["events"]
            return events

    events = anyio.run(scenario)
    assert [e["data"]["step"] for e in events] == list(range(40))
    readings = [
        Measurement.model_validate(r) for e in events for r in e["data"]["readings"].values()
    ]
    assert {r.unit for r in readings} == set(QUANTITIES.values()) == {"KEL", "RPM", "NU", "MIN"}
    assert {r.quality for r in readings} <= {"good", "uncertain", "bad"}
    first = events[0]["data"]["readings"]["torque"]
    assert (first["source_ts"], first["asset_id"]) == ("2026-01-05T06:05:00Z", "M2")


def test_the_machine_fails_by_the_ai4i_rules() -> None:
    machine = Machine(seed=1, machine_id="M9", drift="none", onset=0)
    machine.wear = machine.tool_life  # worn out: the next process fails by tool wear
    result = machine.run(0)
    assert "TWF" in result["failures"]
    assert machine.state == "down"
    assert machine.wear == 0.0  # the repair fitted a new tool
    repair = machine.down_until
    assert [machine.run(step)["state"] for step in range(1, repair + 1)] == ["down"] * (
        repair - 1
    ) + ["running"]
    # Coolant fouling: with enough use the temperature difference falls below 8.6 K.
    cooled = Machine(seed=1, machine_id="M9", drift="coolant", onset=0)
    modes: list[str] = []
    for step in range(200):
        cooled.restore(["replace-tool"])  # keep the tool fresh: only heat can fail
        modes += cooled.run(step)["failures"]
        if modes:
            break
    assert modes[0] == "HDF"


def test_drifts_go_to_distinct_machines_in_the_first_third() -> None:
    drifts = assign_drifts(7, ["M1", "M2", "M3", "M4"], 576)
    assert sorted(kind for kind, _ in drifts.values()) == [
        "coolant",
        "none",
        "overload",
        "overspeed",
    ]
    assert all(57 <= onset <= 201 for _, onset in drifts.values())


def test_the_risk_rules_skip_bad_readings_and_warn_of_heat_before_the_limit() -> None:
    risk = MachineRisk("M1")
    alarms = []
    for step in range(40):
        dt = 10.0 - 0.05 * step
        readings = {
            "air_temperature": {"value": 300.0, "quality": "good"},
            "process_temperature": {
                "value": 273.15 if step == 30 else 300.0 + dt,
                "quality": "bad" if step == 30 else "good",
            },
        }
        risk.ingest(step, readings)
        alarms += risk.assess(step)
    (alarm,) = alarms
    assert alarm.rule == "heat-dissipation"
    # Raised while the difference (10 - 0.05 step) was still above 8.6 K.
    assert 10.0 - 0.05 * alarm.step > 8.6
    assert (30, "process_temperature") in risk.skipped
    assert (30, "process_temperature") not in alarm.inputs
