"""Tools: named operations with JSON Schema 2020-12 input and output, and a safety class."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from ._base import JsonObject, Model, ToolName

__all__ = ["ObjectSchema", "SafetyClass", "Tool"]

SafetyClass = Literal["read-only", "actuates"]
Execution = Literal["sync", "task"]


class ObjectSchema(Model):
    """A JSON Schema (2020-12) whose instances are JSON objects.

    Only ``"type": "object"`` is checked here; every other keyword is kept as given.
    """

    model_config = ConfigDict(extra="allow")

    type: Literal["object"]

    def as_dict(self) -> dict[str, Any]:
        """The schema as a plain dict, exactly as declared."""
        return self.model_dump(mode="json", by_alias=True)


_APPROVAL_NEEDS_ACTUATION: JsonObject = {
    "if": {"properties": {"requires_approval": {"const": True}}, "required": ["requires_approval"]},
    "then": {"properties": {"safety": {"const": "actuates"}}, "required": ["safety"]},
}


class Tool(Model):
    """A tool an agent offers.

    ``safety`` says whether calling it moves the physical world. An actuating tool may
    require ``approvals`` distinct approvals before it runs (``requires_approval``).
    """

    model_config = ConfigDict(json_schema_extra=_APPROVAL_NEEDS_ACTUATION)

    name: ToolName
    description: str = ""
    input_schema: ObjectSchema
    output_schema: JsonObject = Field(default_factory=dict)
    safety: SafetyClass = "read-only"
    requires_approval: bool = False
    approvals: Annotated[int, Field(ge=1, le=8)] = 1
    idempotent: bool = False
    execution: Execution = "sync"
    timeout_ms: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _approval_needs_actuation(self) -> Self:
        if self.requires_approval and self.safety != "actuates":
            raise ValueError("requires_approval is only allowed when safety is 'actuates'")
        return self
