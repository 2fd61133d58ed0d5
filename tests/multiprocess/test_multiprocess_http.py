"""Agents in separate OS processes find each other through the registry and complete a
five-role workflow over HTTP; the command line reaches them too."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import anyio
import pytest
from procs import (
    FIVE_ROLES,
    five_role_workflow,
    free_port,
    processes,
    wait_for_agents,
    wait_for_port,
)

from agentlink.model import Measurement
from agentlink.runtime import Agent, Runtime
from agentlink.transport import HttpTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def plant() -> Iterator[str]:
    """A registry process and three agent processes; yields the registry's address."""
    port = free_port()
    registry = f"http://127.0.0.1:{port}/agents/registry"
    serve = ("--http", "127.0.0.1:0", "--registry", registry)
    with processes(("registry", "serve", "--http", f"127.0.0.1:{port}")):
        wait_for_port(port)
        with processes(
            *[("serve", f"plant:{group}", *serve) for group in ("vision", "mills", "control")]
        ):
            yield registry


async def test_five_roles_in_four_processes_over_http(plant: str) -> None:
    mes = Agent("mes", role="demand", capabilities=["orders.release"])
    async with Runtime(agents=[mes], transport=HttpTransport(), registry=plant):
        await five_role_workflow(mes)
        endpoints = {card.id: card.endpoints[0].url for card in await mes.discover()}
        ports = {url.split(":")[2].split("/")[0] for url in endpoints.values()}
        assert len(ports) == 4, endpoints  # mes and three agent processes


async def cli(*args: str) -> str:
    result = await anyio.run_process([sys.executable, "-m", "agentlink", *args], check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def test_cli_talks_to_agents_in_other_processes(plant: str) -> None:
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[mes], transport=HttpTransport(), registry=plant):
        with anyio.fail_after(60):
            await wait_for_agents(mes, FIVE_ROLES)
        (camera,) = await mes.discover(role="perception")
        url = camera.endpoints[0].url
        with anyio.fail_after(60):
            found = json.loads(
                await cli("discover", "--registry", plant, "--role", "execution", "--json")
            )
            assert sorted(card["id"] for card in found) == ["cnc-1", "cnc-2"]
            card = json.loads(await cli("card", url))
            assert card["id"] == "cam-1"
            output = json.loads(
                await cli("call", url, "inspect", "--args", '{"part": "ord-9"}', "--json")
            )
            assert Measurement.model_validate(output).asset_id == "ord-9"
            for text in ("a", "b", "c"):
                await mes.peer("cam-1").call("announce", text=text)
            lines = await cli("events", url, "vision.*", "--after", "1", "--count", "2", "--json")
            events = [json.loads(line) for line in lines.splitlines()]
            assert [(e["seq"], e["data"]["text"]) for e in events] == [(2, "b"), (3, "c")]
            failed = await anyio.run_process(
                [sys.executable, "-m", "agentlink", "call", url, "no_such_tool"], check=False
            )
            assert failed.returncode == 1
            assert b"-32011 tool_not_found" in failed.stderr
