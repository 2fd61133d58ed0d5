"""Shared building blocks of the protocol models: the base class and constrained scalars.

Timestamps are kept as RFC 3339 strings checked by a pattern, not parsed into
``datetime``: the generated JSON Schema and the pydantic model then accept exactly the
same inputs (JSON Schema ``format`` is not asserted by default validators).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "AgentId",
    "AssetId",
    "Capability",
    "ContentType",
    "JsonObject",
    "Model",
    "Role",
    "Timestamp",
    "ToolName",
    "Topic",
]

#: The protocol version this library speaks, carried in ``params._meta.protocol``.
PROTOCOL_VERSION = "agentlink/0.1"
#: Every version this library accepts.
SUPPORTED_VERSIONS: tuple[str, ...] = (PROTOCOL_VERSION,)

RFC3339_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
CAPABILITY_PATTERN = r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$"
TOPIC_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
ROLE_PATTERN = r"^(perception|demand|execution|decision|evaluation|x-[a-z0-9][a-z0-9-]*)$"
PROTOCOL_PATTERN = r"^agentlink/[0-9]+\.[0-9]+$"

Timestamp = Annotated[
    str, Field(pattern=RFC3339_PATTERN, description="RFC 3339 date-time with a UTC offset.")
]
AgentId = Annotated[
    str, Field(pattern=AGENT_ID_PATTERN, description="Agent id: 1-128 chars, [A-Za-z0-9._:-].")
]
ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN)]
Capability = Annotated[
    str, Field(pattern=CAPABILITY_PATTERN, description="Dotted capability name.")
]
Topic = Annotated[str, Field(pattern=TOPIC_PATTERN, max_length=256)]
AssetId = Annotated[str, Field(min_length=1, max_length=256)]
ContentType = Annotated[str, Field(min_length=1, max_length=256)]
Role = Annotated[
    str,
    Field(
        pattern=ROLE_PATTERN,
        description="perception, demand, execution, decision, evaluation, or x-<custom>.",
    ),
]
JsonObject = dict[str, Any]

SafetyClass = Literal["read-only", "actuates"]


class Model(BaseModel):
    """Base of every protocol object: strict types, unknown members ignored, immutable."""

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",
        serialize_by_alias=True,
        validate_by_alias=True,
        # Only the wire names are accepted ("_meta", never "meta"), as the schemas say.
        validate_by_name=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of this object, without unset optional members."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)
