"""A real nats-server with JetStream, on a free port of 127.0.0.1, for the NATS tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio.to_thread

NATS_SERVER = Path(sys.executable).parent / "nats-server"
START_WITHIN = 10.0  # seconds a starting server may take to accept connections


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process; :meth:`restart` keeps its port and its JetStream store.

    ``config`` is a server configuration file (authorization, permissions) read as well;
    ``jetstream=False`` starts the server without JetStream.
    """

    def __init__(self, store: Path, *, config: Path | None = None, jetstream: bool = True) -> None:
        self.port = free_port()
        self.store = store
        self.config = config
        self.jetstream = jetstream
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            command += ["-js", "-sd", str(self.store)]
        if self.config is not None:
            command += ["-c", str(self.config)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_WITHIN
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nats-server did not listen in {START_WITHIN} s") from exc
                time.sleep(0.01)  # bounded polling of the port, as the server starts

    def stop(self) -> None:
        """Kill the server (as a crash would) and wait until it is gone."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    async def astop(self) -> None:
        await anyio.to_thread.run_sync(self.stop)

    async def arestart(self) -> None:
        await anyio.to_thread.run_sync(self.restart)
