"""Registry search latency as the registry grows (agentlink.discovery.Registry, no network).

The registry is filled with agents spread as a plant's would be: five roles in turn, one
of 50 capabilities (10 families of 5, dotted), one asset each, one of 20 line tags. The
queries:

- ``role``: one agent in five matches;
- ``capability``: one agent in fifty matches (``machining.predict``);
- ``asset``: one agent matches;
- ``role+capability``: both criteria, one agent in fifty matches.

Each asks for the first page of ``PAGE`` cards, which every query but ``asset`` fills at
every size, so that a query returns as much at 1,000 agents as at 100,000. An indexed
query should then cost the same at any size: every figure's floor is the same query on the
smallest registry, so a ratio near 1 is flat growth.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from ._measure import time_ops
from ._report import Group
from ._settings import Settings

__all__ = ["registry"]

ROLES = ("perception", "demand", "execution", "decision", "evaluation")
FAMILIES = (
    "vision",
    "vibration",
    "energy",
    "machining",
    "transport",
    "quality",
    "planning",
    "maintenance",
    "orders",
    "inventory",
)
CAPABILITIES = tuple(
    f"{family}.{verb}"
    for family in FAMILIES
    for verb in ("inspect", "monitor", "predict", "schedule", "report")
)
NOW = 1_000_000.0
PAGE = 20  # cards per page


def _queries(size: int) -> dict[str, dict[str, Any]]:
    return {
        "role": {"role": "execution", "limit": PAGE},
        "capability": {"capability": "machining.predict", "limit": PAGE},
        "asset": {"asset": f"asset-{size // 2:06d}", "limit": PAGE},
        "role+capability": {"role": "execution", "capability": "machining.predict", "limit": PAGE},
    }


def _fill(size: int) -> tuple[Any, float]:
    """A registry of ``size`` agents, and the seconds registering them took."""
    from agentlink.discovery import Registry
    from agentlink.model import PROTOCOL_VERSION, AgentCard

    template = AgentCard.model_validate(
        {
            "id": "agent-000000",
            "name": "agent-000000",
            "role": "perception",
            "protocol_versions": [PROTOCOL_VERSION],
            "capabilities": ["vision.inspect"],
            "assets": ["asset-000000"],
            "tags": ["line-0"],
            "profiles": ["core", "tools"],
        }
    )
    # Cards are copies of one validated card with the members that differ replaced: the
    # same objects a registry holds, made without validating 100,000 of them.
    cards = [
        template.model_copy(
            update={
                "id": f"agent-{i:06d}",
                "name": f"agent-{i:06d}",
                "role": ROLES[i % len(ROLES)],
                "capabilities": [CAPABILITIES[i % len(CAPABILITIES)]],
                "assets": [f"asset-{i:06d}"],
                "tags": [f"line-{i % 20}"],
            }
        )
        for i in range(size)
    ]
    registry = Registry()
    start = time.perf_counter()
    for card in cards:
        registry.register(card, ttl_s=3600.0, now=NOW)
    return registry, time.perf_counter() - start


async def registry(group: Group, settings: Settings) -> None:
    sizes = settings.registry_sizes
    smallest = sizes[0]
    for size in sizes:
        directory, took = _fill(size)
        queries = _queries(size)
        for name, query in queries.items():
            cards, _ = directory.search(now=NOW + 1, **query)
            if not cards:
                raise RuntimeError(f"the {name} query found nothing in {size} agents")
        ops = {
            name: (lambda q=query, d=directory: d.search(now=NOW + 1, **q))
            for name, query in queries.items()
        }
        ns = time_ops(ops, seconds=settings.micro_seconds, repeats=settings.micro_repeats)
        for name, value in ns.items():
            group.add(
                f"{name} @{size:,}",
                value / 1000,
                "us/query",
                better="lower",
                floor=None if size == smallest else f"{name} @{smallest:,}",
            )
        group.add(
            f"register @{size:,}",
            took / size * 1e6,
            "us/agent",
            better="lower",
            floor=None if size == smallest else f"register @{smallest:,}",
            note="mean cost of each registration while filling the registry",
        )
        del directory, ops
        gc.collect()
