"""The targets of the issue, checked against a report.

A target that compares agentlink with another SDK reads the group of that SDK, where
agentlink was measured beside the SDK in the same alternating rounds. A target whose
figures were not measured (a group skipped or not selected) is ``n/a``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._report import Figure, Report

__all__ = ["TARGETS", "evaluate"]

Measure = Callable[[Report], tuple[float | None, str]]


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    text: str
    op: Literal["<=", ">="]
    threshold: float
    unit: str
    measure: Measure


def _figure(report: Report, group: str, name: str) -> Figure | None:
    found = report.groups.get(group)
    if found is None or found.status != "ok":
        return None
    return found.find(name)


def ratio(group: str, name: str) -> Measure:
    """The figure divided by its floor."""

    def measure(report: Report) -> tuple[float | None, str]:
        figure = _figure(report, group, name)
        how = f"{group}: {name} / {figure.floor if figure else 'its floor'}"
        return (None if figure is None else figure.ratio), how

    return measure


def value(group: str, name: str) -> Measure:
    def measure(report: Report) -> tuple[float | None, str]:
        figure = _figure(report, group, name)
        return (None if figure is None else figure.value), f"{group}: {name}"

    return measure


def versus(group: str, name: str) -> Measure:
    """The figure divided by its anchor: the other SDK, measured in the same rounds."""

    def measure(report: Report) -> tuple[float | None, str]:
        figure = _figure(report, group, name)
        how = f"{group}: {name} / {figure.anchor if figure else 'the SDK figure'}"
        return (None if figure is None else figure.anchor_ratio), how

    return measure


def registry_growth(query: str) -> Measure:
    """The query on the largest registry measured, divided by the same on the smallest."""

    def measure(report: Report) -> tuple[float | None, str]:
        group = report.groups.get("registry")
        if group is None or group.status != "ok":
            return None, f"registry: {query} @100,000 / {query} @1,000"
        largest = [f for f in group.figures if f.name.startswith(f"{query} @") and f.floor]
        if not largest:
            return None, f"registry: {query} @100,000 / {query} @1,000"
        figure = largest[-1]
        return figure.ratio, f"registry: {figure.name} / {figure.floor}"

    return measure


TARGETS = (
    Target(
        "inproc-p50",
        "in-process p50 vs direct await + orjson",
        "<=",
        6,
        "x",
        ratio("inproc", "agentlink p50 @1"),
    ),
    Target(
        "inproc-vs-mcp",
        "in-process calls/s (32 callers) vs MCP in-memory client",
        ">=",
        25,
        "x",
        versus("mcp", "agentlink in-process calls/s @32"),
    ),
    Target(
        "http-throughput",
        "HTTP calls/s (32 callers) vs bare-HTTP floor",
        ">=",
        0.3,
        "x",
        ratio("http", "agentlink calls/s @32"),
    ),
    Target(
        "http-vs-a2a",
        "HTTP calls/s (32 callers) vs A2A SDK",
        ">=",
        30,
        "x",
        versus("a2a", "agentlink http calls/s @32"),
    ),
    Target(
        "http-vs-mcp",
        "HTTP calls/s (32 callers) vs MCP Streamable HTTP",
        ">=",
        14,
        "x",
        versus("mcp", "agentlink http calls/s @32"),
    ),
    Target(
        "http-p50", "HTTP p50 vs bare-HTTP floor", "<=", 3, "x", ratio("http", "agentlink p50 @1")
    ),
    Target(
        "nats-p50", "NATS p50 vs bare nats-py", "<=", 1.5, "x", ratio("nats", "agentlink p50 @1")
    ),
    Target(
        "nats-throughput",
        "NATS calls/s (32 callers) vs bare nats-py",
        ">=",
        0.6,
        "x",
        ratio("nats", "agentlink calls/s @32"),
    ),
    Target(
        "registry-role",
        "registry role query, largest vs 1,000 agents",
        "<=",
        2,
        "x",
        registry_growth("role"),
    ),
    Target(
        "registry-capability",
        "registry capability query, largest vs 1,000 agents",
        "<=",
        2,
        "x",
        registry_growth("capability"),
    ),
    Target(
        "registry-asset",
        "registry asset query, largest vs 1,000 agents",
        "<=",
        2,
        "x",
        registry_growth("asset"),
    ),
    Target(
        "events-inproc",
        "events delivered in process",
        ">=",
        200_000,
        " /s",
        value("events", "in-process agentlink"),
    ),
    Target(
        "events-nats",
        "events delivered over NATS",
        ">=",
        50_000,
        " /s",
        value("events", "nats agentlink"),
    ),
    Target(
        "idle-agents",
        "idle agents in one process, memory per agent reported",
        ">=",
        10_000,
        " agents",
        value("footprint", "idle agents hosted"),
    ),
)


def evaluate(report: Report) -> list[dict[str, Any]]:
    """Every target with its measured value and whether it is met (None: not measured)."""
    results = []
    for target in TARGETS:
        measured, how = target.measure(report)
        met = None
        if measured is not None:
            met = (
                measured <= target.threshold if target.op == "<=" else measured >= target.threshold
            )
        results.append(
            {
                "id": target.id,
                "text": target.text,
                "measured": measured,
                "op": target.op,
                "threshold": target.threshold,
                "unit": target.unit,
                "met": met,
                "how": how,
            }
        )
    return results
