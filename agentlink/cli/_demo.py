"""``agentlink demo``: run an example workflow with a progress display, then summarise it."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table

from agentlink.examples import EXAMPLES, Outcome, Settings, load, run_in_process

from ._common import console
from ._net import _run

__all__ = ["RichProgress", "demo"]

TRANSPORTS = ("memory", "http", "nats")
#: The five-role tour that came before the examples, still runnable by name.
TOUR = "tour"


class RichProgress:
    """A :class:`~agentlink.examples.Progress` drawn with rich: a bar per phase."""

    def __init__(self, bar: RichBar) -> None:
        self.bar = bar
        self.task: TaskID | None = None
        self.description = ""

    def start(self, total: int, description: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=self.description)
        self.description = description
        self.task = self.bar.add_task(description, total=total)

    def advance(self, steps: int = 1, note: str | None = None) -> None:
        if self.task is None:
            return
        text = f"{self.description}: {note}" if note else self.description
        self.bar.update(self.task, advance=steps, description=text)

    def finish(self) -> None:
        """Leave the last phase showing its name rather than its last note."""
        if self.task is not None:
            self.bar.update(self.task, description=self.description)


def demo(
    name: Annotated[
        str, typer.Argument(help=f"One of: {', '.join(EXAMPLES)} (or {TOUR}).")
    ] = "job-shop",
    seed: Annotated[int, typer.Option(help="Seed of the simulated plant.")] = 7,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the result as JSON here, and its charts beside it."),
    ] = None,
    transport: Annotated[
        str, typer.Option(help="memory (one process), http or nats (a process per group).")
    ] = "memory",
    nats: Annotated[
        str | None, typer.Option(help="NATS server URL (default: start a nats-server).")
    ] = None,
    fast: Annotated[bool, typer.Option("--fast", help="A shorter run, as the tests use.")] = False,
    graph_file: Annotated[
        Path | None, typer.Option("--graph", help=f"{TOUR} only: write its topology (DOT) here.")
    ] = None,
) -> None:
    """Run an example factory workflow on a simulated plant and print its summary."""
    if nats is not None and transport == "memory":
        transport = "nats"
    if transport not in TRANSPORTS:
        raise typer.BadParameter(f"--transport is one of {', '.join(TRANSPORTS)}")
    if nats is not None and transport != "nats":
        raise typer.BadParameter("--nats goes with --transport nats")
    if name == TOUR:
        _tour(seed, out, graph_file)
        return
    if name not in EXAMPLES:
        raise typer.BadParameter(f"unknown demo {name!r}; choose from {', '.join(EXAMPLES)}")
    if importlib.util.find_spec(EXAMPLES[name]) is None:
        raise typer.BadParameter(f"the {name} example is not part of this version")
    if graph_file is not None:
        raise typer.BadParameter(f"--graph goes with the {TOUR} demo")
    example = load(name)
    settings = Settings(seed=seed, fast=fast)
    outcomes: list[Outcome] = []
    started = time.perf_counter()

    async def main() -> None:
        with RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            progress = RichProgress(bar)
            if transport == "memory":
                outcomes.append(await run_in_process(example, settings, progress))
            else:
                from agentlink.examples._multiprocess import run_distributed

                outcomes.append(
                    await run_distributed(
                        example,
                        settings,
                        progress,
                        binding="http" if transport == "http" else "nats",
                        nats_url=nats,
                    )
                )
            progress.finish()

    _run(main)
    (outcome,) = outcomes
    elapsed = time.perf_counter() - started
    where = "in one process" if transport == "memory" else f"over {transport.upper()}"
    table = Table(*outcome.columns, title=f"{example.title} (seed {seed})")
    for row in outcome.rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"[bold]{outcome.headline}[/]")
    console.print(f"ran {where} in {elapsed:.1f} s", style="dim")
    if out is not None:
        for path in write_outcome(outcome, out):
            console.print(f"wrote {path}")


def write_outcome(outcome: Outcome, out: Path) -> list[Path]:
    """Write the result as JSON to ``out`` and each artifact beside it
    (``result.json`` -> ``result.gantt.svg``); returns the paths written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(outcome.data, indent=2) + "\n", "utf-8")
    written = [out]
    stem = out.name.removesuffix(".json")
    for suffix, text in outcome.artifacts.items():
        path = out.with_name(f"{stem}.{suffix}")
        path.write_text(text, "utf-8")
        written.append(path)
    return written


def _tour(seed: int, out: Path | None, graph_file: Path | None) -> None:
    """The five-role tour on a two-mill cell (in-process only)."""
    from agentlink.examples.tour import run_tour

    with console.status(f"running the tour (seed {seed})"):
        result = anyio.run(lambda: run_tour(seed=seed))
    table = Table("order", "mill", "finish (min)", "inspection", title="agentlink tour")
    for order, mill in result.assignments.items():
        table.add_row(order, mill, f"{result.finish[order]:.2f}", result.inspected[order])
    console.print(table)
    console.print(
        f"{result.agents} agents, makespan {result.makespan:.2f} min, "
        f"yield {result.yield_rate:.0%}, approved speed changes {result.speed_changes}"
    )
    if out is not None:
        out.write_text(json.dumps(result.summary(), indent=2) + "\n", "utf-8")
        console.print(f"result written to {out}")
    if graph_file is not None:
        graph_file.write_text(result.topology_dot, "utf-8")
        console.print(f"topology written to {graph_file}")
