"""Agent cards: who an agent is, what it can do, and how to reach it."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from ._base import (
    PROTOCOL_PATTERN,
    AgentId,
    AssetId,
    Capability,
    ContentType,
    JsonObject,
    Model,
    Role,
    Topic,
)
from ._tool import Tool

__all__ = ["PROFILES", "AgentCard", "Endpoint", "EventTopic", "Profile", "SecurityScheme"]

Profile = Literal[
    "core",
    "tools",
    "messaging",
    "tasks",
    "events",
    "discovery",
    "negotiation",
    "industrial-data",
    "safe-actuation",
    "security",
]
PROFILES: tuple[str, ...] = get_args(Profile)
Binding = Annotated[str, Field(pattern=r"^(memory|http|nats|x-[a-z0-9][a-z0-9-]*)$")]
Tag = Annotated[str, Field(min_length=1, max_length=128)]


class Endpoint(Model):
    """Where an agent can be reached over one binding."""

    binding: Binding
    url: Annotated[str, Field(min_length=1, max_length=2048)]


class SecurityScheme(Model):
    """A way a caller proves its identity to this agent."""

    type: Literal["none", "bearer", "mtls", "nkey"]
    description: str = ""
    algorithms: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    issuer: str | None = None


class EventTopic(Model):
    """An event topic an agent publishes, with the JSON Schema of its ``data``."""

    topic: Topic
    description: str = ""
    data_schema: JsonObject = Field(default_factory=dict)


class AgentCard(Model):
    """The self-description an agent serves at ``agent/card`` and registers in a registry."""

    id: AgentId
    name: Annotated[str, Field(min_length=1, max_length=256)]
    role: Role
    description: str = ""
    version: Annotated[str, Field(min_length=1, max_length=64)] = "0.1.0"
    protocol_versions: Annotated[
        list[Annotated[str, Field(pattern=PROTOCOL_PATTERN)]], Field(min_length=1)
    ]
    capabilities: list[Capability] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    events: list[EventTopic] = Field(default_factory=list)
    accepts: list[ContentType] = Field(
        default_factory=list, description="Message content types this agent handles."
    )
    assets: list[AssetId] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    security: list[SecurityScheme] = Field(default_factory=list)
    profiles: list[Profile] = Field(default_factory=list)
    signature: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="JWS over the canonical card without this member."
    )

    def tool(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None
