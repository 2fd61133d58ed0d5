"""The maintenance planner's failure-risk rules: AI4I's failure conditions with margins,
evaluated on telemetry before the conditions are reached (no I/O).

Only readings of quality ``good`` or ``uncertain`` are used; a ``bad`` reading is
recorded as skipped and never enters an estimate. Rules, per machine:

- ``tool-wear`` (against TWF): the tool's wear, at its observed wear rate, reaches
  195 min (tool life is at least 200 min) within the horizon;
- ``overstrain`` (against OSF): wear times a high torque (mean + 3.5 sd of recent torque)
  reaches 11,000 min Nm, the limit of the weakest product type, within the horizon;
- ``spindle-load`` (the cause of early overstrain): mean torque of the last 30
  processes 7 Nm above nominal;
- ``heat-dissipation`` (against HDF): the mean process-air temperature difference of
  the last 8 processes is within 0.8 K of 8.6 K (nominal 10 K);
- ``power`` (against PWF): the mean power of the last 20-24 processes, widened by three
  times its usual 8 % scatter, is within 300 W of the 3500-9000 W band's edges.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_Inputs = tuple[tuple[int, str], ...]

__all__ = ["ALARM_ACTION", "ALARM_MODE", "HORIZON_STEPS", "Alarm", "MachineRisk"]

#: How far ahead (steps) wear is forecast.
HORIZON_STEPS = 24
#: The action each alarm asks for, and the failure mode it guards against.
ALARM_ACTION = {
    "tool-wear": "replace-tool",
    "overstrain": "replace-tool",
    "spindle-load": "service-spindle",
    "heat-dissipation": "service-coolant",
    "power": "retune-drive",
}
ALARM_MODE = {
    "tool-wear": "TWF",
    "overstrain": "OSF",
    "spindle-load": "OSF",
    "heat-dissipation": "HDF",
    "power": "PWF",
}
#: Steps within which a level alarm (not a wear forecast) wants its maintenance.
LEVEL_LEAD_STEPS = 8
_TOOL_LIMIT_MIN = 195.0
_OVERSTRAIN_MIN_NM = 11_000.0
_TORQUE_NOMINAL_NM = 40.0
_HEAT_LIMIT_K = 8.6 + 0.8
_POWER_BAND_W = (3500.0 + 300.0, 9000.0 - 300.0)
_POWER_SCATTER = 0.08


@dataclass(frozen=True, slots=True)
class Alarm:
    """A predicted failure: which rule, when raised, and by when to act."""

    machine: str
    rule: str
    step: int
    latest_step: int
    detail: dict[str, float]
    inputs: tuple[tuple[int, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "rule": self.rule,
            "mode": ALARM_MODE[self.rule],
            "action": ALARM_ACTION[self.rule],
            "step": self.step,
            "latest_step": self.latest_step,
            "detail": self.detail,
            "inputs": [list(i) for i in self.inputs],
        }


@dataclass
class MachineRisk:
    """Estimates from one machine's telemetry, and the alarms they raise."""

    machine: str
    wear: float | None = None
    wear_step: int | None = None
    wear_rate: deque[float] = field(default_factory=lambda: deque(maxlen=12))
    torque: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=30))
    heat: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=8))
    power: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=24))
    #: Rules in alarm since the machine was last restored.
    active: set[str] = field(default_factory=set)
    #: (step, channel, quality) of every reading used, and of every bad one skipped.
    used: list[tuple[int, str, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def ingest(self, step: int, readings: dict[str, Any]) -> None:
        """Take one process's telemetry: ``readings`` maps channel to a Measurement dict
        (none when the machine stood)."""
        usable: dict[str, float] = {}
        for name, reading in sorted(readings.items()):
            if reading["quality"] == "bad":
                self.skipped.append((step, name))
                continue
            usable[name] = float(reading["value"])
            self.used.append((step, name, reading["quality"]))
        wear = usable.get("tool_wear")
        if wear is not None:
            if self.wear is not None and wear < self.wear - 10:
                self.restored({"replace-tool"})
            elif self.wear is not None and self.wear_step is not None and wear > self.wear:
                self.wear_rate.append((wear - self.wear) / (step - self.wear_step))
            self.wear, self.wear_step = wear, step
        if "torque" in usable:
            self.torque.append((step, usable["torque"]))
        if "air_temperature" in usable and "process_temperature" in usable:
            self.heat.append((step, usable["process_temperature"] - usable["air_temperature"]))
        if "torque" in usable and "rotational_speed" in usable:
            watts = usable["torque"] * usable["rotational_speed"] * 2 * 3.141592653589793 / 60
            self.power.append((step, watts))

    def restored(self, actions: set[str]) -> None:
        """Maintenance or a repair restored part of the machine: forget what it changed."""
        if "replace-tool" in actions:
            self.wear = self.wear_step = None
            self.active -= {"tool-wear", "overstrain"}
        if "service-spindle" in actions:
            self.torque.clear()
            self.active -= {"spindle-load", "overstrain"}
        if "service-coolant" in actions:
            self.heat.clear()
            self.active.discard("heat-dissipation")
        if "retune-drive" in actions:
            self.power.clear()
            self.active.discard("power")

    def assess(self, step: int) -> list[Alarm]:
        """The rules newly in alarm after ``step``'s telemetry."""
        raised = []
        for rule, latest, detail, inputs in self._rules(step):
            if rule not in self.active:
                self.active.add(rule)
                raised.append(Alarm(self.machine, rule, step, latest, detail, inputs))
        return raised

    def _rules(self, step: int) -> list[tuple[str, int, dict[str, float], _Inputs]]:
        found = []
        rate = statistics.fmean(self.wear_rate) if self.wear_rate else 3.5
        torques = [v for _, v in self.torque]
        if self.wear is not None and self.wear_step is not None:
            wear_inputs: _Inputs = ((self.wear_step, "tool_wear"),)
            left = (_TOOL_LIMIT_MIN - self.wear) / rate
            if left <= HORIZON_STEPS:
                detail = {"wear_min": self.wear, "rate_min_per_step": round(rate, 2)}
                found.append(("tool-wear", step + int(left), detail, wear_inputs))
            # Until ten torque readings are in, assume the nominal 40 +- 10 Nm.
            mean, spread = _TORQUE_NOMINAL_NM, 10.0
            if len(torques) >= 10:
                mean, spread = statistics.fmean(torques), max(statistics.stdev(torques), 8.0)
            high = mean + 3.5 * spread
            left = (_OVERSTRAIN_MIN_NM / high - self.wear) / rate
            if left <= HORIZON_STEPS:
                detail = {"wear_min": self.wear, "torque_high_nm": round(high, 1)}
                inputs = wear_inputs + tuple((s, "torque") for s, _ in self.torque)
                found.append(("overstrain", step + int(left), detail, inputs))
        if (
            len(torques) == self.torque.maxlen
            and statistics.fmean(torques) > _TORQUE_NOMINAL_NM + 7
        ):
            detail = {"torque_mean_nm": round(statistics.fmean(torques), 1)}
            inputs = tuple((s, "torque") for s, _ in self.torque)
            found.append(("spindle-load", step + LEVEL_LEAD_STEPS * 2, detail, inputs))
        if len(self.heat) >= 6:
            mean = statistics.fmean(v for _, v in self.heat)
            if mean <= _HEAT_LIMIT_K:
                detail = {"dt_mean_k": round(mean, 2)}
                inputs = tuple(
                    (s, c) for s, _ in self.heat for c in ("air_temperature", "process_temperature")
                )
                found.append(("heat-dissipation", step + LEVEL_LEAD_STEPS, detail, inputs))
        if len(self.power) >= 20:
            mean = statistics.fmean(v for _, v in self.power)
            # Power scatters about 8 % around its mean at nominal torque; three of those.
            high, low = mean * (1 + 3 * _POWER_SCATTER), mean * (1 - 3 * _POWER_SCATTER)
            if high >= _POWER_BAND_W[1] or low <= _POWER_BAND_W[0]:
                detail = {"power_mean_w": round(mean), "power_high_w": round(high)}
                inputs = tuple(
                    (s, c) for s, _ in self.power for c in ("torque", "rotational_speed")
                )
                found.append(("power", step + LEVEL_LEAD_STEPS, detail, inputs))
        return found
