"""``agentlink demo``: job-shop by default, every example by name, results and charts
written on request, and the same result in one process and across processes."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentlink.cli import app
from agentlink.examples import EXAMPLES, Settings, load, run_in_process

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
WIDE = {"COLUMNS": "200"}


def test_demo_runs_job_shop_by_default(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["demo", "--fast", "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Job shop: ft06 dispatched by contract net" in result.output
    assert "ft06 makespan" in result.output
    data = json.loads(out.read_text("utf-8"))
    assert data["example"] == "job-shop"
    assert len(data["operations"]) == 36
    gantt = tmp_path / "result.gantt.svg"
    assert f"wrote {out}" in result.output
    assert f"wrote {gantt}" in result.output
    ET.fromstring(gantt.read_text("utf-8"))


def test_demo_energy_writes_its_profile_chart(tmp_path: Path) -> None:
    out = tmp_path / "energy" / "day.json"
    result = runner.invoke(app, ["demo", "energy", "--fast", "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "energy cost EUR" in result.output
    assert json.loads(out.read_text("utf-8"))["example"] == "energy"
    assert (tmp_path / "energy" / "day.profile.svg").is_file()


def test_demo_seed_changes_the_plant_and_repeats_exactly(tmp_path: Path) -> None:
    texts = []
    for name, seed in (("a.json", "3"), ("b.json", "3"), ("c.json", "4")):
        result = runner.invoke(
            app, ["demo", "energy", "--fast", "--seed", seed, "--out", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
        texts.append((tmp_path / name).read_text("utf-8"))
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_demo_refuses_what_it_cannot_run() -> None:
    for args in (
        ["demo", "nope"],
        ["demo", "job-shop", "--transport", "carrier-pigeon"],
        ["demo", "job-shop", "--transport", "http", "--nats", "nats://127.0.0.1:4222"],
        ["demo", "job-shop", "--graph", "topology.dot"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args


def test_every_example_is_offered() -> None:
    result = runner.invoke(app, ["demo", "--help"], env=WIDE)
    assert result.exit_code == 0
    for name in EXAMPLES:
        assert name in result.output


def test_the_tour_still_runs(tmp_path: Path) -> None:
    dot = tmp_path / "tour.dot"
    result = runner.invoke(app, ["demo", "tour", "--graph", str(dot)])
    assert result.exit_code == 0, result.output
    assert dot.read_text("utf-8").startswith("digraph agentlink {")


@pytest.mark.anyio
async def test_demo_over_http_writes_what_the_in_process_run_writes(tmp_path: Path) -> None:
    paths = {}
    for transport in ("memory", "http"):
        out = tmp_path / f"{transport}.json"
        command = [sys.executable, "-m", "agentlink", "demo", "job-shop", "--fast"]
        command += ["--transport", transport, "--out", str(out)]
        done = await anyio.run_process(command, check=False)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        assert b"Traceback" not in done.stdout + done.stderr
        paths[transport] = out
    assert paths["http"].read_text("utf-8") == paths["memory"].read_text("utf-8")
    gantts = [p.with_name(f"{p.stem}.gantt.svg").read_text("utf-8") for p in paths.values()]
    assert gantts[0] == gantts[1]


def test_the_docs_quote_the_headlines_a_default_run_prints() -> None:
    docs = " ".join((ROOT / "docs" / "examples.md").read_text("utf-8").split())
    for name in ("job-shop", "energy"):
        outcome = anyio.run(run_in_process, load(name), Settings(seed=7))
        assert f"`{outcome.headline}`" in docs, name
    for name in EXAMPLES:
        assert f"agentlink demo {name}" in docs


def test_the_examples_index_links_to_files_that_exist() -> None:
    index = ROOT / "examples" / "README.md"
    links = re.findall(r"\]\(([^)#]+)\)", index.read_text("utf-8"))
    assert links
    for link in links:
        assert (index.parent / link).resolve().exists(), link
