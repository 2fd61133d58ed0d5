"""The quality example's evaluation: the SPC agent's report and its control chart SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._quality_model import CLASSES, LSL_MM, USL_MM, Chart, cpk

__all__ = ["control_chart_svg", "evaluate"]

_WIDTH, _HEIGHT, _LEFT, _TOP, _BOTTOM = 900, 320, 60, 30, 40


def control_chart_svg(
    limits: Mapping[str, float],
    values: Sequence[float],
    changes: Sequence[Mapping[str, Any]],
    onset: int,
) -> str:
    """An individuals chart of ``values`` with spec and control limits, the drift onset and
    every set-point change (approved changes in purple, trims in grey)."""
    count = max(len(values), 2)
    low = min([LSL_MM - 0.01, *values])
    high = max([USL_MM + 0.01, *values])
    plot_w = _WIDTH - _LEFT - 20
    plot_h = _HEIGHT - _TOP - _BOTTOM

    def x(index: float) -> float:
        return round(_LEFT + plot_w * index / (count - 1), 1)

    def y(value: float) -> float:
        return round(_TOP + plot_h * (high - value) / (high - low), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
        f'<text x="{_LEFT}" y="18" font-size="13">Sheet thickness (mm), individuals chart</text>',
    ]

    def hline(value: float, colour: str, label: str, dash: str = "") -> None:
        style = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(value)}" y2="{y(value)}" '
            f'stroke="{colour}"{style}/>'
        )
        parts.append(f'<text x="4" y="{y(value) + 4}" fill="{colour}">{label}</text>')

    hline(USL_MM, "#c0392b", f"USL {USL_MM:.3f}", "6 3")
    hline(LSL_MM, "#c0392b", f"LSL {LSL_MM:.3f}", "6 3")
    if limits.get("sigma"):
        hline(limits["ucl"], "#e67e22", f"UCL {limits['ucl']:.3f}")
        hline(limits["lcl"], "#e67e22", f"LCL {limits['lcl']:.3f}")
        hline(limits["center"], "#27ae60", f"CL {limits['center']:.3f}")

    def vline(index: float, colour: str, dash: str = "") -> None:
        style = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x(index)}" x2="{x(index)}" y1="{_TOP}" y2="{_TOP + plot_h}" '
            f'stroke="{colour}"{style}/>'
        )

    if onset < len(values):
        vline(onset, "#7f8c8d", "2 3")
    for change in changes:
        approved = change["tool"] == "set_gap"
        vline(change["effective_from"] - 0.5, "#8e44ad" if approved else "#95a5a6")
    points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#2c3e50" stroke-width="1"/>')
    ucl, lcl = limits.get("ucl", high), limits.get("lcl", low)
    for i, v in enumerate(values):
        colour = "#c0392b" if v > ucl or v < lcl else "#2c3e50"
        parts.append(f'<circle cx="{x(i)}" cy="{y(v)}" r="1.8" fill="{colour}"/>')
    parts.append(
        f'<text x="{_LEFT}" y="{_HEIGHT - 12}">part 0 .. {len(values) - 1}; dotted: drift '
        "onset; purple: approved set-point change; grey: trim</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def evaluate(
    phase_one: int,
    chart: Chart,
    inspections: list[dict[str, Any]],
    truth: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    alarms: list[dict[str, Any]],
) -> dict[str, Any]:
    """The SPC agent's report: parts, escapes, false rejects, the confusion matrix, the
    control limits and alarms, the drift's detection, and yield and Cpk per phase (before
    the drift, drifting until the first approved correction after it, and after)."""
    onset = next((t["index"] for t in truth if t["drift_mm"] > 0), len(truth))
    after_onset = [c for c in changes if c["evidence_part"] >= onset]
    approved = [c for c in after_onset if c["tool"] == "set_gap"]
    fixed = (approved or after_onset or [{"effective_from": len(truth)}])[0]["effective_from"]
    good = [t["surface"] == "ok" and LSL_MM <= t["thickness_mm"] <= USL_MM for t in truth]
    accepted = [i["verdict"] == "pass" for i in inspections]
    measured = [i["thickness"]["value"] for i in inspections]

    def phase(start: int, end: int) -> dict[str, Any]:
        count = max(0, end - start)
        values = measured[start:end]
        return {
            "from": start,
            "to": end - 1,
            "parts": count,
            "yield": round(sum(good[start:end]) / count, 4) if count else None,
            "cpk": cpk(values),
            "mean_mm": round(sum(values) / count, 4) if count else None,
        }

    confusion = {t: dict.fromkeys(CLASSES, 0) for t in CLASSES}
    for t, i in zip(truth, inspections, strict=True):
        confusion[t["surface"]][i["surface"]] += 1
    detected = next((a["index"] for a in alarms if a["index"] >= onset), None)
    return {
        "parts": {
            "rolled": len(truth),
            "inspected": len(inspections),
            "good": sum(good),
            "defective": len(truth) - sum(good),
            "accepted": sum(accepted),
            "rejected": len(accepted) - sum(accepted),
        },
        "escapes": sum(a and not g for a, g in zip(accepted, good, strict=True)),
        "false_rejects": sum(g and not a for a, g in zip(accepted, good, strict=True)),
        "confusion": confusion,
        "control_limits": {**chart.limits(), "phase_one_parts": phase_one},
        "chart_values": measured,
        "alarms": alarms,
        "drift": {
            "onset": onset,
            "detected_at": detected,
            "detection_delay": None if detected is None else detected - onset,
            "false_alarms": sum(1 for a in alarms if a["index"] < onset),
        },
        "phases": {
            "before": phase(0, onset),
            "drifting": phase(onset, fixed),
            "after": phase(fixed, len(truth)),
        },
    }
