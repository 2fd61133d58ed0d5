"""The JSON-RPC 2.0 envelope and the ``_meta`` member every agentlink request carries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ._base import (
    PROTOCOL_PATTERN,
    AgentId,
    Model,
    Timestamp,
)

__all__ = [
    "ErrorObject",
    "ErrorResponse",
    "Meta",
    "Notification",
    "Request",
    "RequestId",
    "RequestParams",
    "SuccessResponse",
]

TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

#: A JSON-RPC id: a string or an integer (null ids are not used by agentlink).
RequestId = str | int
Identifier = Annotated[str, Field(min_length=1, max_length=256)]


class Meta(Model):
    """The ``params._meta`` envelope: who, when, until when, and which protocol."""

    protocol: Annotated[str, Field(pattern=PROTOCOL_PATTERN)] = Field(
        description='Protocol version, "agentlink/0.1".'
    )
    message_id: Identifier = Field(description="Unique id of this message.")
    sender: AgentId | None = Field(default=None, description="Id of the calling agent.")
    receiver: AgentId | None = Field(default=None, description="Id of the called agent.")
    conversation_id: Identifier | None = None
    in_reply_to: Identifier | None = None
    sent_at: Timestamp | None = None
    deadline: Timestamp | None = Field(
        default=None, description="Absolute time after which the work is worthless."
    )
    idempotency_key: Identifier | None = Field(
        default=None, description="Key that makes a command run at most once."
    )
    traceparent: Annotated[str, Field(pattern=TRACEPARENT_PATTERN)] | None = Field(
        default=None, description="W3C trace context."
    )
    auth: Annotated[str, Field(min_length=1, max_length=16384)] | None = Field(
        default=None, description="Credential for bindings without headers (bearer token)."
    )


class RequestParams(Model):
    """Params of every agentlink request: the method's members plus ``_meta``."""

    meta: Meta = Field(alias="_meta")


class Request(Model):
    """A JSON-RPC 2.0 request (a call that expects a response)."""

    jsonrpc: Literal["2.0"]
    id: RequestId
    method: Annotated[str, Field(min_length=1)]
    params: RequestParams


class Notification(Model):
    """A JSON-RPC 2.0 notification (no ``id``, no response)."""

    jsonrpc: Literal["2.0"]
    method: Annotated[str, Field(min_length=1)]
    params: RequestParams


class ErrorObject(Model):
    """The ``error`` member of an error response."""

    code: int
    message: str
    data: Any = None


class SuccessResponse(Model):
    jsonrpc: Literal["2.0"]
    id: RequestId
    result: Any


class ErrorResponse(Model):
    jsonrpc: Literal["2.0"]
    id: RequestId | None
    error: ErrorObject
