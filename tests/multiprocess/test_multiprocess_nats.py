"""The same five-role workflow with every process on one NATS server; events cross
processes on NATS subjects."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from procs import FIVE_ROLES, five_role_workflow, processes, wait_for_agents

from agentlink.runtime import Agent, Runtime
from agentlink.transport import NatsTransport
from tests.transport.nats_helpers import NatsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def nats_plant(tmp_path: Path) -> Iterator[str]:
    """A nats-server, a registry process and three agent processes; yields the NATS URL."""
    server = NatsServer(tmp_path / "js")
    server.start()
    try:
        serve = ("--nats", server.url, "--registry", "registry")
        with (
            processes(("registry", "serve", "--nats", server.url)),
            processes(
                *[("serve", f"plant:{group}", *serve) for group in ("vision", "mills", "control")]
            ),
        ):
            yield server.url
    finally:
        server.stop()


async def test_five_roles_in_four_processes_over_nats(nats_plant: str) -> None:
    mes = Agent("mes", role="demand", capabilities=["orders.release"])
    async with Runtime(agents=[mes], transport=NatsTransport(nats_plant), registry="registry"):
        await five_role_workflow(mes)
        cards = {card.id: card for card in await mes.discover()}
        assert {e.binding for card in cards.values() for e in card.endpoints} == {"nats"}
        # An event published in the camera's process reaches the evaluation agent's
        # subscription in the control process, over NATS.
        with anyio.fail_after(30):
            for text in ("lens clean", "lot 7 start"):
                await mes.peer("cam-1").call("announce", text=text)
            assert await mes.peer("kpi").call("wait_notes", count=2) == [
                "lens clean",
                "lot 7 start",
            ]


async def test_cli_discovers_over_nats(nats_plant: str) -> None:
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[mes], transport=NatsTransport(nats_plant), registry="registry"):
        with anyio.fail_after(60):
            await wait_for_agents(mes, FIVE_ROLES)
            result = await anyio.run_process(
                [
                    sys.executable,
                    "-m",
                    "agentlink",
                    "discover",
                    "--nats",
                    nats_plant,
                    "--capability",
                    "machining",
                    "--json",
                ],
                check=False,
            )
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(card["id"] for card in json.loads(result.stdout)) == ["cnc-1", "cnc-2"]
