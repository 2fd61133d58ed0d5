"""Typer application: ``agentlink version``, ``agentlink schema export|check`` and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentlink import __version__
from agentlink.model import PROTOCOL_VERSION
from agentlink.model._schema import render_schemas

app = typer.Typer(
    name="agentlink",
    help="agentlink: interop for industrial AI agents.",
    no_args_is_help=True,
    add_completion=False,
)
schema_app = typer.Typer(help="Export or check the protocol's JSON Schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")

console = Console()
err_console = Console(stderr=True)

SchemaDir = Annotated[
    Path, typer.Option("--dir", help="Directory of the committed schemas.", file_okay=False)
]
DEFAULT_SCHEMA_DIR = Path("protocol/schemas")


@app.command()
def version() -> None:
    """Print the library and protocol versions."""
    console.print(f"agentlink {__version__} (protocol {PROTOCOL_VERSION})")


def stale_schemas(directory: Path) -> list[str]:
    """Relative paths under ``directory`` that are missing, differ, or should not exist."""
    wanted = render_schemas()
    stale = [
        rel
        for rel, text in wanted.items()
        if not (directory / rel).is_file() or (directory / rel).read_text("utf-8") != text
    ]
    if directory.is_dir():
        stale += [
            str(p.relative_to(directory))
            for p in sorted(directory.rglob("*.json"))
            if str(p.relative_to(directory)) not in wanted
        ]
    return sorted(stale)


@schema_app.command("export")
def schema_export(directory: SchemaDir = DEFAULT_SCHEMA_DIR) -> None:
    """Write every JSON Schema generated from the models into DIR."""
    wanted = render_schemas()
    for rel in stale_schemas(directory):
        path = directory / rel
        if rel in wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[rel], "utf-8")
        else:
            path.unlink()
    console.print(f"wrote {len(wanted)} schemas to {directory}")


@schema_app.command("check")
def schema_check(directory: SchemaDir = DEFAULT_SCHEMA_DIR) -> None:
    """Fail when the committed schemas in DIR differ from the models."""
    stale = stale_schemas(directory)
    if stale:
        for rel in stale:
            err_console.print(f"stale: {directory / rel}")
        err_console.print("run `agentlink schema export` and commit the result")
        raise typer.Exit(1)
    console.print(f"{len(render_schemas())} schemas up to date in {directory}")


def main() -> None:
    """Entry point of the ``agentlink`` script."""
    app()
