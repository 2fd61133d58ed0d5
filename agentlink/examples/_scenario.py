"""What an example workflow is made of, and how it runs in one process.

An example is a simulated plant split into *groups* of agents. In the embedded default
every group shares one :class:`~agentlink.runtime.Runtime`; with ``--transport http`` or
``nats`` each group but the driver runs as its own OS process. The group named
:data:`DRIVER` always runs in the calling process, and :attr:`Example.drive` runs the
scenario on it once every agent is up.

Rules that keep both modes identical:

- ``build`` is a pure function of :class:`Settings`: every process calls it and gets the
  same agents with the same seeded state.
- ``drive`` talks to agents outside the driver group only through the protocol (calls,
  messages, events, discovery), never through shared Python objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentlink.model import AgentlinkError
from agentlink.runtime import Agent, Runtime

__all__ = [
    "DRIVER",
    "Example",
    "ExampleFailed",
    "NoProgress",
    "Outcome",
    "Progress",
    "Settings",
    "run_in_process",
]

#: The group that runs in the calling process and drives the scenario.
DRIVER = "driver"


class ExampleFailed(AgentlinkError):
    """An example could not run to its end: a process of it failed or stalled, or its
    agents disagree about what happened."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What a run depends on: the same settings give the same result.

    Attributes:
        seed: seed of every random draw of the simulated plant.
        fast: a shorter run (fewer parts, a shorter horizon) for tests.
    """

    seed: int = 7
    fast: bool = False


class Progress(Protocol):
    """Where an example reports how far it got (a progress bar, or nothing)."""

    def start(self, total: int, description: str) -> None:
        """Begin a phase of ``total`` steps."""
        ...

    def advance(self, steps: int = 1, note: str | None = None) -> None:
        """Record ``steps`` finished steps, with an optional short note."""
        ...


class NoProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, total: int, description: str) -> None:
        return None

    def advance(self, steps: int = 1, note: str | None = None) -> None:
        return None


@dataclass
class Outcome:
    """What an example produced; every figure follows from :class:`Settings`.

    Attributes:
        name: the example's name.
        seed: the seed it ran with.
        headline: one line with the result that matters (for the summary and the docs).
        columns: the summary table's column titles.
        rows: the summary table's rows, as text.
        data: the JSON result file's content.
        artifacts: extra files by suffix, such as ``{"gantt.svg": "<svg ...>"}``.
    """

    name: str
    seed: int
    headline: str
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


#: Builds the agents of every group from the settings.
Build = Callable[[Settings], Mapping[str, list[Agent]]]
#: Runs the scenario on the driver group's agents (by id) and returns its outcome.
Drive = Callable[[Mapping[str, Agent], Settings, Progress], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Example:
    """One example workflow.

    Attributes:
        name: the name ``agentlink demo`` takes (``job-shop``, ``quality``, ...).
        title: a short title for the summary.
        build: the agents of each group; the group :data:`DRIVER` must be present.
        drive: the scenario, run on the driver group once every agent is up.
    """

    name: str
    title: str
    build: Build
    drive: Drive


async def run_in_process(
    example: Example, settings: Settings, progress: Progress | None = None
) -> Outcome:
    """Run ``example`` with every group in one in-process :class:`Runtime`."""
    groups = example.build(settings)
    agents = [agent for group in groups.values() for agent in group]
    driver = {agent.id: agent for agent in groups[DRIVER]}
    async with Runtime(agents=agents):
        return await example.drive(driver, settings, progress or NoProgress())
