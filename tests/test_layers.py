"""Imports point down only: model -> core -> transport -> discovery/runtime -> cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentlink"

# Each layer may import itself and the layers listed for it, and nothing else of agentlink.
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "core": {"model"},
    "transport": {"model", "core", "security"},
    "discovery": {"model", "core", "security", "transport"},
    "runtime": {"model", "core", "security", "transport", "discovery"},
    "security": {"model", "core"},
    "testing": {"model", "core", "security", "transport", "discovery", "runtime"},
    "examples": {"model", "core", "security", "transport", "discovery", "runtime", "testing"},
    "conformance": {"model", "core", "security", "transport", "discovery", "runtime", "testing"},
    "cli": {
        "model",
        "core",
        "transport",
        "discovery",
        "runtime",
        "security",
        "testing",
        "examples",
        "conformance",
        "_root",
    },
    "_root": {"model", "core", "transport", "discovery", "runtime", "security", "testing"},
}
# Modules that nothing but the NATS transport may import (asyncio-only library).
ASYNCIO_ONLY = {"asyncio", "nats"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if rel.parts == ("__main__.py",):
        return "cli"
    return rel.parts[0] if len(rel.parts) > 1 else "_root"


def imported_layers(source: str, here: tuple[str, ...]) -> set[tuple[str, int]]:
    """The agentlink layers (and asyncio-only libraries) a module imports, with lines."""
    tree = ast.parse(source)
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
                names = [module]
            elif node.module:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "agentlink":
                found.add(
                    (parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "_root", node.lineno)
                )
            elif parts[0] in ASYNCIO_ONLY:
                found.add((f"!{parts[0]}", node.lineno))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(path: Path) -> None:
    layer = layer_of(path)
    assert layer in ALLOWED, f"{path} is in no known layer"
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for target, line in imported_layers(path.read_text("utf-8"), here):
        if target.startswith("!"):
            in_nats = path.name.startswith("_nats") and layer == "transport"
            assert in_nats, f"{path}:{line} imports {target[1:]} outside the NATS transport"
            continue
        if target == layer:
            continue
        assert target in ALLOWED[layer], f"{path}:{line}: layer {layer!r} imports {target!r}"


def test_layer_rules_catch_upward_and_relative_imports() -> None:
    here = ("agentlink", "core", "_probe")
    assert imported_layers("from agentlink.runtime import Runtime\n", here) == {("runtime", 1)}
    assert imported_layers("from ..runtime import x\n", here) == {("runtime", 1)}
    assert imported_layers("from ..model import Tool\n", here) == {("model", 1)}
    assert imported_layers("import asyncio\n", here) == {("!asyncio", 1)}
    assert "runtime" not in ALLOWED["core"]
