"""The conformance suite is proven by mutants: against each deliberately broken
implementation, the requirement it breaks fails and nothing outside the units its defect
touches does; against the reference implementation every MUST of a claimed profile passes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance_tests"
sys.path.insert(0, str(SUITE / "mutants"))

from catalog import MUTANTS  # noqa: E402

sys.path.insert(0, str(SUITE))
from spec_index import requirements  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_suite(mutant: str, tmp: Path) -> dict[str, Any]:
    """Serve the fixture with ``mutant`` (``none``: unmodified) and run the whole suite."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(SUITE / "mutants" / "serve.py"), mutant, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        assert line.startswith("listening "), line + server.stdout.read().decode()
        report = tmp / f"{mutant}.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(SUITE),
                "--target",
                line.split()[1],
                "--report",
                str(report),
                "-p",
                "no:randomly",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
        result: dict[str, Any] = json.loads(report.read_text("utf-8"))
        result["exit_code"] = done.returncode
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


@cache
def reports(tmp: str) -> dict[str, dict[str, Any]]:
    """Every run, two at a time (this machine has two cores)."""
    names = ["none", *MUTANTS]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(names, pool.map(lambda n: run_suite(n, Path(tmp)), names), strict=True))
    results["none"]["wall_s"] = round(time.monotonic() - started, 1)
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return reports(str(tmp_path_factory.mktemp("mutants")))


def failed(report: dict[str, Any]) -> set[str]:
    return {rid for rid, row in report["requirements"].items() if row["status"] == "fail"}


def test_there_are_at_least_twenty_mutants() -> None:
    assert len(MUTANTS) >= 20
    known = requirements()
    for mutant in MUTANTS.values():
        assert mutant.violates <= set(known), mutant.name
        assert {known[r].unit for r in mutant.violates} <= mutant.units, mutant.name


def test_reference_passes_every_must_of_its_claimed_profiles(
    runs: dict[str, dict[str, Any]],
) -> None:
    baseline = runs["none"]
    assert baseline["exit_code"] == 0
    bad = {
        rid: row
        for rid, row in baseline["requirements"].items()
        if row["level"] == "MUST"
        and row["profile"] in baseline["claimed_profiles"]
        and row["status"] == "fail"
    }
    assert bad == {}
    for profile in baseline["claimed_profiles"]:
        if profile != "security":
            assert baseline["profiles"][profile]["must_fail"] == 0, profile


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught_by_its_requirement_and_nothing_unrelated(
    name: str, runs: dict[str, dict[str, Any]]
) -> None:
    mutant = MUTANTS[name]
    report = runs[name]
    broken = failed(report)
    assert mutant.violates <= broken, f"{name}: not caught; failed {sorted(broken)}"
    units = {rid: row["unit"] for rid, row in report["requirements"].items()}
    baseline_failures = failed(runs["none"])
    unrelated = {rid for rid in broken - baseline_failures if units[rid] not in mutant.units}
    assert unrelated == set(), f"{name} also failed unrelated requirements {sorted(unrelated)}"
    assert report["exit_code"] != 0, f"{name}: the suite run did not fail"
