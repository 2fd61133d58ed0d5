"""Visual quality inspection closed loop on a rolling stand (deterministic from a seed).

The five roles, in four groups:

- demand: the MES (``mes``, driver) releases a production order for a number of sheets;
- execution: the rolling stand (``stand-1``, group ``line``) rolls them at a roll-gap
  set-point; from a seeded part on, its rolls drift and the sheets come out too thick,
  with more surface defects;
- perception: the strip camera and thickness gauge (``cam-1``, group ``vision``) classify
  each sheet's surface (NEU defect classes or ok) and measure its thickness, publishing
  every inspection as an event;
- evaluation: the SPC agent (``spc``, group ``kpi``) follows the camera's event log, sets
  individuals-chart limits from an in-control phase, checks the Western Electric rules
  and, at the end, reports yield, escapes, false rejects and Cpk per phase;
- decision: the run-to-run controller (``controller``, driver) turns an SPC alarm into a
  roll-gap correction. Within a band of +-0.020 mm it trims the gap directly; a larger
  change goes through the stand's ``set_gap`` tool, which actuates only after a quality
  engineer (``qe-1``, role ``x-quality-engineer``, group ``engineering``) approved it;
  the line keeps rolling during the review.

Run it with ``agentlink demo quality``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

import anyio

from agentlink.model import ApprovalRequired, InvalidParams, Measurement, TaskRejected
from agentlink.runtime import Agent, TaskHandle, ToolContext

from ._quality_model import (
    LSL_MM,
    TARGET_MM,
    USL_MM,
    Chart,
    classify,
    drift_offset,
    image_features,
    measure_thickness,
    part_time,
    roll_sheet,
)
from ._quality_report import control_chart_svg, evaluate
from ._scenario import DRIVER, Example, Outcome, Progress, Settings

__all__ = ["EXAMPLE", "build", "drive"]

#: Set-point changes up to this size (mm) are trims that need no approval.
TRIM_BAND_MM = 0.020
#: A shift smaller than this (mm) is left alone: correcting it would add variation.
DEADBAND_MM = 0.012
#: Points the CUSUM needs behind a shift before the controller trusts its estimate.
MIN_POINTS = 4
#: Parts rolled while the quality engineer reviews a change.
REVIEW_PARTS = 6
#: The largest change the quality engineer approves at once (mm).
MAX_STEP_MM = 0.080
#: The roll gap the stand accepts (mm).
GAP_RANGE_MM = (1.80, 2.20)
ENGINEER_ROLE = "x-quality-engineer"
CALL_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Plan:
    """How long a run is and where its drift starts, from the settings."""

    parts: int
    phase_one: int
    onset: int

    @classmethod
    def of(cls, settings: Settings) -> Plan:
        rng = random.Random(f"{settings.seed}:quality-plan")
        if settings.fast:
            return cls(parts=160, phase_one=30, onset=rng.randint(50, 60))
        return cls(parts=400, phase_one=50, onset=rng.randint(150, 200))


# -- execution: the rolling stand ----------------------------------------------------------


def _stand(settings: Settings, plan: Plan) -> Agent:
    stand = Agent(
        "stand-1",
        role="execution",
        name="Finishing stand 1",
        description="Rolls steel sheets to thickness; the roll gap is its set-point.",
        capabilities=["rolling.flat", "process.set-point"],
        assets=["stand-1"],
    )
    stand.emits("line.set-point", description="A roll-gap change, effective from a part on.")
    state: dict[str, Any] = {"gap": TARGET_MM, "order": None, "parts": 0, "next": 0}
    truth: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []

    async def apply(
        gap: float, tool: str, part: int, reason: str, ctx: ToolContext
    ) -> dict[str, Any]:
        old = state["gap"]
        state["gap"] = round(gap, 4)
        change = {
            "effective_from": state["next"],
            "evidence_part": part,
            "tool": tool,
            "old_mm": old,
            "new_mm": state["gap"],
            "delta_mm": round(state["gap"] - old, 4),
            "requested_by": ctx.caller,
            "approved_by": [] if ctx.task is None else list(ctx.task.record.approved_by),
            "reason": reason,
        }
        changes.append(change)
        await stand.publish("line.set-point", change)
        return change

    @stand.tool
    async def release(order: str, parts: int) -> dict[str, Any]:
        """Accept a production order of ``parts`` sheets."""
        if parts < 1:
            raise InvalidParams("an order needs at least one part")
        state.update(order=order, parts=parts, next=0)
        return {"order": order, "parts": parts, "gap_mm": state["gap"]}

    @stand.tool
    async def roll() -> dict[str, Any]:
        """Roll the next sheet of the order; returns it as it leaves the stand."""
        index = state["next"]
        if state["order"] is None or index >= state["parts"]:
            raise InvalidParams("no open order, or the order is complete")
        sheet = roll_sheet(settings.seed, index, state["gap"], plan.onset)
        truth.append({"index": index, **sheet})
        state["next"] = index + 1
        return {
            "order": state["order"],
            "index": index,
            "serial": f"{state['order']}-{index + 1:04d}",
            "time": part_time(index),
            "gap_mm": state["gap"],
            "sheet": sheet,
        }

    @stand.tool(safety="actuates")
    async def trim_gap(delta_mm: float, part: int, reason: str, ctx: ToolContext) -> dict[str, Any]:
        """Trim the roll gap by at most 0.020 mm because of what part ``part`` showed; a
        larger change needs ``set_gap``."""
        if abs(delta_mm) > TRIM_BAND_MM + 1e-9:
            raise ApprovalRequired(
                f"a change of {delta_mm:+.3f} mm is beyond the trim band of "
                f"{TRIM_BAND_MM} mm: use set_gap, which needs approval",
                data={"band_mm": TRIM_BAND_MM, "delta_mm": delta_mm},
            )
        return await apply(state["gap"] + delta_mm, "trim_gap", part, reason, ctx)

    @stand.tool(safety="actuates", requires_approval=True, approvers=[f"role:{ENGINEER_ROLE}"])
    async def set_gap(gap_mm: float, part: int, reason: str, ctx: ToolContext) -> dict[str, Any]:
        """Set the roll gap because of what part ``part`` showed (runs only once a quality
        engineer approved it)."""
        low, high = GAP_RANGE_MM
        if not low <= gap_mm <= high:
            raise InvalidParams(f"a roll gap of {gap_mm} mm is outside {low}-{high} mm")
        return await apply(gap_mm, "set_gap", part, reason, ctx)

    @stand.tool
    async def set_point_changes() -> list[dict[str, Any]]:
        """Every roll-gap change applied, with who asked and who approved."""
        return changes

    @stand.tool
    async def ground_truth() -> list[dict[str, Any]]:
        """Simulation only: each sheet's true thickness, surface and drift, what a lab
        re-inspection would find."""
        return [{**t, "drift_mm": round(drift_offset(t["index"], plan.onset), 4)} for t in truth]

    return stand


# -- perception: the strip camera and gauge --------------------------------------------------


def _camera(settings: Settings) -> Agent:
    camera = Agent(
        "cam-1",
        role="perception",
        name="Strip surface camera and thickness gauge",
        capabilities=["vision.surface-inspection", "gauging.thickness"],
        assets=["stand-1"],
    )
    camera.emits("quality.inspection", description="One sheet's surface class and thickness.")

    @camera.tool
    async def inspect(part: dict[str, Any]) -> dict[str, Any]:
        """Image a sheet's surface, classify it and gauge its thickness."""
        index = int(part["index"])
        sheet = part["sheet"]
        features = image_features(settings.seed, index, sheet["surface"], sheet["severity"])
        surface, confidence = classify(features)
        thickness = measure_thickness(settings.seed, index, sheet["thickness_mm"])
        in_spec = LSL_MM <= thickness <= USL_MM
        reading = Measurement(
            value=thickness,
            unit="MMT",
            quality="good",
            source_ts=part["time"],
            asset_id=part["serial"],
            semantic_id="thickness",
        )
        result = {
            "index": index,
            "serial": part["serial"],
            "surface": surface,
            "confidence": confidence,
            "features": features,
            "thickness": reading.to_wire(),
            "verdict": "pass" if surface == "ok" and in_spec else "reject",
        }
        await camera.publish("quality.inspection", result)
        return result

    return camera


# -- evaluation: SPC --------------------------------------------------------------------------


def _spc(plan: Plan) -> Agent:
    spc = Agent(
        "spc",
        role="evaluation",
        name="SPC and quality KPIs",
        capabilities=["quality.spc", "quality.kpi"],
    )
    chart = Chart(plan.phase_one)
    seen: dict[str, Any] = {"camera": None, "stand": None, "inspections": 0, "changes": 0}
    inspections: list[dict[str, Any]] = []
    adjustments: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []

    async def sources() -> tuple[str, str]:
        if seen["camera"] is None:
            (camera,) = await spc.discover(capability="vision.surface-inspection")
            (stand,) = await spc.discover(capability="process.set-point")
            seen.update(camera=camera.id, stand=stand.id)
        return seen["camera"], seen["stand"]

    @spc.tool
    async def chart_point(index: int) -> dict[str, Any]:
        """Chart the inspection of part ``index`` (following the camera's event log) and
        return the chart's verdict on it."""
        camera, stand = await sources()
        with anyio.fail_after(CALL_TIMEOUT):
            async with aclosing(
                spc.peer(camera).events(
                    ["quality.inspection"], after_seq=seen["inspections"], wait=5.0
                )
            ) as stream:
                async for event in stream:
                    seen["inspections"] = event["seq"]
                    inspections.append(event["data"])
                    if event["data"]["index"] >= index:
                        break
        page = await spc.peer(stand).request(
            "events/subscribe",
            {"topics": ["line.set-point"], "after_seq": seen["changes"], "wait_ms": 0},
        )
        seen["changes"] = page["last_seq"]
        adjustments.extend(e["data"] for e in page["events"])
        if any(a["effective_from"] == index for a in adjustments):
            chart.adjusted()  # the process changed: run rules start afresh
        value = inspections[index]["thickness"]["value"]
        rules = chart.add(value)
        points, shift = chart.shift()
        point = {
            "index": index,
            "value": value,
            "rules": rules,
            "shift_points": points,
            "shift_mm": round(shift, 5),
            "limits": chart.limits() if chart.ready else None,
        }
        if rules:
            alarms.append({"index": index, "rules": rules})
        return point

    @spc.tool
    async def report() -> dict[str, Any]:
        """Yield, escapes, false rejects and Cpk per phase, against the lab's ground truth."""
        _, stand = await sources()
        truth = await spc.peer(stand).call("ground_truth", timeout=CALL_TIMEOUT)
        changes = await spc.peer(stand).call("set_point_changes", timeout=CALL_TIMEOUT)
        return evaluate(plan.phase_one, chart, inspections, truth, changes, alarms)

    return spc


# -- the quality engineer -----------------------------------------------------------------------


def _engineer() -> Agent:
    engineer = Agent(
        "qe-1",
        role=ENGINEER_ROLE,
        name="Quality engineer",
        description="Reviews set-point changes beyond the trim band (supervisor approval).",
        capabilities=["quality.approval"],
    )
    decisions: list[dict[str, Any]] = []

    @engineer.tool
    async def review(agent_id: str, task_id: str, evidence: dict[str, Any]) -> dict[str, Any]:
        """Review a set-point change waiting for approval; approve it or reject it."""
        handle = await engineer.peer(agent_id).task(task_id)
        delta = float(evidence["delta_mm"])
        shift = float(evidence["shift_mm"])
        if handle.task.tool != "set_gap" or handle.task.state != "input-required":
            verdict, reason = "reject", "not a set-point change waiting for approval"
        elif int(evidence["shift_points"]) < MIN_POINTS or not evidence["rules"]:
            verdict, reason = "reject", "the chart shows no confirmed shift"
        elif abs(delta) > MAX_STEP_MM or delta * shift > 0:
            verdict, reason = "reject", f"{delta:+.3f} mm does not undo a {shift:+.3f} mm shift"
        else:
            verdict = "approve"
            reason = f"shift of {shift:+.3f} mm over {evidence['shift_points']} parts"
        if verdict == "approve":
            await engineer.peer(agent_id).approve(task_id, reason=reason)
        else:
            await engineer.peer(agent_id).reject(task_id, reason=reason)
        decision = {
            "task_id": task_id,
            "index": evidence["index"],
            "delta_mm": delta,
            "decision": verdict,
            "reason": reason,
        }
        decisions.append(decision)
        return decision

    @engineer.tool
    async def reviews() -> list[dict[str, Any]]:
        """Every review made, in order."""
        return decisions

    return engineer


# -- build and drive ----------------------------------------------------------------------------


def build(settings: Settings) -> dict[str, list[Agent]]:
    """The agents of every group; the same for the same settings in every process."""
    plan = Plan.of(settings)
    mes = Agent(
        "mes",
        role="demand",
        name="MES",
        description="Releases production orders.",
        capabilities=["production.orders"],
    )
    controller = Agent(
        "controller",
        role="decision",
        name="Run-to-run controller",
        description="Turns SPC alarms into roll-gap corrections.",
        capabilities=["process.control.run-to-run"],
    )
    return {
        DRIVER: [mes, controller],
        "line": [_stand(settings, plan)],
        "vision": [_camera(settings)],
        "kpi": [_spc(plan)],
        "engineering": [_engineer()],
    }


@dataclass
class _Pending:
    """A set-point change waiting for the quality engineer."""

    handle: TaskHandle
    review_at: int
    evidence: dict[str, Any]


async def drive(agents: Mapping[str, Agent], settings: Settings, progress: Progress) -> Outcome:
    """Release the order, roll and inspect every sheet, and correct the drift."""
    plan = Plan.of(settings)
    mes, controller = agents["mes"], agents["controller"]
    (stand,) = [c.id for c in await controller.discover(capability="process.set-point")]
    (camera,) = [c.id for c in await controller.discover(capability="vision.surface-inspection")]
    (spc,) = [c.id for c in await controller.discover(capability="quality.spc")]
    (engineer,) = [c.id for c in await controller.discover(role=ENGINEER_ROLE)]
    order = f"PO-{settings.seed:04d}"
    await mes.peer(stand).call("release", order=order, parts=plan.parts, timeout=CALL_TIMEOUT)
    progress.start(plan.parts, f"rolling and inspecting {plan.parts} sheets")
    proposals: list[dict[str, Any]] = []
    pending: _Pending | None = None
    gap = TARGET_MM

    async def settle(review: _Pending) -> None:
        decision = await controller.peer(engineer).call(
            "review",
            agent_id=stand,
            task_id=review.handle.id,
            evidence=review.evidence,
            timeout=CALL_TIMEOUT,
        )
        if decision["decision"] == "approve":
            await review.handle.result(timeout=CALL_TIMEOUT)
        else:
            with suppress(TaskRejected):
                await review.handle.result(timeout=CALL_TIMEOUT)

    for index in range(plan.parts):
        if pending is not None and pending.review_at == index:
            await settle(pending)
            pending = None
        part = await mes.peer(stand).call("roll", timeout=CALL_TIMEOUT)
        gap = part["gap_mm"]
        await mes.peer(camera).call("inspect", part=part, timeout=CALL_TIMEOUT)
        point = await controller.peer(spc).call("chart_point", index=index, timeout=CALL_TIMEOUT)
        delta = _correction(point)
        if delta is not None and pending is None:
            evidence = {**point, "delta_mm": delta, "gap_mm": gap}
            reason = f"Western Electric rules {point['rules']}"
            if abs(delta) <= TRIM_BAND_MM:
                await controller.peer(stand).call(
                    "trim_gap", delta_mm=delta, part=index, reason=reason, timeout=CALL_TIMEOUT
                )
                proposals.append({**_brief(evidence), "path": "trim"})
            else:
                handle = await controller.peer(stand).start_task(
                    "set_gap",
                    gap_mm=round(gap + delta, 4),
                    part=index,
                    reason=reason,
                    timeout=CALL_TIMEOUT,
                )
                pending = _Pending(handle, index + 1 + REVIEW_PARTS, evidence)
                proposals.append({**_brief(evidence), "path": "approval"})
        progress.advance(1, f"part {index + 1}: {point['rules'] or 'in control'}")
    if pending is not None:
        await settle(pending)
    report = await controller.peer(spc).call("report", timeout=CALL_TIMEOUT)
    changes = await controller.peer(stand).call("set_point_changes", timeout=CALL_TIMEOUT)
    reviews = await controller.peer(engineer).call("reviews", timeout=CALL_TIMEOUT)
    return _outcome(settings, plan, order, report, changes, reviews, proposals)


def _correction(point: Mapping[str, Any]) -> float | None:
    """The roll-gap change the controller proposes for a charted point, if any."""
    if not point["rules"] or point["shift_points"] < MIN_POINTS:
        return None
    shift = float(point["shift_mm"])
    if abs(shift) < DEADBAND_MM:
        return None
    return round(-shift, 3)


def _brief(evidence: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("index", "rules", "shift_points", "shift_mm", "delta_mm", "gap_mm")
    return {k: evidence[k] for k in keys}


def _outcome(
    settings: Settings,
    plan: Plan,
    order: str,
    report: dict[str, Any],
    changes: list[dict[str, Any]],
    reviews: list[dict[str, Any]],
    proposals: list[dict[str, Any]],
) -> Outcome:
    phases = report["phases"]
    drift = report["drift"]
    rows: list[tuple[str, ...]] = [
        (
            name,
            f"{p['from']}-{p['to']}" if p["parts"] else "-",
            str(p["parts"]),
            "-" if p["yield"] is None else f"{p['yield']:.1%}",
            "-" if p["cpk"] is None else f"{p['cpk']:.2f}",
            "-" if p["mean_mm"] is None else f"{p['mean_mm']:.4f}",
        )
        for name, p in phases.items()
    ]
    approved = [c for c in changes if c["tool"] == "set_gap"]
    delay = drift["detection_delay"]
    trims = len(changes) - len(approved)
    headline = (
        f"drift from part {drift['onset']} detected "
        f"{'never' if delay is None else f'after {delay} parts'}; yield "
        f"{_pct(phases['before']['yield'])} before, {_pct(phases['drifting']['yield'])} "
        f"drifting, {_pct(phases['after']['yield'])} after the approved correction "
        f"({len(approved)} approved change{'s' * (len(approved) != 1)}, "
        f"{trims} trim{'s' * (trims != 1)}); Cpk {_num(phases['before']['cpk'])} -> "
        f"{_num(phases['drifting']['cpk'])} -> {_num(phases['after']['cpk'])}"
    )
    data = {
        "seed": settings.seed,
        "order": {"id": order, "parts": plan.parts},
        "spec": {"target_mm": TARGET_MM, "lsl_mm": LSL_MM, "usl_mm": USL_MM},
        "trim_band_mm": TRIM_BAND_MM,
        **report,
        "proposals": proposals,
        "corrections": [
            {
                **c,
                "approval_required": c["tool"] == "set_gap",
                "approved": bool(c["approved_by"]),
            }
            for c in changes
        ],
        "reviews": [{k: v for k, v in r.items() if k != "task_id"} for r in reviews],
    }
    svg = control_chart_svg(
        report["control_limits"], report["chart_values"], changes, drift["onset"]
    )
    return Outcome(
        name="quality",
        seed=settings.seed,
        headline=headline,
        columns=("phase", "part range", "parts", "yield", "Cpk", "mean thickness mm"),
        rows=rows,
        data={k: v for k, v in data.items() if k != "chart_values"},
        artifacts={"control-chart.svg": svg},
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


EXAMPLE = Example(
    name="quality",
    title="Visual quality inspection closed loop",
    build=build,
    drive=drive,
)
