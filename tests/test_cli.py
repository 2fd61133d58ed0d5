"""The command line: version, demo, card, graph, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentlink.cli import app
from agentlink.model import ERROR_CLASSES, AgentCard

runner = CliRunner()


def test_version_names_the_protocol() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert "agentlink/0.1" in result.output


def test_demo_runs_the_tour_and_writes_its_result(tmp_path: Path) -> None:
    out, dot = tmp_path / "tour.json", tmp_path / "tour.dot"
    result = runner.invoke(
        app, ["demo", "tour", "--seed", "7", "--out", str(out), "--graph", str(dot)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text("utf-8"))
    assert summary["orders"] == 6
    assert set(summary["assignments"].values()) <= {"cnc-1", "cnc-2"}
    assert summary["makespan"] == max(summary["finish"].values())
    fails = [o for o, v in summary["inspected"].items() if v == "fail"]
    assert len(summary["speed_changes"]) == len(fails)
    assert summary["yield"] == (summary["orders"] - len(fails)) / summary["orders"]
    assert dot.read_text("utf-8").startswith("digraph agentlink {")
    assert '"agent:planner" -> "agent:cnc-1"' in dot.read_text("utf-8")


def test_demo_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    outputs = []
    for name in ("a.json", "b.json"):
        runner.invoke(app, ["demo", "tour", "--seed", "3", "--out", str(tmp_path / name)])
        outputs.append((tmp_path / name).read_text("utf-8"))
    assert outputs[0] == outputs[1]


def test_unknown_demo_is_refused() -> None:
    result = runner.invoke(app, ["demo", "nope"])
    assert result.exit_code != 0


def test_card_prints_a_valid_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mycell.py").write_text(
        "from agentlink.runtime import Agent\n"
        "press = Agent('press-1', role='execution', capabilities=['forming.press'])\n"
        "@press.tool\n"
        "async def stroke(force_kn: float) -> dict[str, float]:\n"
        "    return {'force_kn': force_kn}\n",
        "utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["card", "mycell:press"])
    assert result.exit_code == 0, result.output
    card = AgentCard.model_validate_json(result.output)
    assert card.id == "press-1"
    assert [t.name for t in card.tools] == ["stroke"]
    graph = runner.invoke(app, ["graph", "mycell:press", "--format", "json"])
    assert graph.exit_code == 0, graph.output
    nodes = {n["id"] for n in json.loads(graph.output)["nodes"]}
    assert "agent:press-1" in nodes
    bad = runner.invoke(app, ["card", "mycell:nothing"])
    assert bad.exit_code != 0


def test_errors_lists_every_code() -> None:
    result = runner.invoke(app, ["errors"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for code, cls in ERROR_CLASSES.items():
        assert str(code) in result.output
        assert cls.name in result.output
