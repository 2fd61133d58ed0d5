"""Agents in separate OS processes find each other through the registry and complete a
five-role workflow over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from agentlink.model import Measurement
from agentlink.runtime import Agent, Runtime
from agentlink.transport import HttpTransport

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "agentlink", *args],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def plant() -> Iterator[str]:
    """A registry process and three agent processes; yields the registry's address."""
    port = free_port()
    registry = f"http://127.0.0.1:{port}/agents/registry"
    processes = [spawn("registry", "serve", "--http", f"127.0.0.1:{port}")]
    try:
        wait_for_port(port)
        for group in ("vision", "mills", "control"):
            processes.append(
                spawn("serve", f"plant:{group}", "--http", "127.0.0.1:0", "--registry", registry)
            )
        yield registry
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        outputs = []
        for process in processes:
            assert process.stdout is not None
            with process.stdout:
                outputs.append(process.stdout.read().decode(errors="replace"))
        for output in outputs:
            assert "Traceback" not in output, output


async def wait_for_agents(mes: Agent, wanted: set[str]) -> None:
    """Follow the registry's change feed until every wanted agent has registered."""
    runtime = mes.runtime
    assert runtime is not None
    seen = {card.id for card in await mes.discover()}
    after = 0
    while not wanted <= seen:
        page = await runtime.peer("registry", address=runtime.registry_address).request(
            "registry/watch", {"after_seq": after, "wait_ms": 5000}
        )
        for change in page["changes"]:
            if change["kind"] in ("registered", "updated"):
                seen.add(change["agent_id"])
        after = page["last_seq"]


async def test_five_roles_in_four_processes_over_http(plant: str) -> None:
    mes = Agent("mes", role="demand", capabilities=["orders.release"])
    async with Runtime(agents=[mes], transport=HttpTransport(), registry=plant):
        with anyio.fail_after(60):
            await wait_for_agents(mes, {"cam-1", "cnc-1", "cnc-2", "planner", "kpi"})
        roles = {card.role for card in await mes.discover()}
        assert roles == {"perception", "demand", "execution", "decision", "evaluation"}
        endpoints = {card.id: card.endpoints[0].url for card in await mes.discover()}
        ports = {url.split(":")[2].split("/")[0] for url in endpoints.values()}
        assert len(ports) == 4, endpoints  # four processes serve the five roles

        with anyio.fail_after(60):
            (camera,) = await mes.discover(capability="vision.inspection")
            (planner,) = await mes.discover(role="decision")
            (kpi,) = await mes.discover(role="evaluation")
            for order, minutes in (("ord-1", 12.0), ("ord-2", 9.0), ("ord-3", 6.0)):
                award = await mes.peer(planner.id).call("dispatch", order=order, minutes=minutes)
                assert award["bids"] == 2
                assert award["winner"] == "cnc-2"  # the faster mill finishes first
                reading = Measurement.model_validate(
                    await mes.peer(camera.id).call("inspect", part=order)
                )
                assert reading.unit == "MMT"
                assert isinstance(reading.value, float)
                await mes.peer(kpi.id).call("score", order=order, roughness=reading.value)

            # An actuation requested by demand, approved by decision, in a third process.
            task = await mes.peer("cnc-2").start_task("set_speed", rpm=5400)
            assert task.task.state == "input-required"
            assert await mes.peer("cnc-2").call("rpm") == {"rpm": 6000}
            approved = await mes.peer(planner.id).call("approve", agent_id="cnc-2", task_id=task.id)
            assert approved["state"] in ("working", "completed")
            assert await task.result(timeout=10) == {"rpm": 5400}
            assert await mes.peer("cnc-2").call("rpm") == {"rpm": 5400}

            report = await mes.peer(kpi.id).call("report")
            assert report["orders"] == 3


async def cli(*args: str) -> str:
    result = await anyio.run_process([sys.executable, "-m", "agentlink", *args], check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def test_cli_talks_to_agents_in_other_processes(plant: str) -> None:
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[mes], transport=HttpTransport(), registry=plant):
        with anyio.fail_after(60):
            await wait_for_agents(mes, {"cam-1", "cnc-1", "cnc-2", "planner", "kpi"})
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
