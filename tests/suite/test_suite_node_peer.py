"""A second, independent implementation (Node.js, standard library only, written from the
spec alone) passes the suite for the profiles it claims: the standard is language-neutral."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / "conformance_tests" / "peers" / "node"
NODE = shutil.which("node")


@pytest.fixture
def node_server() -> str:
    assert NODE is not None, "node is required (the second implementation runs on it)"
    server = subprocess.Popen(
        [NODE, str(PEER / "server.js"), "--port", "0", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        assert line.startswith("listening "), line + server.stdout.read().decode()
        yield line.split()[1]
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_node_peer_passes_core_and_tools(node_server: str, tmp_path: Path) -> None:
    report = tmp_path / "node.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "conformance_tests"),
            "--target",
            node_server,
            "--profile",
            "core",
            "--profile",
            "tools",
            "--report",
            str(report),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads(report.read_text("utf-8"))
    assert summary["claimed_profiles"] == ["core", "tools"]
    for profile in ("core", "tools"):
        row = summary["profiles"][profile]
        assert row["must_fail"] == 0, (profile, row)
        assert row["must_pass"] > 0, (profile, row)


def test_node_peer_self_test() -> None:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--test", str(PEER / "selftest.js")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
