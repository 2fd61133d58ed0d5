"""``python -m bench --quick`` runs every group and writes a well-formed report.

Timings are never asserted: only that each group ran, each figure is a positive number with
a unit, and each ratio is its figure divided by its floor. The A2A and MCP groups run only
with their SDKs, which the dev extra installs (``agentlink[bench]``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._run import GROUPS
from bench._targets import TARGETS

ROOT = Path(__file__).resolve().parent.parent


def _check_figures(name: str, group: dict[str, Any]) -> None:
    figures = {figure["name"]: figure for figure in group["figures"]}
    assert figures, f"group {name} has no figures"
    assert len(figures) == len(group["figures"]), f"group {name} repeats a figure name"
    for figure in group["figures"]:
        where = f"{name}: {figure['name']}"
        value = figure["value"]
        assert isinstance(value, float | int), where
        assert math.isfinite(value), where
        assert value > 0, where
        assert figure["unit"], where
        assert figure["better"] in ("lower", "higher"), where
        for kind in ("floor", "anchor"):
            reference = figure[kind]
            ratio = figure["ratio" if kind == "floor" else "anchor_ratio"]
            if reference is None:
                assert figure[f"{kind}_value"] is None, where
                assert ratio is None, where
                continue
            assert reference in figures, f"{where}: no {kind} figure {reference!r}"
            assert figure[f"{kind}_value"] == figures[reference]["value"], where
            assert math.isclose(ratio, value / figures[reference]["value"], rel_tol=1e-9), where


def test_quick_run_reports_every_group(tmp_path: Path) -> None:
    # The dev extra installs the comparison SDKs: every group runs, none is skipped.
    selected = list(GROUPS)
    report_path = tmp_path / "bench.json"
    markdown_path = tmp_path / "bench.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--json",
            str(report_path),
            "--markdown",
            str(markdown_path),
            "--only",
            *selected,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "targets" in done.stdout
    report = json.loads(report_path.read_text())
    markdown = markdown_path.read_text()
    for heading in ("### Tool calls", "### Other figures", "### Targets"):
        assert heading in markdown
    table_rows = [line for line in markdown.splitlines() if line.startswith("|")]
    for target in report["targets"]:
        assert any(target["text"] in row for row in table_rows), target["text"]

    assert report["quick"] is True
    assert report["seconds"] > 0
    machine = report["machine"]
    for key in ("cpu", "cores", "python", "os", "packages"):
        assert machine[key], key
    assert "agentlink" in machine["packages"]

    assert list(report["groups"]) == selected
    for name, group in report["groups"].items():
        assert group["status"] == "ok", f"{name}: {group['status']} {group['note']}"
        assert group["seconds"] > 0
        _check_figures(name, group)

    assert [target["id"] for target in report["targets"]] == [t.id for t in TARGETS]
    for target in report["targets"]:
        assert target["op"] in ("<=", ">=")
        assert target["met"] in (True, False, None)
        if target["measured"] is None:
            assert target["met"] is None, target["id"]
        else:
            assert target["measured"] > 0, target["id"]
