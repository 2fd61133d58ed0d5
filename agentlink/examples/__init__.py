"""Example factory workflows on a simulated plant.

Each example is a module exposing ``EXAMPLE``, an :class:`Example`; :func:`load` finds it
by the name ``agentlink demo`` takes.
"""

from __future__ import annotations

import importlib

from agentlink.examples._multiprocess import run_distributed
from agentlink.examples._scenario import (
    DRIVER,
    Example,
    ExampleFailed,
    NoProgress,
    Outcome,
    Progress,
    Settings,
    run_in_process,
)

__all__ = [
    "DRIVER",
    "EXAMPLES",
    "Example",
    "ExampleFailed",
    "NoProgress",
    "Outcome",
    "Progress",
    "Settings",
    "load",
    "run_distributed",
    "run_in_process",
]

#: Example names and the modules that define them.
EXAMPLES: dict[str, str] = {
    "job-shop": "agentlink.examples.job_shop",
    "quality": "agentlink.examples.quality",
    "maintenance": "agentlink.examples.maintenance",
    "energy": "agentlink.examples.energy",
}


def load(name: str) -> Example:
    """The example called ``name``.

    Raises:
        KeyError: no example has that name.
    """
    example = importlib.import_module(EXAMPLES[name]).EXAMPLE
    assert isinstance(example, Example)
    return example
