"""How much to measure: the full run (a few minutes) and ``--quick`` (a smoke test)."""

from __future__ import annotations

from dataclasses import dataclass

from ._measure import Budget
from ._procs import Resources

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Sizes and durations of one run, and the resources its groups share."""

    quick: bool
    #: Per subject, per number of callers: seconds per round, rounds, warm-up.
    calls: Budget
    #: Seconds and repeats of each tight-loop timing (codec, registry).
    micro_seconds: float
    micro_repeats: int
    #: Registered agents of each registry size measured (the first is the reference).
    registry_sizes: tuple[int, ...]
    #: Events published in each fan-out run, subscribers receiving each, runs of each.
    events: int
    nats_events: int
    subscribers: int
    event_rounds: int
    #: Idle agents hosted in one process, and tasks held open, for the footprint.
    idle_agents: int
    open_tasks: int
    resources: Resources

    @classmethod
    def make(cls, *, quick: bool, resources: Resources) -> Settings:
        if quick:
            return cls(
                quick=True,
                calls=Budget(seconds=0.15, rounds=1, warmup=0.05, min_calls=20),
                micro_seconds=0.1,
                micro_repeats=3,
                registry_sizes=(1_000, 10_000),
                events=300,
                nats_events=100,
                subscribers=100,
                event_rounds=1,
                idle_agents=1_000,
                open_tasks=200,
                resources=resources,
            )
        return cls(
            quick=False,
            calls=Budget(seconds=0.4, rounds=5, warmup=0.2, min_calls=100),
            micro_seconds=0.6,
            micro_repeats=5,
            registry_sizes=(1_000, 10_000, 100_000),
            events=3_000,
            nats_events=1_000,
            subscribers=100,
            event_rounds=3,
            idle_agents=10_000,
            open_tasks=1_000,
            resources=resources,
        )
