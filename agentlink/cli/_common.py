"""What the CLI's commands share: consoles and loading agents from MODULE:OBJECT."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from rich.console import Console

from agentlink.runtime import Agent

__all__ = ["agents_from", "console", "err_console", "load_object"]

console = Console()
err_console = Console(stderr=True)


def load_object(spec: str) -> Any:
    """Import ``MODULE:OBJECT`` (for example ``myplant.cell:camera``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"expected MODULE:OBJECT, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from None
    obj = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise typer.BadParameter(f"{module_name!r} has no {attribute!r}") from None
    return obj


def agents_from(obj: Any) -> list[Agent]:
    """An Agent, a list of Agents, or a factory returning either."""
    if callable(obj) and not isinstance(obj, Agent):
        obj = obj()
    agents = [obj] if isinstance(obj, Agent) else list(obj)
    if not agents or not all(isinstance(a, Agent) for a in agents):
        raise typer.BadParameter("the object must be an Agent, a list of Agents, or a factory")
    return agents
