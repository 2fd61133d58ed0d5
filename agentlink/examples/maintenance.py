"""Predictive maintenance of milling machines, after AI4I 2020 (deterministic from a seed).

The five roles, in four groups:

- perception: one sensor gateway per machine (``sensor-M1`` ...; group ``machines``)
  streams every process's air and process temperature (KEL), rotational speed (RPM),
  torque (NU) and tool wear (MIN) as Measurements with quality; some readings are bad
  (a failed sensor's value) and must never be used, some uncertain;
- execution: the machines (``M1`` ...; group ``machines``) run one process a step, fail
  by the AI4I rules when nobody intervenes, and have an actuating lock-out/tag-out tool
  that needs a shift supervisor's approval; two crews (``crew-a``, ``crew-b``; group
  ``maintenance``) bid maintenance windows and carry the work out; the stores hand out
  spare parts;
- decision: the planner (``pdm``, driver) follows the telemetry, predicts failures with
  margins before their conditions are reached, publishes each prediction, and books a
  window for the work by iterated contract net: a first call for availability, then a
  second with its scoring (downtime, tool life thrown away, lateness) for which each
  crew proposes its best slot;
- demand: the maintenance buyer (``mro``, driver) requests the spare parts of each work
  order from the stores;
- evaluation: the KPI agent (``kpi``, group ``kpi``) reads the machines', stores' and
  planner's event logs: failures, planned and unplanned downtime, parts, and whether each
  failure had been predicted.

The plant first runs to failure (the planner only predicts), then again from the same
state with the planner acting: the difference is what prediction is worth.

Run it with ``agentlink demo maintenance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentlink.runtime import Agent, contract_net

from ._maintenance_agents import (
    CREWS,
    PARTS,
    crew,
    kpi,
    machine_cell,
    stores,
    supervisor,
)
from ._maintenance_model import REPAIRS, STEP_MIN, assign_drifts
from ._maintenance_risk import ALARM_ACTION, Alarm, MachineRisk
from ._scenario import DRIVER, Example, ExampleFailed, Outcome, Progress, Settings
from ._svg import Bar, gantt

__all__ = ["EXAMPLE", "RUNS", "build", "drive"]

#: The run-to-failure baseline first, then the same plant maintained.
RUNS = ("baseline", "maintained")
#: Steps from a work order to the earliest window (parts come from the stores).
PART_LEAD_STEPS = 2
#: The planner's scoring of a window, per step: crew downtime, tool life thrown away,
#: lateness past the predicted limit.
SCORING = {"downtime_per_step": 2.0, "waste_per_step": 0.5, "late_per_step": 50.0}
#: Seconds crews have to answer a call (answers are immediate; this bounds a stall).
REPLY_BY = 30.0
CALL_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Plan:
    """The plant and horizon of a run, from the settings."""

    machines: tuple[str, ...]
    steps: int
    drifts: dict[str, tuple[str, int]]

    @classmethod
    def of(cls, settings: Settings) -> Plan:
        machines = ("M1", "M2", "M3") if settings.fast else ("M1", "M2", "M3", "M4")
        steps = 160 if settings.fast else 576
        return cls(machines, steps, assign_drifts(settings.seed, list(machines), steps))


def build(settings: Settings) -> dict[str, list[Agent]]:
    """The agents of every group; the same for the same settings in every process."""
    plan = Plan.of(settings)
    planner = Agent(
        "pdm",
        role="decision",
        name="Predictive maintenance planner",
        description="Predicts failures from telemetry and books maintenance windows.",
        capabilities=["maintenance.planning"],
    )
    planner.emits("maintenance.prediction", description="A failure predicted, and why.")
    planner.emits("maintenance.work-order", description="A window booked for a work order.")
    buyer = Agent(
        "mro",
        role="demand",
        name="Maintenance buyer",
        description="Requests the spare parts of work orders.",
        capabilities=["maintenance.spares-demand"],
    )
    cells = [
        agent
        for machine in plan.machines
        for agent in machine_cell(settings.seed, machine, *plan.drifts[machine])
    ]
    return {
        DRIVER: [planner, buyer, supervisor()],
        "machines": cells,
        "maintenance": [crew(c) for c in CREWS] + [stores()],
        "kpi": [kpi()],
    }


@dataclass
class WorkOrder:
    """Maintenance booked for a machine."""

    id: str
    machine: str
    actions: list[str]
    alarm: Alarm
    crew: str = ""
    start: int = 0
    end: int = 0
    rounds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "work_order": self.id,
            "machine": self.machine,
            "actions": self.actions,
            "rule": self.alarm.rule,
            "predicted_at": self.alarm.step,
            "latest_step": self.alarm.latest_step,
            "crew": self.crew,
            "start": self.start,
            "end": self.end,
            "rounds": self.rounds,
        }


@dataclass
class _Planner:
    """The decision agent's state over one run, and what it does each step."""

    agent: Agent
    buyer: Agent
    run: str
    sensors: dict[str, str]
    crews: list[str]
    stores: str
    risk: dict[str, MachineRisk] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)
    alarms: list[Alarm] = field(default_factory=list)
    orders: list[WorkOrder] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.risk = {m: MachineRisk(m) for m in self.sensors}

    async def observe(self, step: int) -> list[Alarm]:
        """Read each machine's telemetry of ``step`` and return the new predictions."""
        telemetry: dict[str, dict[str, Any]] = {}

        async def read(machine: str) -> None:
            sensor = self.sensors[machine]
            with anyio.fail_after(CALL_TIMEOUT):
                async with aclosing(
                    self.agent.peer(sensor).events(
                        ["machine.telemetry"], after_seq=self.cursors.get(sensor, 0), wait=5.0
                    )
                ) as stream:
                    async for event in stream:
                        self.cursors[sensor] = event["seq"]
                        if event["data"]["run"] == self.run and event["data"]["step"] == step:
                            telemetry[machine] = event["data"]
                            return

        async with anyio.create_task_group() as tg:
            for machine in self.sensors:
                tg.start_soon(read, machine)
        new: list[Alarm] = []
        for machine, risk in self.risk.items():
            data = telemetry[machine]
            before = len(risk.skipped)
            risk.ingest(step, data["readings"])
            self.skipped += [
                {"machine": machine, "step": s, "channel": c} for s, c in risk.skipped[before:]
            ]
            if data["faults"]:
                # The machine failed: its repair restores what the failure broke.
                risk.restored({a for mode in data["faults"] for a in REPAIRS[mode]})
            new += risk.assess(step)
        for alarm in new:
            await self.agent.publish("maintenance.prediction", {"run": self.run, **alarm.to_json()})
        self.alarms += new
        return new

    async def plan(self, step: int, alarms: list[Alarm]) -> None:
        """Book maintenance for new predictions not already covered by an open order."""
        for alarm in alarms:
            action = ALARM_ACTION[alarm.rule]
            if any(
                o.machine == alarm.machine and action in o.actions and o.end > step
                for o in self.orders
            ):
                continue
            order = WorkOrder(f"WO-{len(self.orders) + 1:04d}", alarm.machine, [action], alarm)
            part = PARTS.get(action)
            if part is not None:
                await self.buyer.peer(self.stores).call(
                    "request",
                    work_order=order.id,
                    machine=order.machine,
                    part=part,
                    quantity=1,
                    need_by=step + PART_LEAD_STEPS,
                    timeout=CALL_TIMEOUT,
                )
            await self._negotiate(order, step)
            self.orders.append(order)
            await self.agent.publish("maintenance.work-order", {"run": self.run, **order.to_json()})

    async def _negotiate(self, order: WorkOrder, step: int) -> None:
        """Iterated contract net over the crews for the order's window."""
        earliest = step + PART_LEAD_STEPS
        latest = max(earliest, order.alarm.latest_step - 1)
        wear_based = order.actions == ["replace-tool"]
        scoring = {**SCORING, "waste_per_step": SCORING["waste_per_step"] if wear_based else 0.0}
        call = {
            "work_order": order.id,
            "machine": order.machine,
            "actions": order.actions,
            "earliest": earliest,
            "latest": latest,
            "round": 1,
        }

        def score(proposal: Mapping[str, Any]) -> float:
            start, steps = int(proposal["start"]), int(proposal["steps"])
            return (
                float(proposal["price"])
                + scoring["downtime_per_step"] * steps
                + scoring["waste_per_step"] * max(0, latest - start)
                + scoring["late_per_step"] * max(0, start - latest)
            )

        def best(proposals: Mapping[str, Any]) -> list[str]:
            ranked = sorted(proposals, key=lambda crew_id: (score(proposals[crew_id]), crew_id))
            return ranked[:1]

        def again(proposals: Mapping[str, Any], round_number: int) -> Any:
            if all(p.get("final") for p in proposals.values()):
                return None
            (leader,) = best(proposals)
            return {
                **call,
                "round": round_number + 1,
                "scoring": scoring,
                "best_score": round(score(proposals[leader]), 2),
            }

        outcome = await contract_net(
            self.agent, self.crews, call, reply_by=REPLY_BY, select=best, iterate=again
        )
        if len(outcome.results) != 1:
            raise ExampleFailed(f"no crew confirmed a window for {order.id}: {outcome}")
        (winner,) = outcome.results
        booking = outcome.results[winner]
        order.crew, order.start, order.end = winner, booking["start"], booking["end"]
        order.rounds = outcome.rounds

    async def windows(self, step: int) -> None:
        """Finish the work orders ending now, then begin those starting now."""
        for order in self.orders:
            if order.end == step:
                await self.agent.peer(order.crew).call(
                    "finish",
                    work_order=order.id,
                    machine=order.machine,
                    step=step,
                    timeout=CALL_TIMEOUT,
                )
        for order in self.orders:
            if order.start == step:
                started = await self.agent.peer(order.crew).call(
                    "begin",
                    work_order=order.id,
                    machine=order.machine,
                    actions=order.actions,
                    step=step,
                    timeout=CALL_TIMEOUT,
                )
                if started["locked"] is None:
                    # Not approved, nothing done: predict again, and book again.
                    order.end = step
                    self.risk[order.machine].active.discard(order.alarm.rule)
                else:
                    self.risk[order.machine].restored(set(order.actions))


async def drive(agents: Mapping[str, Agent], settings: Settings, progress: Progress) -> Outcome:
    """Run the plant to failure, then maintained, and compare."""
    plan = Plan.of(settings)
    pdm, buyer = agents["pdm"], agents["mro"]
    machines = sorted(c.id for c in await pdm.discover(capability="machining.milling"))
    sensors = {
        m: (await pdm.discover(capability="sensing.machine-telemetry", asset=m))[0].id
        for m in machines
    }
    crews = sorted(c.id for c in await pdm.discover(capability="maintenance.mechanical"))
    (store,) = [c.id for c in await pdm.discover(capability="mro.stores")]
    (evaluator,) = [c.id for c in await pdm.discover(role="evaluation")]
    (boss,) = [c.id for c in await pdm.discover(capability="safety.lockout-approval")]
    progress.start(len(RUNS) * plan.steps, f"{len(machines)} machines, 2 runs")
    reports: dict[str, Any] = {}
    planners: dict[str, _Planner] = {}
    for run in RUNS:
        for agent_id in [*machines, *crews, store]:
            await pdm.peer(agent_id).call("start_run", run=run, timeout=CALL_TIMEOUT)
        planner = _Planner(pdm, buyer, run, sensors, crews, store)
        planners[run] = planner
        for step in range(plan.steps):
            if run == "maintained":
                await planner.windows(step)
            async with anyio.create_task_group() as tg:
                for machine in machines:
                    tg.start_soon(_run_process, pdm, machine, step)
            alarms = await planner.observe(step)
            if run == "maintained":
                await planner.plan(step, alarms)
            progress.advance(1, f"{run}: step {step + 1}")
        reports[run] = await pdm.peer(evaluator).call(
            "close_run", run=run, steps=plan.steps, timeout=CALL_TIMEOUT
        )
    records = {
        m: await pdm.peer(m).call("records_of", run="maintained", timeout=CALL_TIMEOUT)
        for m in machines
    }
    faults = {
        run: {
            m: await pdm.peer(sensors[m]).call("sensor_faults", run=run, timeout=CALL_TIMEOUT)
            for m in machines
        }
        for run in RUNS
    }
    scenario = [await pdm.peer(m).call("scenario", timeout=CALL_TIMEOUT) for m in machines]
    approvals = await pdm.peer(boss).call("decisions_made", timeout=CALL_TIMEOUT)
    return _outcome(settings, plan, reports, planners, records, faults, scenario, approvals)


async def _run_process(pdm: Agent, machine: str, step: int) -> None:
    await pdm.peer(machine).call("run_process", step=step, timeout=CALL_TIMEOUT)


def _outcome(
    settings: Settings,
    plan: Plan,
    reports: dict[str, Any],
    planners: dict[str, _Planner],
    records: dict[str, Any],
    faults: dict[str, dict[str, list[dict[str, Any]]]],
    scenario: list[dict[str, Any]],
    approvals: list[dict[str, Any]],
) -> Outcome:
    runs: dict[str, Any] = {}
    for run in RUNS:
        report = reports[run]
        modes: dict[str, int] = {}
        for failure in report["failures"]:
            for mode in failure["modes"]:
                modes[mode] = modes.get(mode, 0) + 1
        unplanned = sum(report["unplanned_min"].values())
        planned = sum(report["planned_min"].values())
        runs[run] = {
            "failures": report["failures"],
            "failures_by_mode": dict(sorted(modes.items())),
            "predictable_failures": sum(v for k, v in modes.items() if k != "RNF"),
            "unplanned_downtime_min": unplanned,
            "planned_downtime_min": planned,
            "downtime_min": unplanned + planned,
            "downtime_by_machine_min": {
                m: report["unplanned_min"][m] + report["planned_min"][m]
                for m in report["unplanned_min"]
            },
            "parts_requested": report["parts"],
            "stops": report["stops"],
            "predictions": [_brief(a) for a in planners[run].alarms],
            "failures_predicted": report["predicted"],
        }
    base, kept = runs["baseline"], runs["maintained"]
    expected = base["failures_predicted"]
    foreseen = [p for p in expected if p["predicted_at"] is not None]
    leads = sorted(p["lead_steps"] * STEP_MIN for p in foreseen)
    avoided = base["predictable_failures"] - kept["predictable_failures"]
    orders = [o.to_json() for o in planners["maintained"].orders]
    lockouts = [{"machine": m, **lock} for m in sorted(records) for lock in records[m]["lockouts"]]
    services = [{"machine": m, **job} for m in sorted(records) for job in records[m]["services"]]
    readings = {
        run: {
            "bad_sent": sum(f["quality"] == "bad" for fs in faults[run].values() for f in fs),
            "uncertain_sent": sum(
                f["quality"] == "uncertain" for fs in faults[run].values() for f in fs
            ),
            "bad_skipped": len(planners[run].skipped),
            "used": sum(len(r.used) for r in planners[run].risk.values()),
        }
        for run in RUNS
    }
    parts = sum(kept["parts_requested"].values())
    median = leads[len(leads) // 2] if leads else 0
    headline = (
        f"{avoided} of {base['predictable_failures']} predictable failures avoided "
        f"({len(foreseen)}/{len(expected)} predicted, median lead {median} min); downtime "
        f"{base['downtime_min']} -> {kept['downtime_min']} min "
        f"({kept['unplanned_downtime_min']} unplanned, {kept['planned_downtime_min']} planned); "
        f"{len(orders)} work orders, {parts} parts requested"
    )
    rows: list[tuple[str, ...]] = []
    for run in RUNS:
        by_mode = ", ".join(f"{k} {v}" for k, v in runs[run]["failures_by_mode"].items())
        failures = str(len(runs[run]["failures"])) + (f" ({by_mode})" if by_mode else "")
        rows.append(
            (
                run,
                failures,
                str(runs[run]["unplanned_downtime_min"]),
                str(runs[run]["planned_downtime_min"]),
                str(sum(runs[run]["parts_requested"].values())),
            )
        )
    data = {
        "seed": settings.seed,
        "machines": scenario,
        "steps": plan.steps,
        "step_min": STEP_MIN,
        "runs": runs,
        "failures_avoided": avoided,
        "predicted": {
            "expected": len(expected),
            "before_failure": len(foreseen),
            "lead_min": leads,
        },
        "work_orders": orders,
        "negotiation_rounds": sorted({o["rounds"] for o in orders}),
        "lockouts": lockouts,
        "lockout_decisions": approvals,
        "services": services,
        "sensor_faults": faults,
        "skipped_readings": {run: planners[run].skipped for run in RUNS},
        "readings": readings,
    }
    return Outcome(
        name="maintenance",
        seed=settings.seed,
        headline=headline,
        columns=("run", "failures", "unplanned min", "planned min", "parts requested"),
        rows=rows,
        data=data,
        artifacts={"downtime.svg": _timeline(plan, reports)},
    )


def _timeline(plan: Plan, reports: dict[str, Any]) -> str:
    """A Gantt chart of every machine's stops in both runs."""
    lanes = [f"{m} {run}" for m in plan.machines for run in RUNS]
    bars = [
        Bar(
            lane=lanes.index(f"{stop['machine']} {run}"),
            start=stop["from"] * STEP_MIN,
            end=stop["to"] * STEP_MIN,
            group=0 if stop["kind"] == "unplanned" else 1,
            label="",
        )
        for run in RUNS
        for stop in reports[run]["stops"]
    ]
    # An empty bar at the horizon keeps the time axis the length of the run.
    bars.append(
        Bar(lane=0, start=plan.steps * STEP_MIN, end=plan.steps * STEP_MIN, group=0, label="")
    )
    return gantt(
        bars,
        lanes=lanes,
        groups=["failure and repair", "planned maintenance"],
        title="Machine stops, run to failure against maintained",
    )


def _brief(alarm: Alarm) -> dict[str, Any]:
    """A prediction for the result file: its inputs grouped by channel."""
    brief = alarm.to_json()
    channels: dict[str, list[int]] = {}
    for step, channel in alarm.inputs:
        channels.setdefault(channel, []).append(step)
    brief["inputs"] = {c: sorted(set(s)) for c, s in sorted(channels.items())}
    return brief


EXAMPLE = Example(
    name="maintenance",
    title="Predictive maintenance",
    build=build,
    drive=drive,
)
