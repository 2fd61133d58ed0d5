"""Typer application: ``agentlink version``, ``agentlink schema export|check`` and friends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agentlink import __version__
from agentlink.discovery import Topology
from agentlink.model import ERROR_CLASSES, PROTOCOL_VERSION
from agentlink.model._schema import render_schemas

from ._audit import audit_app
from ._common import agents_from, console, err_console, load_object
from ._conformance import conformance_app
from ._demo import demo
from ._keys import keys_app
from ._net import card_command, register

app = typer.Typer(
    name="agentlink",
    help="agentlink: interop for industrial AI agents.",
    no_args_is_help=True,
    add_completion=False,
)
schema_app = typer.Typer(help="Export or check the protocol's JSON Schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
registry_app = typer.Typer(help="Run the agent registry.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(conformance_app, name="conformance")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")

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


@app.command()
def card(
    target: Annotated[str, typer.Argument(help="An agent's base URL, or MODULE:OBJECT.")],
) -> None:
    """Print an agent's card as JSON."""
    card_command(target)


@app.command()
def graph(
    target: Annotated[str, typer.Argument(help="MODULE:OBJECT naming Agents or a factory.")],
    fmt: Annotated[str, typer.Option("--format", help="dot or json")] = "dot",
) -> None:
    """Print the topology of a set of agents (agents, capabilities, tools, assets)."""
    if fmt not in ("dot", "json"):
        raise typer.BadParameter("--format is dot or json")
    topology = Topology()
    for agent in agents_from(load_object(target)):
        topology.add_card(agent.card)
    print(topology.to_dot() if fmt == "dot" else json.dumps(topology.to_json(), indent=2))


@app.command()
def errors() -> None:
    """List the protocol's error codes."""
    table = Table("code", "name", "meaning", title=f"{PROTOCOL_VERSION} errors")
    for code, cls in sorted(ERROR_CLASSES.items(), key=lambda item: -item[0]):
        table.add_row(str(code), cls.name, cls.meaning)
    console.print(table)


app.command()(demo)
register(app, registry_app)


def main() -> None:
    """Entry point of the ``agentlink`` script."""
    app()
