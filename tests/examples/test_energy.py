"""The energy example: loads shifted out of peak prices cost less, keep their due times
and never raise the site's peak."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest

from agentlink.examples import Outcome, Settings, run_in_process
from agentlink.examples._energy_model import (
    INTERVALS,
    NOW,
    base_kw,
    flexible_loads,
    meter_readings,
)
from agentlink.examples.energy import EXAMPLE, build
from agentlink.model import Measurement, ToolExecutionError
from agentlink.runtime import Agent, Runtime

SVG = "{http://www.w3.org/2000/svg}"


def run(settings: Settings) -> Outcome:
    return anyio.run(run_in_process, EXAMPLE, settings)


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "full"])
def outcome(request: pytest.FixtureRequest) -> Outcome:
    return run(Settings(seed=7, fast=request.param))


def loads(outcome: Outcome) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = outcome.data["loads"]
    return found


def test_cost_is_below_the_unshifted_plan(outcome: Outcome) -> None:
    assert outcome.data["shifted"]["cost_eur"] < outcome.data["baseline"]["cost_eur"]
    assert outcome.data["savings"]["cost_eur"] > 0
    # Shifting moves energy in time; it neither adds nor removes any.
    assert outcome.data["shifted"]["energy_kwh"] == outcome.data["baseline"]["energy_kwh"]


def test_peak_is_not_above_the_plan_nor_the_site_limit_unless_the_plan_was(
    outcome: Outcome,
) -> None:
    shifted, baseline = outcome.data["shifted"]["peak_kw"], outcome.data["baseline"]["peak_kw"]
    assert shifted <= baseline
    assert shifted <= max(outcome.data["site_limit_kw"], baseline)
    assert max(outcome.data["profile_kw"]["shifted"]) == shifted


def test_no_load_starts_too_early_or_ends_after_its_due_time(outcome: Outcome) -> None:
    assert outcome.data["late"] == []
    for load in loads(outcome):
        assert load["start"] >= max(NOW, load["earliest"])
        assert load["end"] <= load["due"] <= INTERVALS


def test_every_load_is_scheduled_once_with_its_duration(outcome: Outcome) -> None:
    planned = {x.id: x for x in flexible_loads(7, fast=outcome.data["fast"])}
    held = loads(outcome)
    assert sorted(x["id"] for x in held) == sorted(planned)
    for load in held:
        assert load["duration"] == planned[load["id"]].duration
        assert load["end"] - load["start"] == load["duration"]
        assert load["baseline_start"] == planned[load["id"]].start
    for asset in {x["asset"] for x in held}:
        spans = sorted((x["start"], x["end"]) for x in held if x["asset"] == asset)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), asset


def test_the_profile_adds_up_to_base_load_and_shifted_loads(outcome: Outcome) -> None:
    readings = meter_readings(7)
    base = base_kw([r.usage_kwh for r in readings], [r.quality for r in readings])
    expected = list(base)
    for load in loads(outcome):
        for i in range(load["start"], load["end"]):
            expected[i] += load["power_kw"]
    assert outcome.data["profile_kw"]["shifted"] == [round(k, 2) for k in expected]
    # The bad reading (a 9999 kWh spike) was replaced, not planned with.
    assert max(base) < 1000
    assert outcome.data["meter_quality"] == {"good": 93, "uncertain": 2, "bad": 1}


def test_same_seed_same_result() -> None:
    first, second = run(Settings(seed=11, fast=True)), run(Settings(seed=11, fast=True))
    assert first.data == second.data
    assert first.artifacts == second.artifacts
    assert first.headline == second.headline


def test_profile_chart_is_svg_with_both_series(outcome: Outcome) -> None:
    root = ET.fromstring(outcome.artifacts["profile.svg"])
    assert root.tag == f"{SVG}svg"
    series = [p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]
    assert len(series) == 2


@pytest.mark.anyio
async def test_meter_readings_are_measurements_with_units_and_quality() -> None:
    agents = build(Settings(fast=True))
    (meter, grid) = agents["meters"]
    probe = Agent("probe", role="evaluation")
    async with Runtime(agents=[meter, grid, probe]):
        records = await probe.peer("meter-main").call("base_load")
        assert len(records) == INTERVALS
        usage = [Measurement.model_validate(r["usage"]) for r in records]
        reactive = [Measurement.model_validate(r["lagging_reactive"]) for r in records]
        assert {m.unit for m in usage} == {"KWH"}
        assert {m.unit for m in reactive} == {"K3"}
        assert [m.quality for m in usage].count("bad") == 1
        assert {r["load_type"] for r in records} == {"Light_Load", "Medium_Load", "Maximum_Load"}
        prices = await probe.peer("grid-feed").call("tariff")
        assert {t["band"] for t in prices} == {"off-peak", "mid", "peak"}


@pytest.mark.anyio
async def test_an_asset_refuses_a_slot_in_the_past_after_due_or_overlapping() -> None:
    agents = build(Settings(fast=True))
    furnace = next(a for a in agents["assets"] if a.id == "furnace-1")
    compressor = next(a for a in agents["assets"] if a.id == "compressor-1")
    probe = Agent("probe", role="decision")
    plan = flexible_loads(7, fast=True)
    async with Runtime(agents=[furnace, compressor, probe]):
        for load in plan:
            if load.asset in ("furnace-1", "compressor-1"):
                await probe.peer(load.asset).call("book", load=load.model_dump())
        (batch,) = [x for x in plan if x.asset == "furnace-1"]
        first, second = [x for x in plan if x.asset == "compressor-1"]
        cases = [
            ("furnace-1", [{"load": batch.id, "start": NOW - 1}], "in the past"),
            ("furnace-1", [{"load": batch.id, "start": batch.due - batch.duration + 1}], "due"),
            ("compressor-1", [{"load": second.id, "start": first.start}], "overlap"),
            ("furnace-1", [{"load": "L99", "start": NOW}], "no load"),
        ]
        for asset, moves, reason in cases:
            with pytest.raises(ToolExecutionError, match=reason):
                await probe.peer(asset).call("reschedule", moves=moves)
        # Nothing was half-applied: both still hold their plan.
        held = await probe.peer("compressor-1").call("schedule")
        assert [(x["id"], x["start"]) for x in held] == [
            (first.id, first.start),
            (second.id, second.start),
        ]
        moved = await probe.peer("furnace-1").call(
            "reschedule", moves=[{"load": batch.id, "start": max(NOW, batch.earliest)}]
        )
        assert moved[0]["start"] == max(NOW, batch.earliest)
