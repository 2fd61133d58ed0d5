"""The conformance suite and the spec agree: every MUST requirement has a test, every test
cites requirements that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance_tests"
SPEC = ROOT / "protocol" / "SPEC.md"
REQUIREMENT = re.compile(r"^- \*\*(ALP-[A-Z]+-[0-9]{3})\*\* \((MUST|SHOULD|MAY)\)", re.M)


def spec_levels() -> dict[str, str]:
    return dict(REQUIREMENT.findall(SPEC.read_text("utf-8")))


def cited() -> dict[str, list[str]]:
    """Requirement id -> the suite's test functions citing it (from ``@pytest.mark.req``)."""
    found: dict[str, list[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                if call is None or not isinstance(call.func, ast.Attribute):
                    continue
                if call.func.attr != "req":
                    continue
                for arg in call.args:
                    assert isinstance(arg, ast.Constant), (
                        f"{path.name}:{node.name}: literal ids only"
                    )
                    found.setdefault(str(arg.value), []).append(f"{path.name}::{node.name}")
    return found


def test_every_must_requirement_has_a_conformance_test() -> None:
    levels = spec_levels()
    tested = cited()
    missing = sorted(rid for rid, level in levels.items() if level == "MUST" and rid not in tested)
    assert missing == [], f"MUST requirements without a conformance test: {missing}"


def test_every_cited_requirement_exists() -> None:
    levels = spec_levels()
    unknown = {rid: tests for rid, tests in cited().items() if rid not in levels}
    assert unknown == {}, f"tests cite requirements the spec does not have: {unknown}"


def test_every_conformance_test_cites_a_requirement() -> None:
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names = [
                    d.func.attr
                    for d in node.decorator_list
                    if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                ]
                assert "req" in names, f"{path.name}::{node.name} cites no requirement"


def test_the_suite_imports_nothing_of_the_runtime() -> None:
    """Only the models and the codec may be imported: the suite judges by the wire."""
    allowed = ("agentlink.model", "agentlink.core._codec")
    for path in sorted(SUITE.rglob("*.py")):
        if "mutants" in path.parts:
            continue  # mutants are broken implementations, not part of the suite
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("agentlink"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
