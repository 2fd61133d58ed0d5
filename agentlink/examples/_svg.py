"""Charts of the examples as hand-written SVG text: a Gantt chart and a load profile.

No plotting library: a chart is a few rectangles, lines and labels, and the text is the
same on every machine for the same data, so a result file and its chart can be compared
byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["Band", "Bar", "gantt", "profile"]

# A colour per job (or per series), readable on white and distinct for up to ten.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
FONT = 'font-family="sans-serif" font-size="12"'
SMALL = 'font-family="sans-serif" font-size="10"'


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a Gantt chart: ``lane`` from ``start`` to ``end``, coloured by ``group``."""

    lane: int
    start: float
    end: float
    group: int
    label: str


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded stretch of a profile's time axis (a tariff band)."""

    start: int
    end: int
    label: str
    colour: str


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    )
    return "\n".join(
        [
            head,
            f"<title>{escape(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            f'<text x="10" y="20" {FONT} font-weight="bold">{escape(title)}</text>',
            *body,
            "</svg>",
            "",
        ]
    )


def gantt(
    bars: Sequence[Bar],
    *,
    lanes: Sequence[str],
    groups: Sequence[str],
    title: str,
    unit: str = "min",
) -> str:
    """A Gantt chart: one row per lane, one ``<rect class="bar">`` per bar.

    Args:
        bars: the bars to draw.
        lanes: the row names, top to bottom (a bar's ``lane`` indexes this).
        groups: the legend's names (a bar's ``group`` indexes this and picks its colour).
        title: the chart's title.
        unit: the time axis' unit.
    """
    horizon = max((b.end for b in bars), default=1.0) or 1.0
    left, top, row, scale = 90, 40, 34, 720 / horizon
    width = left + 720 + 20
    height = top + row * len(lanes) + 60
    body: list[str] = []
    for i, name in enumerate(lanes):
        y = top + i * row
        body.append(f'<text x="10" y="{y + 21}" {FONT}>{escape(name)}</text>')
        body.append(
            f'<line x1="{left}" y1="{y + row}" x2="{left + 720}" y2="{y + row}" stroke="#dddddd"/>'
        )
    step = _tick_step(horizon)
    axis_y = top + row * len(lanes)
    tick = 0.0
    while tick <= horizon:
        x = left + tick * scale
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#f0f0f0"/>')
        body.append(
            f'<text x="{x:.1f}" y="{axis_y + 16}" {FONT} text-anchor="middle">{tick:g}</text>'
        )
        tick += step
    middle = left + 360
    body.append(
        f'<text x="{middle}" y="{axis_y + 32}" {FONT} text-anchor="middle">{escape(unit)}</text>'
    )
    for bar in bars:
        x, y = left + bar.start * scale, top + bar.lane * row + 4
        w = max((bar.end - bar.start) * scale, 1.0)
        colour = PALETTE[bar.group % len(PALETTE)]
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{colour}" stroke="#333333" stroke-width="0.5">'
            f"<title>{escape(bar.label)} [{bar.start:g}, {bar.end:g})</title></rect>"
        )
        body.append(
            f'<text x="{x + w / 2:.1f}" y="{y + row / 2 + 1}" {FONT} fill="#ffffff" '
            f'text-anchor="middle">{escape(bar.label)}</text>'
        )
    legend_y = axis_y + 48
    for i, name in enumerate(groups):
        x = left + i * 90
        body.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        body.append(f'<text x="{x + 16}" y="{legend_y}" {FONT}>{escape(name)}</text>')
    return _svg(width, height, title, body)


def profile(
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    bands: Sequence[Band],
    limit: float | None,
    title: str,
    labels: Sequence[str],
    unit: str = "kW",
) -> str:
    """Step lines of equal-length series over shaded bands (``<path class="series">``).

    Args:
        series: (name, values) pairs, one value per interval.
        bands: shaded stretches of the time axis, in intervals.
        limit: a horizontal limit line, if any.
        title: the chart's title.
        labels: an axis label per interval (every fourth is shown).
        unit: the value axis' unit.
    """
    count = max((len(values) for _, values in series), default=1)
    top_value = max([limit or 0.0, *(v for _, values in series for v in values)]) * 1.1 or 1.0
    left, top, width, height = 60, 40, 760, 300
    dx = width / count

    def y(value: float) -> float:
        return top + height - value / top_value * height

    body: list[str] = []
    for band in bands:
        body.append(
            f'<rect x="{left + band.start * dx:.1f}" y="{top}" '
            f'width="{(band.end - band.start) * dx:.1f}" height="{height}" '
            f'fill="{band.colour}" opacity="0.35"><title>{escape(band.label)}</title></rect>'
        )
    step = _tick_step(top_value)
    value = 0.0
    while value <= top_value:
        body.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{left + width}" y2="{y(value):.1f}" '
            f'stroke="#e0e0e0"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" {FONT} text-anchor="end">{value:g}</text>'
        )
        value += step
    for i in range(0, count, 4):
        label = labels[i] if i < len(labels) else str(i)
        body.append(
            f'<text x="{left + i * dx:.1f}" y="{top + height + 16}" {SMALL} '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    if limit is not None:
        body.append(
            f'<line x1="{left}" y1="{y(limit):.1f}" x2="{left + width}" y2="{y(limit):.1f}" '
            f'stroke="#c00000" stroke-dasharray="6 4"><title>limit {limit:g} {unit}</title></line>'
        )
    for n, (name, values) in enumerate(series):
        points = []
        for i, v in enumerate(values):
            points.append(f"{left + i * dx:.1f},{y(v):.1f}")
            points.append(f"{left + (i + 1) * dx:.1f},{y(v):.1f}")
        colour = PALETTE[n % len(PALETTE)]
        body.append(
            f'<path class="series" d="M{" L".join(points)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"><title>{escape(name)}</title></path>'
        )
        legend_x = left + n * 180
        body.append(
            f'<rect x="{legend_x}" y="{top + height + 30}" width="12" height="12" fill="{colour}"/>'
        )
        body.append(
            f'<text x="{legend_x + 16}" y="{top + height + 40}" {FONT}>{escape(name)}</text>'
        )
    body.append(f'<text x="10" y="{top + 10}" {FONT}>{escape(unit)}</text>')
    return _svg(left + width + 20, top + height + 60, title, body)


def _tick_step(span: float) -> float:
    """A round step giving five to ten ticks over ``span``."""
    step = 1.0
    while span / step > 10:
        for factor in (2, 2.5, 2):
            step *= factor
            if span / step <= 10:
                break
    return step
