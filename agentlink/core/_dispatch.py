"""The dispatch table: frames in, handlers called, documented replies out.

For each request of a frame, in this order (protocol/SPEC.md, area CORE):

1. the codec classifies it (parse error, invalid request, oversized frame);
2. ``params._meta`` is checked, and the protocol version negotiated;
3. the method is looked up (``method_not_found``);
4. an expired ``_meta.deadline`` is refused (``deadline_exceeded``) before any work;
5. params are validated against the method's model when one is registered;
6. with a :class:`Guard`: the caller is authenticated, ``_meta.receiver`` checked, the
   request authorized (and the guard told how it ended); without one, only the receiver;
7. the handler runs; its return value is the result, its exception the error.

A handler's :class:`RpcError` becomes that error's reply; any other exception becomes
``internal_error`` and never escapes. Notifications run the same way and get no reply.

The dispatcher owns no task, socket or clock: ``now`` is an argument, handlers are plain
coroutine functions, and the caller decides how to run it (directly, or in a task group).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson
from pydantic import BaseModel, ValidationError

from agentlink.model import (
    SUPPORTED_VERSIONS,
    AgentNotFound,
    DeadlineExceeded,
    InternalError,
    InvalidParams,
    MethodNotFound,
    PayloadTooLarge,
    RpcError,
    UsageError,
)

from . import _codec
from ._deadline import parse_rfc3339
from ._meta import check_meta, pointer

__all__ = ["Call", "Dispatcher", "Guard", "Handler", "validation_errors"]

DEFAULT_MAX_BATCH: Final = 64


@dataclass(slots=True)
class Call:
    """One request (or notification) on its way to a handler.

    Attributes:
        id: the JSON-RPC id, or None for a notification.
        method: the method name.
        params: the params object, ``_meta`` included.
        meta: ``params["_meta"]``, already checked.
        now: the time the frame was received (unix seconds).
        deadline: ``_meta.deadline`` as unix seconds, or None.
        context: whatever the transport attached (peer address, verified identity).
        model: the validated params model, when the method registered one.
    """

    id: str | int | None
    method: str
    params: dict[str, Any]
    meta: dict[str, Any]
    now: float
    deadline: float | None
    context: Any = None
    model: Any = None

    @property
    def sender(self) -> str | None:
        sender = self.meta.get("sender")
        return sender if isinstance(sender, str) else None


Handler = Callable[[Call], Awaitable[Any]]


class Guard(Protocol):
    """Security checks around each call (``agentlink.security`` provides one).

    The dispatcher calls :meth:`authenticate`, checks ``_meta.receiver``, calls
    :meth:`authorize`, runs the handler, and then :meth:`finish` exactly once for every call
    that reached :meth:`authenticate`, whatever happened (ALP-CORE-032 orders the checks).
    """

    def authenticate(self, call: Call) -> None:
        """Establish who calls (``_meta.sender`` is then that identity) or raise
        ``Unauthorized``."""
        ...

    async def authorize(self, call: Call) -> None:
        """Raise ``Forbidden`` (or ``Overloaded``) unless the caller may do this now."""
        ...

    def finish(
        self, call: Call, error: RpcError | None, result: Any = None, *, canceled: bool = False
    ) -> None:
        """The call ended: with ``result``, with ``error``, or ``canceled``."""
        ...


@dataclass(slots=True)
class _Route:
    handler: Handler
    params_model: type[BaseModel] | None
    params_check: Callable[[dict[str, Any]], None] | None = None


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Each pydantic error as ``{"pointer", "message"}``, the documented ``data.errors``."""
    # A missing member is reported at the object that lacks it (as JSON Schema does).
    return [
        {
            "pointer": pointer(err["loc"][:-1] if err["type"] == "missing" else err["loc"]),
            "message": err["msg"]
            if err["type"] != "missing"
            else f"{err['loc'][-1]!r} is required",
        }
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


@dataclass
class Dispatcher:
    """Maps method names to handlers and turns every outcome into a documented reply."""

    supported_versions: tuple[str, ...] = SUPPORTED_VERSIONS
    max_bytes: int = _codec.DEFAULT_MAX_BYTES
    max_depth: int = _codec.DEFAULT_MAX_DEPTH
    max_batch: int = DEFAULT_MAX_BATCH
    #: The id of the agent served; a request naming another ``_meta.receiver`` is refused.
    agent_id: str | None = None
    #: Authentication, authorization, limits and audit; None: none (the fast path).
    guard: Guard | None = None
    _routes: dict[str, _Route] = field(default_factory=dict, repr=False)

    def add(
        self,
        method: str,
        handler: Handler,
        *,
        params_model: type[BaseModel] | None = None,
        params_check: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Route ``method`` to ``handler``; validate params with ``params_model`` (a pydantic
        model) or ``params_check`` (a fast hand-written check raising ``InvalidParams``)."""
        if method in self._routes:
            raise UsageError(f"method {method!r} already has a handler")
        self._routes[method] = _Route(handler, params_model, params_check)

    def methods(self) -> list[str]:
        """The routed method names, sorted."""
        return sorted(self._routes)

    async def handle(self, frame: bytes | str, *, now: float, context: Any = None) -> bytes | None:
        """Answer one frame. Returns the reply bytes, or None when nothing is owed
        (a notification, or a batch of notifications)."""
        decoded = _codec.decode(frame, max_bytes=self.max_bytes, max_depth=self.max_depth)
        if not decoded.batch:
            reply = await self.handle_item(decoded.items[0], now=now, context=context)
            return None if reply is None else _dump(reply)
        if len(decoded.items) > self.max_batch:
            error = PayloadTooLarge(
                f"batch of {len(decoded.items)} exceeds the limit of {self.max_batch}",
                data={"kind": "batch", "limit": self.max_batch},
            )
            return _codec.encode_error(None, error)
        replies = []
        for item in decoded.items:
            reply = await self.handle_item(item, now=now, context=context)
            if reply is not None:
                replies.append(reply)
        return _dump(replies) if replies else None

    async def handle_item(
        self, item: _codec.Item, *, now: float, context: Any = None
    ) -> dict[str, Any] | None:
        """Answer one classified message; None for notifications and stray responses."""
        if isinstance(item, _codec.Invalid):
            return item.reply
        if isinstance(item, _codec.Response):
            # A response sent to a server answers nothing; the JSON-RPC rule is to ignore it.
            return None
        request_id = item.id if isinstance(item, _codec.Request) else None
        if self.guard is not None:
            return await self._handle_guarded(self.guard, item, request_id, now, context)
        try:
            call = self._prepare(item, request_id, now, context)
            receiver = call.meta.get("receiver")
            if self.agent_id is not None and receiver is not None and receiver != self.agent_id:
                raise AgentNotFound(
                    f"this is {self.agent_id!r}, not {receiver!r}", data={"agent_id": receiver}
                )
            result = await self._routes[call.method].handler(call)
        except RpcError as exc:
            return None if request_id is None else _codec.error_reply(request_id, exc)
        except Exception as exc:
            if request_id is None:
                return None
            return _codec.error_reply(request_id, _internal(exc))
        if request_id is None:
            return None
        return _codec.result_reply(request_id, result)

    async def _handle_guarded(
        self,
        guard: Guard,
        item: _codec.Request | _codec.Notification,
        request_id: str | int | None,
        now: float,
        context: Any,
    ) -> dict[str, Any] | None:
        try:
            call = self._prepare(item, request_id, now, context)
        except RpcError as exc:
            return None if request_id is None else _codec.error_reply(request_id, exc)
        try:
            guard.authenticate(call)
            self._check_receiver(call.meta)
            await guard.authorize(call)
            result = await self._routes[call.method].handler(call)
        except RpcError as exc:
            guard.finish(call, exc)
            return None if request_id is None else _codec.error_reply(request_id, exc)
        except Exception as exc:
            error = _internal(exc)
            guard.finish(call, error)
            return None if request_id is None else _codec.error_reply(request_id, error)
        except BaseException:
            guard.finish(call, None, canceled=True)
            raise
        guard.finish(call, None, result)
        if request_id is None:
            return None
        return _codec.result_reply(request_id, result)

    def _check_receiver(self, meta: dict[str, Any]) -> None:
        receiver = meta.get("receiver")
        if self.agent_id is not None and receiver is not None and receiver != self.agent_id:
            raise AgentNotFound(
                f"this is {self.agent_id!r}, not {receiver!r}", data={"agent_id": receiver}
            )

    def _prepare(
        self,
        item: _codec.Request | _codec.Notification,
        request_id: str | int | None,
        now: float,
        context: Any,
    ) -> Call:
        meta = check_meta(item.params, self.supported_versions)
        params: dict[str, Any] = item.params
        route = self._routes.get(item.method)
        if route is None:
            raise MethodNotFound(
                f"method {item.method!r} is not offered", data={"method": item.method}
            )
        raw_deadline = meta.get("deadline")
        deadline = None if raw_deadline is None else parse_rfc3339(raw_deadline)
        if deadline is not None and now >= deadline:
            raise DeadlineExceeded(
                f"deadline {raw_deadline} passed before the work started",
                data={"deadline": raw_deadline, "started": False},
            )
        call = Call(request_id, item.method, params, meta, now, deadline, context)
        if route.params_model is not None:
            try:
                call.model = route.params_model.model_validate(params)
            except ValidationError as exc:
                errors = validation_errors(exc)
                raise InvalidParams(
                    f"invalid params for {item.method}: {errors[0]['pointer'] or '/'} "
                    f"{errors[0]['message']}",
                    data={"errors": errors},
                ) from None
        if route.params_check is not None:
            route.params_check(params)
        return call


def _internal(exc: Exception) -> InternalError:
    # The exception's type is named in the message for operators; its text, which may
    # carry secrets or paths, is not sent.
    return InternalError(f"internal error: {type(exc).__name__}")


def _dump(reply: Any) -> bytes:
    """Encode replies; a result that is not JSON becomes ``internal_error``, never a crash."""
    if isinstance(reply, list):
        return b"[" + b",".join(_dump(r) for r in reply) + b"]"
    try:
        return orjson.dumps(reply)
    except TypeError as exc:
        return _codec.encode_error(reply.get("id"), _internal(exc))
