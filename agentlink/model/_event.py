"""Events: published on a topic by a source agent, numbered per source (CloudEvents names)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ._base import AgentId, ContentType, Model, Timestamp, Topic

__all__ = ["Event"]


class Event(Model):
    """One event. ``seq`` grows by one per event of the ``source`` agent's log."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    topic: Topic
    source: AgentId
    time: Timestamp
    seq: Annotated[int, Field(ge=1)]
    datacontenttype: ContentType = "application/json"
    dataschema: str | None = None
    data: Any = None
