"""Agent processes for the multi-process tests: start, wait for, stop, and the workflow
every binding must carry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from agentlink.model import AgentNotFound, Measurement, TransportError
from agentlink.runtime import Agent

HERE = Path(__file__).resolve().parent
FIVE_ROLES = {"cam-1", "cnc-1", "cnc-2", "planner", "kpi"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Bounded wait for another process to listen (there is no event to wait on)."""
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


@contextmanager
def processes(*commands: tuple[str, ...]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run each command as an ``agentlink`` process; stop them all, and fail on a crash."""
    started = [spawn(*command) for command in commands]
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        outputs = []
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            with process.stdout:
                outputs.append(process.stdout.read().decode(errors="replace"))
        for output in outputs:
            assert "Traceback" not in output, output


async def wait_for_agents(mes: Agent, wanted: set[str]) -> None:
    """Follow the registry's change feed until every wanted agent has registered."""
    runtime = mes.runtime
    assert runtime is not None
    while True:  # the registry process may still be starting: bounded by the caller
        try:
            seen = {card.id for card in await mes.discover()}
            break
        except (AgentNotFound, TransportError):
            await anyio.sleep(0.1)
    after = 0
    while not wanted <= seen:
        page = await runtime.peer("registry", address=runtime.registry_address).request(
            "registry/watch", {"after_seq": after, "wait_ms": 5000}
        )
        for change in page["changes"]:
            if change["kind"] in ("registered", "updated"):
                seen.add(change["agent_id"])
        after = page["last_seq"]


async def five_role_workflow(mes: Agent) -> None:
    """Demand releases orders; decision awards them by contract net to execution; perception
    inspects; evaluation scores; an actuation needs the decision agent's approval."""
    with anyio.fail_after(60):
        await wait_for_agents(mes, FIVE_ROLES | {mes.id})
    cards = await mes.discover()
    assert {card.role for card in cards} == {
        "perception",
        "demand",
        "execution",
        "decision",
        "evaluation",
    }
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

        task = await mes.peer("cnc-2").start_task("set_speed", rpm=5400)
        assert task.task.state == "input-required"
        assert await mes.peer("cnc-2").call("rpm") == {"rpm": 6000}
        approved = await mes.peer(planner.id).call("approve", agent_id="cnc-2", task_id=task.id)
        assert approved["state"] in ("working", "completed")
        assert await task.result(timeout=10) == {"rpm": 5400}
        assert await mes.peer("cnc-2").call("rpm") == {"rpm": 5400}
        assert (await mes.peer(kpi.id).call("report"))["orders"] == 3
