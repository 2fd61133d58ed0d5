"""The agentlink error hierarchy.

Every error the library raises derives from :class:`AgentlinkError`::

    AgentlinkError
    ├── UsageError                  the API was called wrongly (a local bug)
    ├── TaskEnded                   a task the caller waited for ended without output
    │   ├── TaskCanceled
    │   └── TaskRejected            its actuation was not approved
    ├── ProtocolError
    │   └── RemoteProtocolError     the peer sent a frame that breaks the protocol
    ├── TransportError              frames could not be moved
    │   ├── ConnectError
    │   ├── ReadError
    │   ├── WriteError
    │   └── TransportClosed
    └── RpcError                    an error with a wire code (JSON-RPC ``error`` object)
        ├── ParseError              -32700
        ├── InvalidRequest          -32600
        ├── MethodNotFound          -32601
        ├── InvalidParams           -32602
        ├── InternalError           -32603
        ├── TaskNotFound            -32001
        ├── TaskNotCancelable       -32002
        ├── UnsupportedOperation    -32004
        ├── ContentTypeNotSupported -32005
        ├── AgentNotFound           -32010
        ├── ToolNotFound            -32011
        ├── InvalidToolInput        -32012
        ├── InvalidToolOutput       -32013
        ├── ToolExecutionError      -32014
        ├── InvalidTaskState        -32015
        ├── DeadlineExceeded        -32020
        ├── Unauthorized            -32021
        ├── Forbidden               -32022
        ├── ApprovalRequired        -32023
        ├── VersionUnsupported      -32024
        ├── PayloadTooLarge         -32025
        ├── Overloaded              -32026
        ├── Duplicate               -32027
        └── AlreadyRegistered       -32028

The wire code lives on the class. A handler that raises an :class:`RpcError` gets the
matching error reply; a caller that receives that reply gets the same class back, so
``except ToolNotFound`` works the same in-process and across the network.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "DOCS_BASE",
    "ERROR_CLASSES",
    "AgentNotFound",
    "AgentlinkError",
    "AlreadyRegistered",
    "ApprovalRequired",
    "ConnectError",
    "ContentTypeNotSupported",
    "DeadlineExceeded",
    "Duplicate",
    "Forbidden",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "InvalidTaskState",
    "InvalidToolInput",
    "InvalidToolOutput",
    "MethodNotFound",
    "Overloaded",
    "ParseError",
    "PayloadTooLarge",
    "ProtocolError",
    "ReadError",
    "RemoteProtocolError",
    "RpcError",
    "TaskCanceled",
    "TaskEnded",
    "TaskNotCancelable",
    "TaskNotFound",
    "TaskRejected",
    "ToolExecutionError",
    "ToolNotFound",
    "TransportClosed",
    "TransportError",
    "Unauthorized",
    "UnsupportedOperation",
    "UsageError",
    "VersionUnsupported",
    "WriteError",
    "error_from_wire",
]

#: Where each error's documentation lives; the anchor is the error's ``name``.
DOCS_BASE = "https://agentlink.dev/docs/errors"


class AgentlinkError(Exception):
    """Root of every error agentlink raises."""


class UsageError(AgentlinkError):
    """The library was used in a way it does not support (a bug in the calling code)."""


class TaskEnded(AgentlinkError):
    """A task the caller waited for ended without output (it was canceled or rejected).

    Attributes:
        task: the final :class:`~agentlink.model.Task` snapshot.
    """

    def __init__(self, message: str, *, task: Any) -> None:
        super().__init__(message)
        self.task = task


class TaskCanceled(TaskEnded):
    """The task was canceled before it finished."""


class TaskRejected(TaskEnded):
    """The task's actuation was rejected by an approver."""


class ProtocolError(AgentlinkError):
    """A frame broke the protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer sent a frame that breaks the protocol (for example a reply that is not
    JSON-RPC, or that answers an id we never sent)."""


class TransportError(AgentlinkError):
    """A frame could not be delivered or received."""


class ConnectError(TransportError):
    """The remote endpoint could not be reached."""


class ReadError(TransportError):
    """Reading a frame failed (connection reset, truncated frame)."""


class WriteError(TransportError):
    """Writing a frame failed."""


class TransportClosed(TransportError):
    """The transport was used after it was closed."""


class RpcError(AgentlinkError):
    """An error that travels on the wire as a JSON-RPC ``error`` object.

    Attributes:
        code: the JSON-RPC error code (fixed per class).
        name: the stable snake_case name, also the docs anchor.
        message: a human-readable sentence.
        data: structured details; always carries ``name`` on the wire.
    """

    code: ClassVar[int] = -32603
    name: ClassVar[str] = "internal_error"
    meaning: ClassVar[str] = "The server failed in a way it did not anticipate."

    def __init__(self, message: str | None = None, *, data: dict[str, Any] | None = None) -> None:
        self.message = message if message is not None else self.meaning
        self.data: dict[str, Any] = dict(data) if data else {}
        super().__init__(self.message)

    @classmethod
    def docs_url(cls) -> str:
        """The documentation anchor for this error."""
        return f"{DOCS_BASE}#{cls.name}"

    def to_wire(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member for this error."""
        data = {"name": self.name, **self.data}
        return {"code": self.code, "message": self.message, "data": data}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class ParseError(RpcError):
    code = -32700
    name = "parse_error"
    meaning = "The frame is not valid UTF-8 JSON."


class InvalidRequest(RpcError):
    code = -32600
    name = "invalid_request"
    meaning = "The frame is JSON but not a valid JSON-RPC 2.0 request."


class MethodNotFound(RpcError):
    code = -32601
    name = "method_not_found"
    meaning = "The method does not exist or is not offered by this agent."


class InvalidParams(RpcError):
    code = -32602
    name = "invalid_params"
    meaning = "The method's params, or its _meta envelope, are invalid."


class InternalError(RpcError):
    code = -32603
    name = "internal_error"
    meaning = "The server failed in a way it did not anticipate."


class TaskNotFound(RpcError):
    code = -32001
    name = "task_not_found"
    meaning = "No task with this id exists (or it has been forgotten)."


class TaskNotCancelable(RpcError):
    code = -32002
    name = "task_not_cancelable"
    meaning = "The task is in a terminal state and cannot be canceled."


class UnsupportedOperation(RpcError):
    code = -32004
    name = "unsupported_operation"
    meaning = "The agent knows the method but does not support this use of it."


class ContentTypeNotSupported(RpcError):
    code = -32005
    name = "content_type_not_supported"
    meaning = "The message's content_type is not one the receiver accepts."


class AgentNotFound(RpcError):
    code = -32010
    name = "agent_not_found"
    meaning = "No agent with this id is reachable."


class ToolNotFound(RpcError):
    code = -32011
    name = "tool_not_found"
    meaning = "The agent has no tool with this name."


class InvalidToolInput(RpcError):
    code = -32012
    name = "invalid_tool_input"
    meaning = "The arguments do not validate against the tool's input_schema."


class InvalidToolOutput(RpcError):
    code = -32013
    name = "invalid_tool_output"
    meaning = "The tool produced output that does not validate against its output_schema."


class ToolExecutionError(RpcError):
    code = -32014
    name = "tool_execution_error"
    meaning = "The tool ran and failed."


class InvalidTaskState(RpcError):
    code = -32015
    name = "invalid_task_state"
    meaning = "The operation is not allowed in the task's current state."


class DeadlineExceeded(RpcError):
    code = -32020
    name = "deadline_exceeded"
    meaning = "The request's deadline passed before the work could be done."


class Unauthorized(RpcError):
    code = -32021
    name = "unauthorized"
    meaning = "The caller did not prove who it is (missing, expired or invalid credentials)."


class Forbidden(RpcError):
    code = -32022
    name = "forbidden"
    meaning = "The caller is known but not allowed to do this."


class ApprovalRequired(RpcError):
    code = -32023
    name = "approval_required"
    meaning = "The tool actuates and needs an approval that has not been given."


class VersionUnsupported(RpcError):
    code = -32024
    name = "version_unsupported"
    meaning = "The protocol version in _meta.protocol is not supported; data lists supported ones."


class PayloadTooLarge(RpcError):
    code = -32025
    name = "payload_too_large"
    meaning = "The frame exceeds the receiver's size or nesting limit."


class Overloaded(RpcError):
    code = -32026
    name = "overloaded"
    meaning = "The receiver is over a rate or capacity limit; retry later."


class Duplicate(RpcError):
    code = -32027
    name = "duplicate"
    meaning = "The idempotency key was already used for a different request."


class AlreadyRegistered(RpcError):
    code = -32028
    name = "already_registered"
    meaning = "Another live registration already holds this agent id."


#: Every error class with a wire code, keyed by that code.
ERROR_CLASSES: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        TaskNotFound,
        TaskNotCancelable,
        UnsupportedOperation,
        ContentTypeNotSupported,
        AgentNotFound,
        ToolNotFound,
        InvalidToolInput,
        InvalidToolOutput,
        ToolExecutionError,
        InvalidTaskState,
        DeadlineExceeded,
        Unauthorized,
        Forbidden,
        ApprovalRequired,
        VersionUnsupported,
        PayloadTooLarge,
        Overloaded,
        Duplicate,
        AlreadyRegistered,
    )
}


def error_from_wire(error: Any) -> RpcError:
    """Build the matching exception from a JSON-RPC ``error`` object.

    Unknown codes become a plain :class:`RpcError` that keeps the code, so nothing
    the remote said is lost.
    """
    if not isinstance(error, dict):
        return InternalError("malformed error object", data={"error": error})
    code = error.get("code")
    message = error.get("message")
    data = error.get("data")
    data = dict(data) if isinstance(data, dict) else ({} if data is None else {"value": data})
    data.pop("name", None)
    text = message if isinstance(message, str) else None
    cls = ERROR_CLASSES.get(code) if isinstance(code, int) else None
    if cls is not None:
        return cls(text, data=data)
    exc = RpcError(text, data=data)
    if isinstance(code, int) and not isinstance(code, bool):
        exc.code = code  # type: ignore[misc]
    return exc
