"""Energy: time-of-use load shifting on a steel plant's day, against the unshifted plan.

Every role takes part:

- perception ``meter-main`` serves the site's 15-minute base-load readings as
  :class:`~agentlink.model.Measurement` values (``KWH``, reactive ``K3``) with their
  quality, one of them ``bad``; ``grid-feed`` serves the time-of-use tariff and the grid's
  CO2 intensity per interval;
- demand ``mes`` carries the production orders and their flexible loads (furnace batches,
  compressor runs, AGV charging), each with an earliest start and a due time, and books
  the day's plan on the assets;
- execution ``furnace-1``, ``furnace-2``, ``compressor-1`` and ``agv-charger`` hold their
  loads; ``reschedule`` refuses a slot in the past, before a load's earliest start, after
  its due time, or overlapping another of the asset's loads, and each move is published
  as an ``energy.load-moved`` event;
- decision ``energy-planner`` moves the loads out of peak prices under their due times
  and the site's peak limit (it never raises the planned peak), replacing the bad reading
  by its neighbours rather than planning with it;
- evaluation ``energy-kpi`` compares cost, peak and CO2 of the day with the unshifted plan.

Run it with ``agentlink demo energy``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentlink.model import Measurement, ToolExecutionError
from agentlink.runtime import Agent, ToolContext

from ._energy_model import (
    CARBON_PRICE,
    DAY,
    NOW,
    PRICES,
    SITE_LIMIT_KW,
    FlexLoad,
    TariffInterval,
    base_kw,
    clock,
    flexible_loads,
    meter_readings,
    shift_loads,
    tariff,
    totals,
)
from ._scenario import DRIVER, Example, ExampleFailed, Outcome, Progress, Settings
from ._svg import Band, profile

__all__ = ["EXAMPLE", "Move"]

ASSET_CAPABILITY = "energy.flexible-load"
BAND_COLOURS = {"peak": "#f4b6b6", "mid": "#fde9b0"}


class Move(BaseModel):
    """Start load ``load`` at interval ``start`` instead."""

    load: str
    start: int


def _timestamp(interval: int) -> str:
    return f"{DAY}T{clock(interval)}:00Z"


# -- perception ------------------------------------------------------------------------------


def _meter(settings: Settings) -> Agent:
    meter = Agent(
        "meter-main",
        role="perception",
        capabilities=["energy.metering"],
        assets=["site-main-incomer"],
        description="The site's main meter: 15-minute base-load energy, UCI steel style.",
    )
    readings = meter_readings(settings.seed)

    @meter.tool
    async def base_load() -> list[dict[str, Any]]:
        """The day's 15-minute base-load readings (usage, lagging reactive energy)."""
        out = []
        for r in readings:
            at = _timestamp(r.interval)
            quality: Any = r.quality
            out.append(
                {
                    "interval": r.interval,
                    "load_type": r.load_type,
                    "usage": Measurement(
                        value=r.usage_kwh,
                        unit="KWH",
                        quality=quality,
                        source_ts=at,
                        asset_id="site-main-incomer",
                        semantic_id="Usage_kWh",
                    ).model_dump(mode="json", exclude_none=True),
                    "lagging_reactive": Measurement(
                        value=r.lagging_kvarh,
                        unit="K3",
                        quality=quality,
                        source_ts=at,
                        asset_id="site-main-incomer",
                        semantic_id="Lagging_Current_Reactive.Power_kVarh",
                    ).model_dump(mode="json", exclude_none=True),
                }
            )
        return out

    return meter


def _grid(settings: Settings) -> Agent:
    grid = Agent(
        "grid-feed",
        role="perception",
        capabilities=["energy.tariff", "energy.grid-carbon"],
        description="The supplier's time-of-use tariff and the grid's CO2 intensity.",
    )
    intervals = tariff(settings.seed)

    @grid.tool(name="tariff")
    async def day_tariff() -> list[TariffInterval]:
        """Price (EUR/kWh), band and grid CO2 intensity (kg/kWh) of every interval."""
        return intervals

    return grid


async def _base_kw(agent: Agent) -> tuple[list[float], dict[str, int]]:
    """The base load in kW per interval from the meter, a bad reading replaced."""
    (meter,) = await agent.discover(capability="energy.metering")
    records = await agent.peer(meter.id).call("base_load")
    usage = [Measurement.model_validate(r["usage"]) for r in records]
    qualities = [m.quality for m in usage]
    values = [m.value if isinstance(m.value, float | int) else 0.0 for m in usage]
    counts = {q: qualities.count(q) for q in ("good", "uncertain", "bad")}
    return base_kw(values, qualities), counts


async def _tariff(agent: Agent) -> list[TariffInterval]:
    (grid,) = await agent.discover(capability="energy.tariff")
    return [TariffInterval.model_validate(t) for t in await agent.peer(grid.id).call("tariff")]


async def _planned(agent: Agent) -> list[FlexLoad]:
    (mes,) = await agent.discover(role="demand")
    return [FlexLoad.model_validate(x) for x in await agent.peer(mes.id).call("loads")]


async def _scheduled(agent: Agent) -> dict[str, list[FlexLoad]]:
    """Each asset's loads as the asset holds them now."""
    cards = await agent.discover(capability=ASSET_CAPABILITY)
    return {
        card.id: [FlexLoad.model_validate(x) for x in await agent.peer(card.id).call("schedule")]
        for card in sorted(cards, key=lambda c: c.id)
    }


# -- execution -------------------------------------------------------------------------------


def _asset(asset_id: str, kind: str) -> Agent:
    asset = Agent(
        asset_id,
        role="execution",
        capabilities=[ASSET_CAPABILITY],
        assets=[asset_id],
        description=f"Runs {kind} loads, one at a time.",
    )
    asset.emits("energy.load-booked")
    asset.emits("energy.load-moved")
    loads: dict[str, FlexLoad] = {}

    def refuse(load: FlexLoad, start: int) -> str | None:
        if start < NOW:
            return f"{clock(start)} is in the past (now {clock(NOW)})"
        if start < load.earliest:
            return f"{clock(start)} is before its earliest start {clock(load.earliest)}"
        if start + load.duration > load.due:
            return f"it would end after its due time {clock(load.due)}"
        return None

    def overlaps(plan: list[FlexLoad]) -> str | None:
        plan = sorted(plan, key=lambda x: x.start)
        for a, b in itertools.pairwise(plan):
            if a.start + a.duration > b.start:
                return f"{a.id} and {b.id} would overlap"
        return None

    @asset.tool
    async def book(load: FlexLoad) -> FlexLoad:
        """Take a load into this asset's plan."""
        if load.asset != asset_id or load.id in loads:
            raise ToolExecutionError(f"{load.id} is not a new load of {asset_id}")
        problem = refuse(load, load.start) or overlaps([*loads.values(), load])
        if problem:
            raise ToolExecutionError(f"cannot book {load.id}: {problem}", data={"load": load.id})
        loads[load.id] = load
        await asset.publish("energy.load-booked", {"load": load.id, "start": load.start})
        return load

    @asset.tool
    async def schedule() -> list[FlexLoad]:
        """This asset's loads, by start."""
        return sorted(loads.values(), key=lambda x: (x.start, x.id))

    @asset.tool(idempotent=True)
    async def reschedule(moves: list[Move]) -> list[FlexLoad]:
        """Move loads to new starts, all or none; refuses slots in the past, before a
        load's earliest start, after its due time, or overlapping."""
        plan = dict(loads)
        for move in moves:
            load = plan.get(move.load)
            if load is None:
                raise ToolExecutionError(f"{asset_id} holds no load {move.load}")
            problem = refuse(load, move.start)
            if problem:
                raise ToolExecutionError(
                    f"cannot move {move.load}: {problem}", data={"load": move.load}
                )
            plan[move.load] = load.model_copy(update={"start": move.start})
        problem = overlaps(list(plan.values()))
        if problem:
            raise ToolExecutionError(f"cannot move: {problem}")
        for move in moves:
            before = loads[move.load].start
            loads[move.load] = plan[move.load]
            await asset.publish(
                "energy.load-moved", {"load": move.load, "from": before, "to": move.start}
            )
        return sorted(loads.values(), key=lambda x: (x.start, x.id))

    return asset


# -- decision and evaluation -----------------------------------------------------------------


def _planner() -> Agent:
    planner = Agent(
        "energy-planner",
        role="decision",
        capabilities=["energy.load-shifting"],
        description="Shifts flexible loads out of peak prices under due times and a peak limit.",
    )

    @planner.tool(task=True)
    async def shift(ctx: ToolContext) -> dict[str, Any]:
        """Plan the cheapest feasible start of every flexible load and move the loads."""
        base, quality = await _base_kw(planner)
        prices = await _tariff(planner)
        held = await _scheduled(planner)
        loads = [load for asset in held.values() for load in asset]
        starts = shift_loads(loads, base, prices)
        done = 0
        moves = []
        for asset, mine in held.items():
            changed = [Move(load=x.id, start=starts[x.id]) for x in mine if starts[x.id] != x.start]
            if changed:
                await planner.peer(asset).call(
                    "reschedule", moves=[m.model_dump() for m in changed]
                )
            for load in mine:
                done += 1
                moves.append({"load": load.id, "from": load.start, "to": starts[load.id]})
                note = f"{load.id} {clock(load.start)} -> {clock(starts[load.id])}"
                await ctx.progress(done / len(loads), note)
        return {"moves": moves, "meter_quality": quality}

    return planner


def _kpi() -> Agent:
    kpi = Agent(
        "energy-kpi",
        role="evaluation",
        capabilities=["energy.reporting"],
        description="Cost, peak and CO2 of the day against the unshifted plan.",
    )

    @kpi.tool
    async def report() -> dict[str, Any]:
        """The day with the loads as planned by the MES and as the assets hold them now."""
        base, quality = await _base_kw(kpi)
        prices = await _tariff(kpi)
        planned = await _planned(kpi)
        held = [load for asset in (await _scheduled(kpi)).values() for load in asset]
        ids = sorted(load.id for load in held)
        if ids != sorted(load.id for load in planned):
            raise ToolExecutionError("the assets do not hold exactly the planned loads")
        baseline = totals(base, planned, {x.id: x.start for x in planned}, prices)
        shifted = totals(base, held, {x.id: x.start for x in held}, prices)
        # The totals rest on estimated (and one replaced) readings: they are not "good".
        worst: Any = "uncertain" if quality["uncertain"] or quality["bad"] else "good"

        def figures(t: Any) -> dict[str, Any]:
            def measure(value: float, unit: str) -> dict[str, Any]:
                return Measurement(
                    value=value,
                    unit=unit,
                    quality=worst,
                    source_ts=_timestamp(0),
                    asset_id="site",
                ).model_dump(mode="json", exclude_none=True)

            return {
                "cost_eur": t.cost_eur,
                "peak": measure(t.peak_kw, "KWT"),
                "energy": measure(t.energy_kwh, "KWH"),
                "co2": measure(t.co2_kg, "KGM"),
                "kw": list(t.kw),
            }

        return {
            "baseline": figures(baseline),
            "shifted": figures(shifted),
            "loads": [x.model_dump() for x in sorted(held, key=lambda x: x.id)],
            "late": [x.id for x in held if x.start + x.duration > x.due],
            "meter_quality": quality,
        }

    return kpi


# -- the example -----------------------------------------------------------------------------


def build(settings: Settings) -> dict[str, list[Agent]]:
    """The agents: the MES drives; meters, assets and control are groups."""
    plan = flexible_loads(settings.seed, fast=settings.fast)
    mes = Agent(
        "mes",
        role="demand",
        capabilities=["orders.release", "energy.flexible-demand"],
        description="Production orders and their flexible loads, as planned for the day.",
    )

    @mes.tool(name="loads")
    async def planned_loads() -> list[FlexLoad]:
        """The flexible loads of today's orders, at their planned starts."""
        return plan

    kinds = {load.asset: load.kind for load in plan}
    return {
        DRIVER: [mes],
        "meters": [_meter(settings), _grid(settings)],
        "assets": [_asset(asset, kind) for asset, kind in sorted(kinds.items())],
        "control": [_planner(), _kpi()],
    }


async def drive(agents: Mapping[str, Agent], settings: Settings, progress: Progress) -> Outcome:
    """Book the planned loads, let the planner shift them, compare with the plan."""
    mes = agents["mes"]
    plan = flexible_loads(settings.seed, fast=settings.fast)
    (planner,) = await mes.discover(role="decision")
    (kpi,) = await mes.discover(role="evaluation")
    progress.start(len(plan), "booking the planned loads")
    for load in plan:
        await mes.peer(load.asset).call("book", load=load.model_dump())
        progress.advance(note=f"{load.id} on {load.asset} at {clock(load.start)}")

    progress.start(len(plan), "shifting loads out of peak prices")
    handle = await mes.peer(planner.id).start_task("shift")
    shown = 0
    async for event in handle.events():
        if event.progress is not None and event.progress.fraction is not None:
            done = round(event.progress.fraction * len(plan))
            progress.advance(done - shown, event.progress.message)
            shown = done
    await handle.result()

    progress.start(1, "evaluating against the plan")
    report = await mes.peer(kpi.id).call("report")
    progress.advance()
    if report["late"]:
        raise ExampleFailed(f"loads would end after their due time: {report['late']}")
    return _outcome(settings, plan, report)


def _outcome(settings: Settings, plan: list[FlexLoad], report: dict[str, Any]) -> Outcome:
    before, after = report["baseline"], report["shifted"]
    planned = {x.id: x for x in plan}
    loads = []
    for held in report["loads"]:
        load = planned[held["id"]]
        loads.append(
            {
                "id": load.id,
                "order": load.order,
                "asset": load.asset,
                "kind": load.kind,
                "power_kw": load.power_kw,
                "duration": held["duration"],
                "earliest": load.earliest,
                "due": load.due,
                "baseline_start": load.start,
                "start": held["start"],
                "end": held["start"] + held["duration"],
            }
        )

    def change(key: str) -> tuple[float, float]:
        old = before[key]["value"] if isinstance(before[key], dict) else before[key]
        new = after[key]["value"] if isinstance(after[key], dict) else after[key]
        return round(old - new, 2), round(100 * (old - new) / old, 1)

    cost, co2, peak = change("cost_eur"), change("co2"), change("peak")
    moved = sum(x["start"] != x["baseline_start"] for x in loads)
    headline = (
        f"energy cost EUR {before['cost_eur']:,.0f} -> {after['cost_eur']:,.0f} "
        f"({-cost[1]:+.1f} %), peak {before['peak']['value']:,.0f} -> "
        f"{after['peak']['value']:,.0f} kW, CO2 {before['co2']['value']:,.0f} -> "
        f"{after['co2']['value']:,.0f} kg ({-co2[1]:+.1f} %); {moved} of {len(loads)} "
        "flexible loads moved, every due time kept"
    )
    rows: list[tuple[str, ...]] = [
        (
            x["id"],
            x["order"],
            x["asset"],
            f"{x['power_kw']:.0f}",
            str(x["duration"] * 15),
            f"{clock(x['earliest'])}-{clock(x['due'])}",
            clock(x["baseline_start"]),
            clock(x["start"]),
        )
        for x in loads
    ]
    prices = tariff(settings.seed)
    bands = []
    for i, t in enumerate(prices):
        if t.band in BAND_COLOURS and (i == 0 or prices[i - 1].band != t.band):
            end = next((j for j in range(i, len(prices)) if prices[j].band != t.band), len(prices))
            bands.append(
                Band(i, end, f"{t.band} {t.price_eur_per_kwh} EUR/kWh", BAND_COLOURS[t.band])
            )
    chart = profile(
        [("planned", before["kw"]), ("shifted", after["kw"])],
        bands=bands,
        limit=SITE_LIMIT_KW,
        title=f"Site load on {DAY}: cost -{cost[1]:.1f} %, peak -{peak[0]:,.0f} kW",
        labels=[clock(i) for i in range(len(prices))],
    )

    def summary(figures: dict[str, Any]) -> dict[str, float]:
        return {
            "cost_eur": figures["cost_eur"],
            "peak_kw": figures["peak"]["value"],
            "energy_kwh": figures["energy"]["value"],
            "co2_kg": figures["co2"]["value"],
        }

    data = {
        "example": "energy",
        "seed": settings.seed,
        "fast": settings.fast,
        "day": DAY,
        "interval_minutes": 15,
        "now": NOW,
        "prices_eur_per_kwh": PRICES,
        "carbon_price_eur_per_kg": CARBON_PRICE,
        "site_limit_kw": SITE_LIMIT_KW,
        "meter_quality": report["meter_quality"],
        "loads": loads,
        "baseline": summary(before),
        "shifted": summary(after),
        "savings": {
            "cost_eur": cost[0],
            "cost_percent": cost[1],
            "peak_kw": peak[0],
            "co2_kg": co2[0],
            "co2_percent": co2[1],
        },
        "late": report["late"],
        "profile_kw": {"baseline": before["kw"], "shifted": after["kw"]},
    }
    return Outcome(
        name="energy",
        seed=settings.seed,
        headline=headline,
        columns=("load", "order", "asset", "kW", "min", "window", "planned", "shifted to"),
        rows=rows,
        data=data,
        artifacts={"profile.svg": chart},
    )


#: Time-of-use load shifting on a steel plant's day.
EXAMPLE = Example(
    name="energy",
    title="Energy: time-of-use load shifting",
    build=build,
    drive=drive,
)
