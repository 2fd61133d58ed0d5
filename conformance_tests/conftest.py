"""The conformance suite's pytest plugin: target selection, requirement markers, profile
logic (the OPC UA model) and the reports.

Run against any implementation that serves the conformance fixture agent::

    pytest conformance_tests --target http://127.0.0.1:8700 [--profile tools] \\
        [--level must] [--report report.json] [--junitxml report.xml]

Each test cites the requirements it checks with ``@pytest.mark.req("ALP-TOOL-004", ...)``.
Results are gathered per requirement, per conformance unit and per profile. A failure
counts against the run only when the test checks a MUST requirement of a profile the
target claims in its card; failures elsewhere are reported (profile not claimed, or a
SHOULD/MAY requirement) but do not fail the run.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spec_index import LEVELS, profiles, requirements
from wire import Target

_RESULTS: dict[str, list[tuple[str, str]]] = defaultdict(list)  # requirement -> [(test, outcome)]
_STATE: dict[str, Any] = {
    "claimed": [],
    "card": None,
    "target": None,
    "bindings": {"http"},
    "started": time.time(),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentlink conformance")
    group.addoption("--target", help="Base URL of the agent under test (it must be the fixture).")
    group.addoption(
        "--profile",
        action="append",
        default=[],
        help="Run only tests of this profile (repeatable). Default: every profile.",
    )
    group.addoption(
        "--level",
        choices=["must", "should", "may"],
        default="may",
        help="Lowest requirement level to test: must, should or may (default: all).",
    )
    group.addoption("--report", help="Write a JSON report (per requirement, unit, profile) here.")
    group.addoption(
        "--nats", help="NATS server URL where the target also serves (enables the nats units)."
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): the requirement ids a test checks")


def _cited(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers("req") for rid in mark.args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reqs = requirements()
    wanted_profiles = set(config.getoption("--profile") or [])
    lowest = LEVELS.index(config.getoption("--level").upper())
    keep, drop = [], []
    for item in items:
        cited = _cited(item)
        unknown = [rid for rid in cited if rid not in reqs]
        if not cited or unknown:
            raise pytest.UsageError(f"{item.nodeid} cites no or unknown requirements: {unknown}")
        item_profiles = {reqs[rid].profile for rid in cited}
        item_level = min(LEVELS.index(reqs[rid].level) for rid in cited)
        if (wanted_profiles and not item_profiles & wanted_profiles) or item_level > lowest:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    url = pytestconfig.getoption("--target")
    if not url:
        pytest.exit("give the agent under test with --target URL", returncode=4)
    client = Target(url)
    card = client.card()
    if card.get("id") != "fixture":
        pytest.exit(
            f"the target must serve the conformance fixture agent, not {card.get('id')!r}", 4
        )
    claimed = list(card.get("profiles", []))
    # The registry is an agent of its own: the profiles it claims (discovery) count too.
    registry = Target(f"http://{client.host}:{client.port}/agents/registry")
    try:
        claimed += [p for p in registry.card().get("profiles", []) if p not in claimed]
    except (AssertionError, OSError):
        pass  # no registry served: discovery is simply not claimed
    finally:
        registry.close()
    client.claimed = frozenset(claimed)
    client.tools = frozenset(t["name"] for t in card.get("tools", []))
    _STATE.update(
        claimed=claimed,
        card=card,
        target=url,
        bindings={"http"} | ({"nats"} if pytestconfig.getoption("--nats") else set()),
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def card(target: Target) -> dict[str, Any]:
    return dict(_STATE["card"])


@pytest.fixture
def fresh(target: Target) -> Iterator[Target]:
    """A second client with its own connection and sender id (for isolation)."""
    client = Target(target.url, sender=f"suite-{time.monotonic_ns()}")
    client.claimed, client.tools = target.claimed, target.tools
    yield client
    client.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    state = "passed" if report.passed else "skipped" if report.skipped else "failed"
    reqs = requirements()
    cited = _cited(item)
    for rid in cited:
        _RESULTS[rid].append((item.nodeid, state))
    if state != "failed":
        return
    claimed = set(_STATE["claimed"])
    binding = {"http", "nats"}
    binding_only = all(reqs[r].unit.split("-")[0] in binding for r in cited)
    counts = any(
        reqs[r].level == "MUST" and (reqs[r].profile in claimed or binding_only) for r in cited
    )
    if not counts:
        why = "profile not claimed" if any(reqs[r].level == "MUST" for r in cited) else "warning"
        report.outcome = "skipped"
        report.longrepr = (
            str(item.path),
            item.location[1] or 0,
            f"{why}: failed ({', '.join(cited)})",
        )


def summarize() -> dict[str, Any]:
    """Per requirement, per unit and per profile outcome of this run."""
    reqs = requirements()
    claimed = set(_STATE["claimed"])
    per_req: dict[str, dict[str, Any]] = {}
    for rid, requirement in reqs.items():
        runs = _RESULTS.get(rid, [])
        outcomes = {state for _, state in runs}
        status = "fail" if "failed" in outcomes else "pass" if "passed" in outcomes else "untested"
        if outcomes == {"skipped"}:
            status = "n/a"  # every test of it found the feature absent (a scheme not offered)
        binding = requirement.unit.split("-")[0]
        if (
            status == "untested"
            and binding in ("http", "nats")
            and binding not in _STATE["bindings"]
        ):
            status = "n/a"  # a binding unit of a binding the target does not serve
        per_req[rid] = {
            "level": requirement.level,
            "unit": requirement.unit,
            "profile": requirement.profile,
            "status": status,
            "tests": [nodeid for nodeid, _ in runs],
        }
    per_unit: dict[str, dict[str, Any]] = {}
    per_profile: dict[str, dict[str, Any]] = {}
    for row in per_req.values():
        unit = per_unit.setdefault(
            row["unit"], {"profile": row["profile"], "pass": 0, "fail": 0, "untested": 0, "n/a": 0}
        )
        unit[row["status"]] += 1
        prof = per_profile.setdefault(
            row["profile"],
            {
                "claimed": row["profile"] in claimed,
                "must_pass": 0,
                "must_fail": 0,
                "must_untested": 0,
                "warnings": 0,
            },
        )
        if row["level"] == "MUST" and row["status"] != "n/a":
            prof[f"must_{row['status']}"] += 1
        elif row["status"] == "fail":
            prof["warnings"] += 1
    for _name, prof in per_profile.items():
        prof["passed"] = (
            prof["must_fail"] == 0 and prof["must_pass"] > 0 and prof["must_untested"] == 0
        )
    return {
        "target": _STATE["target"],
        "claimed_profiles": sorted(claimed),
        "duration_s": round(time.time() - _STATE["started"], 2),
        "profiles": {p: per_profile[p] for p in profiles() if p in per_profile},
        "units": per_unit,
        "requirements": per_req,
    }


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _STATE["target"] is None:
        return
    summary = summarize()
    path = config.getoption("--report")
    if path:
        Path(path).write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is optional for the suite
        terminalreporter.write_line(json.dumps(summary["profiles"], indent=2))
        return
    table = Table(title=f"AgentLink 0.1 conformance of {summary['target']}")
    for column in (
        "profile",
        "claimed",
        "MUST pass",
        "MUST fail",
        "untested",
        "warnings",
        "verdict",
    ):
        table.add_column(column)
    for name, prof in summary["profiles"].items():
        verdict = "pass" if prof["passed"] else ("FAIL" if prof["claimed"] else "-")
        if not prof["claimed"] and prof["passed"]:
            verdict = "passes (not claimed)"
        table.add_row(
            name,
            "yes" if prof["claimed"] else "no",
            str(prof["must_pass"]),
            str(prof["must_fail"]),
            str(prof["must_untested"]),
            str(prof["warnings"]),
            verdict,
        )
    Console(file=terminalreporter._tw._file, force_terminal=False, width=110).print(table)
    failed = [rid for rid, row in summary["requirements"].items() if row["status"] == "fail"]
    if failed:
        terminalreporter.write_line("failed requirements: " + ", ".join(sorted(failed)))
