"""The milling machines of the maintenance example, after the AI4I 2020 data set (no I/O).

Every step is one machining process of 5 minutes on each running machine:

- product type L, M or H (50 / 30 / 20 %), adding 2, 3 or 5 minutes of tool wear;
- air temperature: a random walk around 300 K (sd about 2 K); process temperature: air
  plus 10 K plus a smaller walk (sd 0.15 K; AI4I has 1 K, but less noise keeps heat
  failures for machines whose cooling actually degrades);
- torque: normal around 40 Nm, sd 10 Nm, never below 8 Nm;
- rotational speed: AI4I derives it from a 2860 W power with noise; here the drive slows
  as torque rises, ``1538 rpm * (40 Nm / torque) ** 0.7`` with 3 % noise, which gives
  the data set's spread and its strong negative torque-speed correlation while keeping
  power (torque times angular speed) inside its band unless something drifts.

Failure modes, checked on every process: tool wear failure (TWF) once the tool reaches
its life, drawn between 200 and 240 min when it is fitted; heat dissipation failure
(HDF) when process minus air temperature is below 8.6 K and speed below 1380 rpm; power
failure (PWF) outside 3500-9000 W; overstrain failure (OSF) when tool wear times torque
exceeds 11,000 / 12,000 / 13,000 min Nm for L / M / H; random failure (RNF) 0.1 %.

Drifts, one kind per machine from a seeded step on, lead to failures: ``coolant`` (the
temperature difference shrinks 0.03 K a process), ``overspeed`` (the drive speeds up
0.4 % a process, raising power) and ``overload`` (spindle bearing drag adds 0.15 Nm a
process). They grow with use, not while the machine stands.

Each step's random draws come from a generator seeded with the seed, the machine and the
step, so a run-to-failure baseline and a maintained run see the same processes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agentlink.model import Quality

__all__ = [
    "ACTIONS",
    "QUANTITIES",
    "REPAIRS",
    "REPAIR_STEPS",
    "STEP_MIN",
    "Machine",
    "assign_drifts",
    "step_time",
]

STEP_MIN = 5
SHIFT_START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
_TYPES = ("L", "M", "H")
_TYPE_WEIGHTS = (0.5, 0.3, 0.2)
WEAR_PER_PROCESS = {"L": 2, "M": 3, "H": 5}
OVERSTRAIN_LIMIT = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}
HEAT_DT_K = 8.6
HEAT_SPEED_RPM = 1380.0
POWER_BAND_W = (3500.0, 9000.0)
RANDOM_FAILURE = 0.001
#: Telemetry channels: name -> UN/CEFACT Rec. 20 unit code.
QUANTITIES = {
    "air_temperature": "KEL",
    "process_temperature": "KEL",
    "rotational_speed": "RPM",
    "torque": "NU",
    "tool_wear": "MIN",
}
#: What a failed sensor channel reads (a broken PT100 reads 0 degC, a lost encoder 0 rpm).
_FAULT_VALUES = {
    "air_temperature": 273.15,
    "process_temperature": 273.15,
    "rotational_speed": 0.0,
    "torque": 0.0,
    "tool_wear": 0.0,
}
BAD_READINGS = 0.015
UNCERTAIN_READINGS = 0.01
#: Steps an unplanned repair takes after each failure mode.
REPAIR_STEPS = {"TWF": 18, "HDF": 30, "PWF": 36, "OSF": 24, "RNF": 18}
#: Maintenance actions and what they restore; what each failure's repair restores.
ACTIONS = ("replace-tool", "service-coolant", "retune-drive", "service-spindle")
REPAIRS = {
    "TWF": ("replace-tool",),
    "OSF": ("replace-tool", "service-spindle"),
    "HDF": ("service-coolant",),
    "PWF": ("retune-drive",),
    "RNF": (),
}
_FIXES = {"service-coolant": "coolant", "retune-drive": "overspeed", "service-spindle": "overload"}
DRIFTS = ("coolant", "overspeed", "overload")


def step_time(step: int) -> str:
    """The simulated time at the end of a step, as RFC 3339."""
    when = SHIFT_START + timedelta(minutes=STEP_MIN * (step + 1))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Machine:
    """One milling machine's physics: its environment, tool, drift and state.

    Args:
        seed: the run's seed.
        machine_id: the machine's id (part of every random draw).
        drift: ``coolant``, ``overspeed``, ``overload`` or ``none``.
        onset: the step the drift starts.
    """

    seed: int
    machine_id: str
    drift: str
    onset: int
    air: float = 300.0
    walk: float = 0.0
    wear: float = 0.0
    tool: int = 0
    tool_life: float = 0.0
    fixed: set[str] = field(default_factory=set)
    #: Processes run since the drift began: drifts grow with use, not with idle time.
    drift_age: int = 0
    down_until: int = -1
    locks: dict[str, str] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(f"{self.seed}:{self.machine_id}:initial")
        self.wear = float(rng.randrange(0, 120, 2))
        self.tool_life = self._life(self.tool)

    def _life(self, tool: int) -> float:
        return random.Random(f"{self.seed}:{self.machine_id}:tool:{tool}").uniform(200, 240)

    def _drift(self, kind: str) -> float:
        """How far the drift of ``kind`` has gone (0 if not this machine's, or fixed)."""
        if self.drift != kind or kind in self.fixed:
            return 0.0
        return float(self.drift_age)

    @property
    def state(self) -> str:
        if self.locks:
            return "locked"
        return "down" if self.down_until >= 0 else "running"

    def restore(self, actions: tuple[str, ...] | list[str]) -> None:
        """Apply maintenance actions (planned, or a repair's)."""
        for action in actions:
            if action == "replace-tool":
                self.tool += 1
                self.wear = 0.0
                self.tool_life = self._life(self.tool)
            elif action in _FIXES:
                self.fixed.add(_FIXES[action])

    def run(self, step: int) -> dict[str, Any]:
        """Advance one step: run a process if the machine can, and tell what happened.

        Returns:
            ``state`` before the step's process, the process values if one ran, the
            failure modes it ended in, and whether a repair finished.
        """
        rng = random.Random(f"{self.seed}:{self.machine_id}:{step}")
        # The environment moves on whether the machine runs or not.
        self.air = 300.0 + 0.95 * (self.air - 300.0) + rng.gauss(0.0, 0.62)
        self.walk = 0.9 * self.walk + rng.gauss(0.0, 0.065)
        kind = rng.choices(_TYPES, weights=_TYPE_WEIGHTS)[0]
        torque_noise = rng.gauss(0.0, 10.0)
        speed_noise = rng.gauss(0.0, 0.03)
        chance = rng.random()
        repaired = False
        if self.down_until >= 0 and step >= self.down_until:
            self.down_until = -1
            repaired = True
        if self.state != "running":
            self.last = {"state": self.state, "step": step}
            return {"state": self.state, "repaired": repaired, "failures": []}
        if step >= self.onset:
            self.drift_age += 1
        torque = max(8.0, 40.0 + 0.15 * self._drift("overload") + torque_noise)
        process = self.air + 10.0 + self.walk - 0.03 * self._drift("coolant")
        speed = 1538.0 * (40.0 / torque) ** 0.7 * (1.0 + speed_noise)
        speed *= 1.0 + 0.004 * self._drift("overspeed")
        self.wear += WEAR_PER_PROCESS[kind]
        power = torque * speed * 2 * math.pi / 60
        failures = []
        if self.wear >= self.tool_life:
            failures.append("TWF")
        if process - self.air < HEAT_DT_K and speed < HEAT_SPEED_RPM:
            failures.append("HDF")
        if not POWER_BAND_W[0] <= power <= POWER_BAND_W[1]:
            failures.append("PWF")
        if self.wear * torque > OVERSTRAIN_LIMIT[kind]:
            failures.append("OSF")
        if chance < RANDOM_FAILURE:
            failures.append("RNF")
        values = {
            "air_temperature": round(self.air, 2),
            "process_temperature": round(process, 2),
            "rotational_speed": round(speed, 1),
            "torque": round(torque, 2),
            "tool_wear": self.wear,
        }
        self.last = {"state": "running", "step": step, "type": kind, **values}
        if failures:
            self.down_until = step + 1 + max(REPAIR_STEPS[m] for m in failures)
            for mode in failures:
                self.restore(REPAIRS[mode])
        return {
            "state": "running",
            "repaired": repaired,
            "type": kind,
            "values": values,
            "power_w": round(power, 1),
            "failures": failures,
        }

    def read(self, step: int, values: dict[str, float]) -> dict[str, tuple[float, Quality]]:
        """What the sensors report for a process's values: (value, quality) per channel.
        Some readings are bad (a sensor fault value) or uncertain (noisier)."""
        rng = random.Random(f"{self.seed}:{self.machine_id}:{step}:sensors")
        readings: dict[str, tuple[float, Quality]] = {}
        for name in QUANTITIES:
            draw = rng.random()
            noise = rng.gauss(0.0, 1.0)
            value = values[name]
            if draw < BAD_READINGS:
                readings[name] = (_FAULT_VALUES[name], "bad")
            elif draw < BAD_READINGS + UNCERTAIN_READINGS:
                spread = {"rotational_speed": 15.0, "torque": 1.0, "tool_wear": 0.0}
                readings[name] = (round(value + spread.get(name, 0.3) * noise, 2), "uncertain")
            else:
                readings[name] = (value, "good")
        return readings


def assign_drifts(seed: int, machines: list[str], horizon: int) -> dict[str, tuple[str, int]]:
    """Which drift each machine gets and from which step (a machine beyond the three
    kinds gets none)."""
    rng = random.Random(f"{seed}:drifts")
    kinds = list(DRIFTS) + ["none"] * max(0, len(machines) - len(DRIFTS))
    rng.shuffle(kinds)
    return {
        m: (kind, rng.randint(int(0.1 * horizon), int(0.35 * horizon)))
        for m, kind in zip(machines, kinds, strict=False)
    }
