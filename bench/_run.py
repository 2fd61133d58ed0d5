"""One benchmark run: the selected groups in order, the report, the targets."""

from __future__ import annotations

import io
import logging
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import anyio
from rich.console import Console

from . import _calls, _codec, _events, _footprint, _registry, _sdks
from ._procs import Resources, Unavailable
from ._report import Group, Report, machine_info
from ._settings import Settings
from ._targets import evaluate

__all__ = ["GROUPS", "Options", "run"]

GroupRun = Callable[[Group, Settings], Awaitable[None]]

#: Every group, in the order they run: name -> (title, what measures it).
GROUPS: dict[str, tuple[str, GroupRun]] = {
    "inproc": ("tool calls in process (memory binding)", _calls.inproc),
    "http": ("tool calls over HTTP, server in another process", _calls.http),
    "nats": ("tool calls over NATS, responder in another process", _calls.nats),
    "a2a": ("A2A SDK message send over HTTP", _sdks.a2a),
    "mcp": ("MCP SDK call_tool, in process and over Streamable HTTP", _sdks.mcp),
    "codec": ("codec and validation per message", _codec.codec),
    "registry": ("registry search as the registry grows", _registry.registry),
    "events": ("event fan-out, 1 publisher to 100 subscribers", _events.events),
    "footprint": ("memory per idle agent and per open task", _footprint.footprint),
}


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool = False
    json: Path | None = None
    markdown: Path | None = None
    only: tuple[str, ...] = ()


async def _run_groups(options: Options, report: Report, console: Console) -> None:
    async with AsyncExitStack() as stack:
        settings = Settings.make(quick=options.quick, resources=Resources(stack))
        for name, (title, measure) in GROUPS.items():
            if options.only and name not in options.only:
                continue
            group = Group(name, title)
            report.groups[name] = group
            start = time.perf_counter()
            with console.status(f"{name}: {title}"):
                try:
                    await measure(group, settings)
                except Unavailable as exc:
                    group.status, group.note, group.figures = "skipped", str(exc), []
                except Exception as exc:
                    traceback.print_exc()
                    group.status, group.note, group.figures = "failed", repr(exc), []
            group.seconds = time.perf_counter() - start
            console.log(f"{name}: {group.status} in {group.seconds:.1f} s")


def run(options: Options) -> int:
    """Run, print the tables, write the JSON; 1 when a group failed."""
    # The servers' and clients' own logs are not the benchmark's output.
    logging.basicConfig(level=logging.ERROR)
    # A table cut to 80 columns in a log file or CI output is hard to read.
    console = Console(width=None if sys.stdout.isatty() else 150)
    report = Report(quick=options.quick, machine=machine_info())
    start = time.perf_counter()
    anyio.run(_run_groups, options, report, console)
    report.seconds = time.perf_counter() - start
    report.targets = evaluate(report)
    report.render(console)
    if options.markdown is not None:
        buffer = io.StringIO()
        report.render(Console(file=buffer, width=1000, no_color=True), markdown=True)
        lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
        options.markdown.write_text(text, encoding="utf-8")
        console.print(f"Markdown written to {options.markdown}")
    if options.json is not None:
        import orjson

        options.json.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
        console.print(f"JSON written to {options.json}")
    failed = [g.name for g in report.groups.values() if g.status == "failed"]
    if failed:
        print(f"failed groups: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
