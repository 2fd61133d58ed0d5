"""``agentlink conformance run`` finds the suite and hands it the options; the fixture
served in-process with its registry."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agentlink
from agentlink.cli import app
from agentlink.cli._conformance import find_suite
from agentlink.conformance import FIXTURE_ID, serve_fixture
from agentlink.runtime import Runtime
from agentlink.transport import HttpTransport
from agentlink.transport._http_client import HttpClient

runner = CliRunner()

# A stand-in suite: it records the options it was given and passes.
FAKE_CONFTEST = """
import json, os

def pytest_addoption(parser):
    parser.addoption("--target")
    parser.addoption("--profile", action="append", default=[])
    parser.addoption("--level", default="may")
    parser.addoption("--report")

def pytest_configure(config):
    seen = {k: config.getoption(k) for k in ("target", "profile", "level", "report")}
    with open(os.path.join(os.path.dirname(__file__), "seen.json"), "w") as out:
        json.dump(seen, out)
"""


def fake_suite(root: Path) -> Path:
    suite = root / "conformance_tests"
    suite.mkdir()
    (suite / "conftest.py").write_text(FAKE_CONFTEST, "utf-8")
    (suite / "test_fake.py").write_text("def test_ok():\n    pass\n", "utf-8")
    return suite


def test_the_suite_in_the_current_directory_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = fake_suite(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_suite() == suite
    checkout = Path(agentlink.__file__).resolve().parents[1] / "conformance_tests"
    assert find_suite(tmp_path / "elsewhere") == (checkout if checkout.is_dir() else None)


def test_run_passes_the_options_to_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = fake_suite(tmp_path)
    monkeypatch.chdir(tmp_path)
    junit = tmp_path / "out.xml"
    result = runner.invoke(
        app,
        [
            "conformance",
            "run",
            "--target",
            "http://127.0.0.1:9",
            "--profile",
            "tools",
            "--profile",
            "core",
            "--level",
            "must",
            "--report",
            str(tmp_path / "report.json"),
            "--junit",
            str(junit),
        ],
    )
    assert result.exit_code == 0, result.output
    seen = json.loads((suite / "seen.json").read_text("utf-8"))
    assert seen == {
        "target": "http://127.0.0.1:9",
        "profile": ["tools", "core"],
        "level": "must",
        "report": str(tmp_path / "report.json"),
    }
    assert "<testsuite" in junit.read_text("utf-8")


@pytest.mark.parametrize(
    "arguments", [["--profile", "everything"], ["--level", "often"]], ids=["profile", "level"]
)
def test_run_refuses_unknown_profiles_and_levels(arguments: list[str]) -> None:
    result = runner.invoke(app, ["conformance", "run", "--target", "http://x", *arguments])
    assert result.exit_code == 2


def test_run_without_a_suite_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(agentlink, "__file__", str(tmp_path / "site" / "agentlink" / "x.py"))
    result = runner.invoke(app, ["conformance", "run", "--target", "http://x"])
    assert result.exit_code == 2
    assert "conformance_tests" in result.output


def test_fixture_needs_a_binding() -> None:
    assert runner.invoke(app, ["conformance", "fixture"]).exit_code == 2


@pytest.mark.anyio
async def test_serve_fixture_starts_once_the_fixture_is_registered() -> None:
    async with serve_fixture(HttpTransport()) as server:
        url = server.transport.url  # type: ignore[attr-defined]
        cards = server.registry.search(now=time.time(), agent_id=FIXTURE_ID)[0]
        assert [c.id for c in cards] == [FIXTURE_ID]
        client = HttpClient()
        try:
            root = await client.request("GET", f"{url}/.well-known/agentlink.json")
        finally:
            await client.aclose()
        assert json.loads(root.body)["id"] == FIXTURE_ID
        async with Runtime(transport=HttpTransport(serve=False), registry=None) as rt:
            peer = rt.peer(FIXTURE_ID, sender="probe", address=url)
            assert await peer.call("echo", text="at the root") == {"text": "at the root"}
            registry = rt.peer("registry", address=f"{url}/agents/registry")
            found = await registry.request("registry/search", {"tag": "conformance"})
            assert [c["id"] for c in found["agents"]] == [FIXTURE_ID]
