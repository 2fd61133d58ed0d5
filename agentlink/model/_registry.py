"""Registry objects: leases, search queries and the change feed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._base import AgentId, Model, Timestamp
from ._card import AgentCard

__all__ = ["Lease", "RegistryChange"]

LeaseId = Annotated[str, Field(min_length=1, max_length=256)]


class Lease(Model):
    """A registration that lives until ``expires_at`` unless renewed by a heartbeat."""

    agent_id: AgentId
    lease_id: LeaseId
    ttl_s: Annotated[float, Field(gt=0, le=86400)]
    expires_at: Timestamp


class RegistryChange(Model):
    """One entry of the registry's change feed (``registry/watch``)."""

    seq: Annotated[int, Field(ge=1)]
    kind: Literal["registered", "updated", "deregistered", "expired"]
    agent_id: AgentId
    card: AgentCard | None = None
