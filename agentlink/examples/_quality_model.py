"""The physics, vision and statistics of the quality example, with no agents and no I/O.

- A rolling stand gauges steel sheets to a target thickness through its roll-gap set-point.
  From a seeded part on, a harder heat of steel arrives and the rolls warm up: the sheets
  come out thicker (an offset that jumps by :data:`DRIFT_STEP_MM`, then creeps up to
  :data:`DRIFT_MM`), and the further the thickness is off target, the more surface defects
  appear (mostly rolled-in scale and patches).
- A camera sees each sheet's surface as four image features (contrast, dark-area fraction,
  elongation, blob density) drawn around the prototype of its true class, NEU surface
  defect classes or ``ok``, scaled by the defect's severity, plus noise; a classifier with
  an acceptance radius around ``ok`` and the nearest prototype direction names the class.
  Faint defects pass as ``ok`` (escapes), noisy good sheets are sometimes rejected (false
  rejects), and the three textured classes (crazing, pitted surface, rolled-in scale) get
  confused, as on the real data set. A thickness gauge measures each sheet.
- An individuals chart takes its centre line and limits (sigma from the average moving
  range) from an in-control phase and checks the four Western Electric rules.

Every random draw comes from a generator seeded with the run's seed and the part's index,
so a part is the same whatever happened before it and in whichever process it is drawn.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "CLASSES",
    "LSL_MM",
    "TARGET_MM",
    "USL_MM",
    "Chart",
    "classify",
    "cpk",
    "drift_offset",
    "image_features",
    "measure_thickness",
    "part_time",
    "roll_sheet",
]

TARGET_MM = 2.000
LSL_MM = 1.960
USL_MM = 2.040
#: Thickness scatter of the stand when in control (sd).
NOISE_MM = 0.010
#: Repeatability of the thickness gauge (sd).
GAUGE_MM = 0.002
#: The drift offset jumps by DRIFT_STEP_MM at onset, then grows by DRIFT_RATE_MM a part
#: until it levels off at DRIFT_MM.
DRIFT_STEP_MM = 0.040
DRIFT_RATE_MM = 0.0005
DRIFT_MM = 0.045
#: Surface defect probability in control, and its rise per mm of thickness error beyond
#: DEADZONE_MM.
DEFECT_RATE = 0.03
DEFECT_SLOPE = 12.0
DEADZONE_MM = 0.010
#: One sheet every 20 s, from the start of the simulated shift.
CYCLE_S = 20
SHIFT_START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)

#: "ok" first, then the six NEU surface defect classes.
CLASSES: tuple[str, ...] = (
    "ok",
    "crazing",
    "inclusion",
    "patches",
    "pitted-surface",
    "rolled-in-scale",
    "scratches",
)
# Feature prototypes: contrast, dark-area fraction, elongation, blob density.
_PROTOTYPES: dict[str, tuple[float, float, float, float]] = {
    "ok": (0.10, 0.05, 0.20, 0.05),
    "crazing": (0.55, 0.22, 0.30, 0.62),
    "inclusion": (0.45, 0.45, 0.70, 0.22),
    "patches": (0.35, 0.72, 0.30, 0.25),
    "pitted-surface": (0.52, 0.30, 0.26, 0.70),
    "rolled-in-scale": (0.60, 0.34, 0.42, 0.55),
    "scratches": (0.40, 0.24, 0.85, 0.12),
}
_FEATURE_NOISE = 0.06
#: Features within this distance of the ok prototype are accepted as ok.
OK_RADIUS = 0.21
# Which defects appear in control, and which the drift adds.
_BASE_MIX = dict.fromkeys(CLASSES[1:], 1.0)
_DRIFT_MIX = {"rolled-in-scale": 0.6, "patches": 0.25, "crazing": 0.15}


def part_time(index: int) -> str:
    """The simulated time a part leaves the stand, as RFC 3339."""
    when = SHIFT_START + timedelta(seconds=CYCLE_S * index)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def drift_offset(index: int, onset: int) -> float:
    """How much thicker than set the stand rolls part ``index`` (mm)."""
    if index < onset:
        return 0.0
    return min(DRIFT_MM, DRIFT_STEP_MM + DRIFT_RATE_MM * (index - onset))


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def roll_sheet(seed: int, index: int, gap_mm: float, onset: int) -> dict[str, Any]:
    """The sheet the stand rolls as part ``index`` with roll gap ``gap_mm``: its true
    thickness, surface class and defect severity (what a lab would find)."""
    rng = random.Random(f"{seed}:stand:{index}")
    thickness = gap_mm + drift_offset(index, onset) + rng.gauss(0.0, NOISE_MM)
    error = abs(thickness - TARGET_MM)
    base = DEFECT_RATE
    extra = DEFECT_SLOPE * max(0.0, error - DEADZONE_MM)
    draw = rng.random()
    if draw < base:
        surface = _pick(rng, _BASE_MIX)
    elif draw < base + extra:
        surface = _pick(rng, _DRIFT_MIX)
    else:
        surface = "ok"
    severity = 0.0 if surface == "ok" else rng.uniform(0.2, 1.0)
    return {
        "thickness_mm": round(thickness, 5),
        "surface": surface,
        "severity": round(severity, 4),
    }


def image_features(seed: int, index: int, surface: str, severity: float) -> list[float]:
    """What the camera's image processing extracts from a sheet's surface."""
    rng = random.Random(f"{seed}:camera:{index}")
    ok = _PROTOTYPES["ok"]
    proto = _PROTOTYPES[surface]
    return [
        round(o + severity * (p - o) + rng.gauss(0.0, _FEATURE_NOISE), 4)
        for o, p in zip(ok, proto, strict=True)
    ]


def measure_thickness(seed: int, index: int, thickness_mm: float) -> float:
    """The gauge's reading of a sheet's thickness (mm)."""
    rng = random.Random(f"{seed}:gauge:{index}")
    return round(thickness_mm + rng.gauss(0.0, GAUGE_MM), 4)


def classify(features: Sequence[float]) -> tuple[str, float]:
    """The class of a sheet from its features, and the classifier's confidence.

    A sheet whose features lie within :data:`OK_RADIUS` of the ok prototype is ok (the
    confidence grows towards the prototype); otherwise the defect class is the prototype
    direction closest in angle to the sheet's deviation from ok, since a faint defect lies
    on the way from ok to its prototype (the confidence is that cosine).
    """
    ok = _PROTOTYPES["ok"]
    deviation = [f - o for f, o in zip(features, ok, strict=True)]
    size = math.hypot(*deviation)
    if size <= OK_RADIUS:
        return "ok", round(1.0 - size / OK_RADIUS / 2, 4)
    best, cosine = "ok", -2.0
    for name in CLASSES[1:]:
        direction = [p - o for p, o in zip(_PROTOTYPES[name], ok, strict=True)]
        dot = sum(d * e for d, e in zip(deviation, direction, strict=True))
        value = dot / (size * math.hypot(*direction))
        if value > cosine:
            best, cosine = name, value
    return best, round(cosine, 4)


def cpk(values: Sequence[float], lsl: float = LSL_MM, usl: float = USL_MM) -> float | None:
    """Process capability of ``values`` against the spec limits, with the within-process
    sigma estimated from the average moving range (None under two values)."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    sigma = _moving_range_sigma(values)
    if sigma == 0.0:
        return None
    return round(min(usl - mean, mean - lsl) / (3.0 * sigma), 3)


def _moving_range_sigma(values: Sequence[float]) -> float:
    ranges = [abs(b - a) for a, b in itertools.pairwise(values)]
    return sum(ranges) / len(ranges) / 1.128


@dataclass
class Chart:
    """An individuals (X) chart: limits from an in-control phase, then the Western Electric
    rules on every later point, counting only points since the last process adjustment.

    Rules: 1 a point beyond 3 sigma; 2 two of three beyond 2 sigma on one side; 3 four of
    five beyond 1 sigma on one side; 4 eight in a row on one side of the centre line.

    Beside the rules a tabular CUSUM (reference value half a sigma) runs on the same
    points; it estimates how far the mean has moved and since when (Montgomery,
    *Introduction to Statistical Quality Control*, section 9.1).
    """

    phase_one: int
    center: float = 0.0
    sigma: float = 0.0
    baseline: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    _upper: float = 0.0
    _lower: float = 0.0
    _upper_n: int = 0
    _lower_n: int = 0

    @property
    def ready(self) -> bool:
        """Whether the limits are set (the in-control phase is over)."""
        return self.sigma > 0.0

    def limits(self) -> dict[str, float]:
        return {
            "center": round(self.center, 5),
            "sigma": round(self.sigma, 5),
            "ucl": round(self.center + 3 * self.sigma, 5),
            "lcl": round(self.center - 3 * self.sigma, 5),
        }

    def add(self, value: float) -> list[int]:
        """Add a point; returns the rules it breaks (none while setting the limits)."""
        if not self.ready:
            self.baseline.append(value)
            if len(self.baseline) == self.phase_one:
                self.center = sum(self.baseline) / len(self.baseline)
                self.sigma = _moving_range_sigma(self.baseline)
            return []
        self.run.append(value)
        z = [(v - self.center) / self.sigma for v in self.run[-8:]]
        self._upper = max(0.0, self._upper + z[-1] - _CUSUM_K)
        self._lower = max(0.0, self._lower - z[-1] - _CUSUM_K)
        self._upper_n = self._upper_n + 1 if self._upper > 0 else 0
        self._lower_n = self._lower_n + 1 if self._lower > 0 else 0
        broken = []
        if abs(z[-1]) > 3:
            broken.append(1)
        if _same_side(z[-3:], 2, 2):
            broken.append(2)
        if _same_side(z[-5:], 4, 1):
            broken.append(3)
        if len(z) == 8 and (all(v > 0 for v in z) or all(v < 0 for v in z)):
            broken.append(4)
        return broken

    def adjusted(self) -> None:
        """The process was adjusted: rules and CUSUM start afresh."""
        self.run.clear()
        self._upper = self._lower = 0.0
        self._upper_n = self._lower_n = 0

    def shift(self) -> tuple[int, float]:
        """The CUSUM's estimate of the mean's move: over how many latest points, and by
        how much (0, 0.0 when neither side has moved)."""
        if self._upper >= self._lower and self._upper_n:
            return self._upper_n, self.sigma * (_CUSUM_K + self._upper / self._upper_n)
        if self._lower_n:
            return self._lower_n, -self.sigma * (_CUSUM_K + self._lower / self._lower_n)
        return 0, 0.0


_CUSUM_K = 0.5


def _same_side(z: Sequence[float], needed: int, beyond: float) -> bool:
    """Whether the last point and at least ``needed - 1`` others of ``z`` lie beyond
    ``beyond`` sigma on the same side."""
    if len(z) < needed:
        return False
    last = z[-1]
    if abs(last) <= beyond:
        return False
    side = 1 if last > 0 else -1
    return sum(1 for v in z if v * side > beyond) >= needed
