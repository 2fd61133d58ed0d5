"""Cards and lease ids for the discovery tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count

from agentlink.model import AgentCard

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def make_card(
    agent_id: str,
    *,
    role: str = "perception",
    capabilities: Sequence[str] = (),
    tools: Sequence[str] = (),
    assets: Sequence[str] = (),
    tags: Sequence[str] = (),
    profiles: Sequence[str] = (),
) -> AgentCard:
    """A minimal valid card with the given searchable members."""
    return AgentCard.model_validate(
        {
            "id": agent_id,
            "name": f"Agent {agent_id}",
            "role": role,
            "protocol_versions": ["agentlink/0.1"],
            "capabilities": list(capabilities),
            "tools": [{"name": name, "input_schema": {"type": "object"}} for name in tools],
            "assets": list(assets),
            "tags": list(tags),
            "profiles": list(profiles),
        }
    )


def lease_ids() -> Callable[[], str]:
    """Deterministic lease ids: lease-1, lease-2, ..."""
    numbers = count(1)
    return lambda: f"lease-{next(numbers)}"
