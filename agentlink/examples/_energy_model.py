"""The energy example's plant and planner without I/O: meters, tariff, loads, load shifting.

One working day of a steel plant in 15-minute intervals (96), generated from a seed in the
style of the UCI steel industry energy data set (DAEWOO Steel): ``Usage_kWh`` of the
inflexible base load, lagging reactive energy, load type Light / Medium / Maximum by time of
day, and a few readings of doubtful or bad quality, as real meters deliver them.

A time-of-use tariff prices each interval (off-peak, mid, peak) and the grid publishes its
CO2 intensity per interval (a midday solar dip, an evening peak). Flexible loads (furnace
batches, compressor runs, AGV charging) have a power, a duration, an earliest start and a
due time; the MES plans them from the morning shift on, most of them in peak hours.

:func:`shift_loads` moves them, one at a time, biggest energy first, to the slot of least
energy cost plus carbon cost that keeps the site under its peak limit, ends by the due time
and leaves each asset running one load at a time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

__all__ = [
    "DAY",
    "INTERVALS",
    "NOW",
    "FlexLoad",
    "Reading",
    "TariffInterval",
    "Totals",
    "base_kw",
    "clock",
    "flexible_loads",
    "meter_readings",
    "shift_loads",
    "tariff",
    "totals",
]

#: The planned day, and its 15-minute intervals.
DAY = "2026-03-02"
INTERVALS = 96
#: The interval the plan is made in (04:00): nothing may start before it.
NOW = 16
#: Hours of the tariff bands (Korean industrial time-of-use style); the rest is off-peak.
PEAK_HOURS = frozenset({11, 13, 14, 15, 16, 17})
MID_HOURS = frozenset({8, 9, 10, 12, 18, 19, 20, 21})
PRICES = {"off-peak": 0.085, "mid": 0.142, "peak": 0.231}  # EUR per kWh
#: What a kilogram of CO2 costs the planner (EUR), so that cheap dirty hours are not free.
CARBON_PRICE = 0.09
#: The site's contracted peak (kW); the planner also never exceeds today's planned peak.
SITE_LIMIT_KW = 1400.0
#: Load type by hour on a weekday, as in the UCI data: Light at night, Maximum in the shifts.
MAXIMUM_HOURS = frozenset({9, 10, 11, 13, 14, 15, 16})
MEDIUM_HOURS = frozenset({8, 12, 17, 18, 19, 20})
USAGE = {"Light_Load": (22.0, 3.0), "Medium_Load": (58.0, 7.0), "Maximum_Load": (92.0, 9.0)}

#: The flexible assets: (id, what runs on it, kW, intervals per run, runs, runs when fast).
ASSETS = (
    ("furnace-1", "heat-treatment batch", 520.0, 6, 3, 1),
    ("furnace-2", "annealing batch", 380.0, 8, 2, 1),
    ("compressor-1", "compressed-air run", 160.0, 4, 4, 2),
    ("agv-charger", "AGV fleet charging", 90.0, 3, 4, 2),
)


class TariffInterval(BaseModel):
    """Price and grid CO2 intensity of one interval."""

    interval: int
    band: str
    price_eur_per_kwh: float
    co2_kg_per_kwh: float


class Reading(BaseModel):
    """One 15-minute meter record, UCI style (the agents wrap values in Measurements)."""

    interval: int
    usage_kwh: float
    lagging_kvarh: float
    load_type: str
    quality: str


class FlexLoad(BaseModel):
    """A flexible load of a production order; times are interval numbers (0-95).

    ``start`` is where it is planned now; ``due`` is the interval by whose start it must
    have ended (96: by midnight).
    """

    id: str
    order: str
    asset: str
    kind: str
    power_kw: float
    duration: int
    earliest: int
    due: int
    start: int

    @property
    def energy_kwh(self) -> float:
        return self.power_kw * self.duration / 4


def clock(interval: int) -> str:
    """``HH:MM`` of an interval's start."""
    hours, quarter = divmod(interval, 4)
    return f"{hours:02d}:{quarter * 15:02d}"


def tariff(seed: int) -> list[TariffInterval]:
    """The day's tariff and grid CO2 intensity (kg/kWh), with a little seeded noise."""
    rng = random.Random(seed * 7919 + 1)
    out = []
    for i in range(INTERVALS):
        hour = i // 4
        band = "peak" if hour in PEAK_HOURS else "mid" if hour in MID_HOURS else "off-peak"
        h = i / 4 + 0.125
        # Gas and coal units follow the day's demand; solar cuts in around noon.
        demand = 1 / (1 + math.exp(-(h - 8) * 1.5)) - 1 / (1 + math.exp(-(h - 22) * 1.5))
        solar = max(0.0, math.cos((h - 12.5) / 6 * math.pi / 2)) if 6.5 < h < 18.5 else 0.0
        evening = math.exp(-(((h - 19.5) / 1.5) ** 2))
        co2 = 0.38 + 0.12 * demand - 0.08 * solar + 0.05 * evening + rng.gauss(0, 0.006)
        out.append(
            TariffInterval(
                interval=i, band=band, price_eur_per_kwh=PRICES[band], co2_kg_per_kwh=round(co2, 3)
            )
        )
    return out


def _load_type(hour: int) -> str:
    if hour in MAXIMUM_HOURS:
        return "Maximum_Load"
    return "Medium_Load" if hour in MEDIUM_HOURS else "Light_Load"


def meter_readings(seed: int) -> list[Reading]:
    """The main meter's base load over the day (the inflexible part of the plant).

    Two readings are ``uncertain`` (estimated across a gap) and one is ``bad`` (a spike
    from a meter fault): it must be replaced, never used as measured.
    """
    rng = random.Random(seed * 7919 + 2)
    doubtful = set(rng.sample(range(NOW, INTERVALS), 3))
    bad = min(doubtful)
    readings = []
    for i in range(INTERVALS):
        load_type = _load_type(i // 4)
        mean, sd = USAGE[load_type]
        usage = max(0.0, rng.gauss(mean, sd))
        quality = "good"
        if i == bad:
            usage, quality = 9999.0, "bad"
        elif i in doubtful:
            quality = "uncertain"
        readings.append(
            Reading(
                interval=i,
                usage_kwh=round(usage, 2),
                lagging_kvarh=round(usage * rng.uniform(0.35, 0.75), 2),
                load_type=load_type,
                quality=quality,
            )
        )
    return readings


def base_kw(usage_kwh: Sequence[float], quality: Sequence[str]) -> list[float]:
    """Average kW per interval; a bad reading is replaced by its good neighbours' mean."""
    kw = [u * 4 for u in usage_kwh]
    for i, q in enumerate(quality):
        if q == "bad":
            near = [kw[j] for j in (i - 1, i + 1) if 0 <= j < len(kw) and quality[j] != "bad"]
            kw[i] = sum(near) / len(near) if near else 0.0
    return [round(k, 2) for k in kw]


def flexible_loads(seed: int, *, fast: bool) -> list[FlexLoad]:
    """The day's flexible loads as the MES planned them: back to back on each asset from
    the morning shift, each with an earliest start and a due time around that plan."""
    rng = random.Random(seed * 7919 + 3)
    loads = []
    number = 0
    for asset, kind, power, duration, runs, fast_runs in ASSETS:
        at = 34 + rng.randint(0, 10)  # after the morning changeover, 08:30 to 11:00
        for _ in range(fast_runs if fast else runs):
            length = max(2, duration + rng.randint(-1, 1))
            number += 1
            earliest = max(NOW, at - rng.randint(8, 36))
            due = min(INTERVALS, at + length + rng.randint(8, 48))
            loads.append(
                FlexLoad(
                    id=f"L{number:02d}",
                    order=f"PO-{2000 + (number + 1) // 2}",
                    asset=asset,
                    kind=kind,
                    power_kw=power,
                    duration=length,
                    earliest=earliest,
                    due=due,
                    start=at,
                )
            )
            at += length + rng.randint(0, 4)
    return loads


@dataclass(frozen=True, slots=True)
class Totals:
    """What a plan costs over the day, base load included."""

    cost_eur: float
    peak_kw: float
    energy_kwh: float
    co2_kg: float
    kw: tuple[float, ...]


def site_kw(
    base: Sequence[float], loads: Sequence[FlexLoad], starts: Mapping[str, int]
) -> list[float]:
    """The site's kW per interval with every load at ``starts[load.id]``."""
    kw = list(base)
    for load in loads:
        for i in range(starts[load.id], starts[load.id] + load.duration):
            kw[i] += load.power_kw
    return kw


def totals(
    base: Sequence[float],
    loads: Sequence[FlexLoad],
    starts: Mapping[str, int],
    prices: Sequence[TariffInterval],
) -> Totals:
    """Energy cost, peak, energy and CO2 of the day with the loads at ``starts``."""
    kw = site_kw(base, loads, starts)
    kwh = [k / 4 for k in kw]
    return Totals(
        cost_eur=round(sum(e * t.price_eur_per_kwh for e, t in zip(kwh, prices, strict=True)), 2),
        peak_kw=round(max(kw), 2),
        energy_kwh=round(sum(kwh), 2),
        co2_kg=round(sum(e * t.co2_kg_per_kwh for e, t in zip(kwh, prices, strict=True)), 2),
        kw=tuple(round(k, 2) for k in kw),
    )


def _slot_cost(load: FlexLoad, start: int, prices: Sequence[TariffInterval]) -> float:
    kwh = load.power_kw / 4
    return sum(
        kwh * (t.price_eur_per_kwh + CARBON_PRICE * t.co2_kg_per_kwh)
        for t in prices[start : start + load.duration]
    )


def shift_loads(
    loads: Sequence[FlexLoad], base: Sequence[float], prices: Sequence[TariffInterval]
) -> dict[str, int]:
    """A start per load: biggest energy first, each at its cheapest feasible slot.

    Feasible: from :data:`NOW` and its earliest start, ending by its due time, its asset
    idle, and the site under ``cap`` = the lower of :data:`SITE_LIMIT_KW` and the peak of
    the plan as it stands (shifting must never raise the peak). A load with no such slot
    keeps the slot that overloads least.
    """
    cap = min(SITE_LIMIT_KW, max(site_kw(base, loads, {x.id: x.start for x in loads})))
    kw = list(base)
    busy: dict[str, set[int]] = {}
    starts: dict[str, int] = {}
    for load in sorted(loads, key=lambda x: (-x.energy_kwh, x.id)):
        taken = busy.setdefault(load.asset, set())
        options = []
        for start in range(max(NOW, load.earliest), load.due - load.duration + 1):
            span = range(start, start + load.duration)
            if taken.intersection(span):
                continue
            over = max(0.0, max(kw[i] + load.power_kw for i in span) - cap)
            # Least overload, then least cost, then the least move from the plan.
            options.append(
                (
                    round(over, 6),
                    round(_slot_cost(load, start, prices), 6),
                    abs(start - load.start),
                    start,
                )
            )
        if not options:
            raise ValueError(f"{load.id} fits nowhere on {load.asset}")
        start = min(options)[3]
        starts[load.id] = start
        taken.update(range(start, start + load.duration))
        for i in range(start, start + load.duration):
            kw[i] += load.power_kw
    return starts
