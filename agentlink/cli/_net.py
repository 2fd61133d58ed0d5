"""Network commands: serve agents, run a registry, call, discover, follow events."""

from __future__ import annotations

import json
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
import typer
from rich.table import Table

from agentlink.model import AgentCard, AgentlinkError, RpcError
from agentlink.runtime import Agent, Runtime
from agentlink.transport import HttpTransport, Transport
from agentlink.transport._http_client import HttpClient

from ._common import agents_from, console, err_console, load_object

__all__ = ["register"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _transport(http: str | None, nats: str | None, *, serve: bool = True) -> Transport:
    if nats is not None:
        from agentlink.transport import NatsTransport

        transport: Transport = NatsTransport(nats)
        return transport
    if http is None:
        return HttpTransport(serve=serve)
    host, port = _split_listen(http)
    return HttpTransport(host=host, port=port, serve=serve)


async def _until_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def _run(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main``; a protocol or transport error is a one-line message and exit code 1."""
    try:
        anyio.run(main)
    except RpcError as exc:
        err_console.print(f"error {exc.code} {exc.name}: {exc.message}")
        if exc.data:
            err_console.print_json(data=exc.data)
        raise typer.Exit(1) from None
    except AgentlinkError as exc:
        err_console.print(f"error: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None


def _registry_option(registry: str | None) -> bool | str:
    return True if registry is None else registry


def serve(
    target: Annotated[str, typer.Argument(help="MODULE:OBJECT naming Agents or a factory.")],
    http: Annotated[str | None, typer.Option(help="Listen on HOST:PORT (HTTP).")] = None,
    nats: Annotated[str | None, typer.Option(help="Serve over this NATS server URL.")] = None,
    registry: Annotated[
        str | None, typer.Option(help="Address of the registry (default: serve one here).")
    ] = None,
) -> None:
    """Serve agents until interrupted; prints each agent's endpoint."""
    agents = agents_from(load_object(target))

    async def main() -> None:
        transport = _transport(http, nats)
        async with Runtime(agents=agents, transport=transport, registry=_registry_option(registry)):
            for agent in agents:
                for endpoint in agent.card.endpoints:
                    console.print(f"{agent.id} ({agent.role}) at {endpoint.url}")
            console.print("serving; Ctrl-C to stop", style="dim")
            await _until_signal()

    _run(main)


def registry_serve(
    http: Annotated[str | None, typer.Option(help="Listen on HOST:PORT (HTTP).")] = None,
    nats: Annotated[str | None, typer.Option(help="Serve over this NATS server URL.")] = None,
) -> None:
    """Run a registry service (leases, search, watch) until interrupted."""

    async def main() -> None:
        transport = _transport(http, nats)
        async with Runtime(transport=transport, registry=True):
            url = getattr(transport, "url", None)
            where = f"{url}/agents/registry" if url else f"{nats} (id 'registry')"
            console.print(f"registry at {where}")
            await _until_signal()

    _run(main)


async def _card_at(url: str) -> dict[str, Any]:
    client = HttpClient()
    try:
        response = await client.request("GET", url.rstrip("/") + "/.well-known/agentlink.json")
    finally:
        await client.aclose()
    if response.status != 200:
        raise typer.BadParameter(f"{url} answered HTTP {response.status}")
    card: dict[str, Any] = json.loads(response.body)
    return card


def call(
    url: Annotated[str, typer.Argument(help="Base URL of the agent (http://host:port/agents/ID).")],
    tool: Annotated[str, typer.Argument(help="Tool name.")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
    timeout: Annotated[float, typer.Option(help="Seconds before giving up.")] = 30.0,
    as_json: JsonFlag = False,
) -> None:
    """Call a tool of a remote agent and print its output."""
    try:
        arguments = json.loads(args)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--args is not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise typer.BadParameter("--args must be a JSON object")

    async def main() -> None:
        card = await _card_at(url)
        async with Runtime(transport=HttpTransport(serve=False), registry=None) as rt:
            output = await rt.peer(card["id"], sender="cli", address=url).call(
                tool, arguments, timeout=timeout
            )
        if as_json:
            print(json.dumps(output))
        else:
            console.print_json(data=output)

    _run(main)


def discover(
    registry: Annotated[
        str,
        typer.Option(help="Registry address (http://.../agents/registry, or 'registry' on NATS)."),
    ] = "registry",
    nats: Annotated[str | None, typer.Option(help="Search over this NATS server.")] = None,
    role: Annotated[str | None, typer.Option(help="perception, demand, execution, ...")] = None,
    capability: Annotated[str | None, typer.Option(help="Capability or its dotted prefix.")] = None,
    tool: Annotated[str | None, typer.Option(help="Tool name.")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset id.")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search a registry for agents."""

    async def main() -> None:
        async with Runtime(transport=_transport(None, nats, serve=False), registry=registry) as rt:
            cards = await rt.discover(
                role=role, capability=capability, tool=tool, asset=asset, tag=tag
            )
        if as_json:
            print(json.dumps([c.to_wire() for c in cards]))
            return
        table = Table("id", "role", "capabilities", "tools", "endpoint", title="agents")
        for card in cards:
            table.add_row(
                card.id,
                card.role,
                ", ".join(card.capabilities),
                ", ".join(t.name for t in card.tools),
                card.endpoints[0].url if card.endpoints else "",
            )
        console.print(table)

    _run(main)


def events(
    url: Annotated[str, typer.Argument(help="Base URL of the publishing agent.")],
    topic: Annotated[str, typer.Argument(help="Topic pattern (`*` one token, `>` the rest).")],
    after: Annotated[int, typer.Option(help="Resume after this sequence number.")] = 0,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Follow an agent's events (Server-Sent Events), resuming after a sequence number."""

    async def main() -> None:
        client = HttpClient()
        seen = 0
        try:
            stream = f"{url.rstrip('/')}/events?topic={topic}&after_seq={after}"
            async for status, line in client.stream_lines(stream):
                if status != 200:
                    raise typer.BadParameter(f"{url} answered HTTP {status}")
                if not line.startswith(b"data: "):
                    continue
                event = json.loads(line[6:])
                if as_json:
                    print(json.dumps(event), flush=True)
                else:
                    console.print(
                        f"[bold]{event['seq']}[/] {event['topic']} {json.dumps(event['data'])}"
                    )
                seen += 1
                if count is not None and seen >= count:
                    return
        finally:
            await client.aclose()

    _run(main)


def card_command(target: str) -> None:
    """Print an agent's card: from a URL, or from MODULE:OBJECT."""
    if target.startswith("http://"):
        card = anyio.run(_card_at, target)
        AgentCard.model_validate(card)
        print(json.dumps(card, indent=2))
        return
    agents: list[Agent] = agents_from(load_object(target))
    cards = [a.card.to_wire() for a in agents]
    print(json.dumps(cards[0] if len(cards) == 1 else cards, indent=2))


def register(app: typer.Typer, registry_app: typer.Typer) -> None:
    """Add the network commands to the CLI."""
    app.command()(serve)
    app.command()(call)
    app.command()(discover)
    app.command()(events)
    registry_app.command("serve")(registry_serve)
