"""The NATS binding: many hosts, one NATS cluster (protocol/SPEC.md, NATS binding).

::

    async with NatsTransport("nats://10.0.0.2:4222") as nats:
        url = await nats.bind("cnc-7", handler)        # nats://10.0.0.2:4222
        reply = await nats.request("mes", frame)       # agentlink.agent.mes.rpc

An address is an agent id; the subject is derived from it, so no resolution is needed.

Subjects, queue groups and headers:

========================================  ======================================
``agentlink.agent.<id>.rpc``              requests and notifications for ``<id>``;
                                          replicas share queue group
                                          ``agentlink.agent.<id>``
``agentlink.registry.rpc``                the address ``registry``; queue group
                                          ``agentlink.registry``
``agentlink.events.<source>.<topic>``     events, the JSON of the ``Event``
``agentlink.agent.<id>.cmd``              durable commands (JetStream)
``$KV.AGENTLINK_REPLIES.<id>.<b64 key>``  a durable command's stored reply
stream ``AGENTLINK_EVENTS``               ``durable=True``: every event, kept a day
========================================  ======================================

A reply is the reply frame as payload. An empty payload means no reply is owed (a
notification sent as a request; HTTP's 204). An empty payload with the header
``Agentlink-Error`` means the receiver's handler crashed (HTTP's 500): the caller gets
:class:`ReadError`. Replies never echo the
request's headers (they may carry credentials). A request may carry headers of its own
(``Authorization: Bearer <token>``, ALP-NATS-011).

Durable commands (``durable=True``, see :mod:`._nats_durable`): each agent has a stream
``AGENTLINK_CMD_<id>`` (work queue, file storage) over ``agentlink.agent.<id>.cmd``,
consumed by the durable pull consumer ``agentlink`` that its replicas share. A command
carries ``Nats-Msg-Id: <idempotency key>`` (JetStream drops repeats within the
de-duplication window) and ``Agentlink-Reply-To: $KV.AGENTLINK_REPLIES.<id>.<b64 key>``:
publishing the reply there stores it in the KV bucket ``AGENTLINK_REPLIES`` (stream
``KV_AGENTLINK_REPLIES``), where the caller and every replica find it by key. ``<b64
key>`` is the key in unpadded URL-safe base64.

Errors are translated once (:mod:`._nats_wire`): no responders -> :class:`AgentNotFound` (at once);
not connected, or the connection lost before the reply -> :class:`ConnectError` or
:class:`ReadError`; a frame over the server's ``max_payload`` -> :class:`PayloadTooLarge`.

Credentials (the ``nkey`` scheme, ALP-SEC-013): ``nkey_seed`` (a file holding a user nkey
seed) or ``credentials`` (a NATS user credentials file: JWT and seed) are handed to nats-py,
which proves the key to the server when connecting. What an agent may do is the server's
permissions of that user: subscribe to its own ``agentlink.agent.<id>.rpc`` only, publish
events under ``agentlink.events.<id>.>`` only, and its replies under its own
``inbox_prefix`` (see docs/security.md for the configuration). A subscription the server
refuses makes :meth:`NatsTransport.bind` and :meth:`NatsTransport.subscribe_events` raise
:class:`Forbidden`; a refused publication is logged (NATS reports it after the fact).

nats-py runs on asyncio only, so this binding needs anyio's asyncio backend.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVarTuple

import anyio
import nats.errors
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from agentlink.core._codec import DEFAULT_MAX_BYTES, encode_error
from agentlink.model import (
    ConnectError,
    Forbidden,
    ReadError,
    SecurityScheme,
    TransportClosed,
    UsageError,
)

from ._base import FrameHandler, Origin, call_local
from ._nats_durable import DurableCommands
from ._nats_names import (
    HEADER_ERROR,
    REGISTRY_ID,
    advertised_url,
    event_pattern_subject,
    event_subject,
    not_found,
    rpc_route,
)
from ._nats_wire import (
    auth_options,
    check_size,
    close_quietly,
    origin_of,
    permission_violation,
    reply_frame,
    too_large,
    translated,
)

__all__ = ["NatsTransport"]

log = logging.getLogger("agentlink.nats")

#: Receives the payload of each event (the JSON of an ``Event``), one at a time, in order.
EventCallback = Callable[[bytes], Awaitable[None]]

Args = TypeVarTuple("Args")

_LOCAL: Final = Origin("nats", remote="local")


def _local_origin(headers: Mapping[str, str]) -> Origin:
    return Origin("nats", remote="local", headers={k.lower(): v for k, v in headers.items()})


def _sent(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """NATS message headers (None: a message without headers, the cheap default)."""
    return None if not headers else dict(headers)


_EVENT_BUFFER: Final = 1024


@dataclass(eq=False)
class EventSubscription:
    """A live subscription to events on NATS; :meth:`aclose` ends it."""

    subject: str
    _sub: Subscription
    _send: MemoryObjectSendStream[bytes]
    _owner: NatsTransport = field(repr=False)

    async def aclose(self) -> None:
        """Stop receiving; the events already received are still delivered."""
        self._owner._event_subs.discard(self)
        self._send.close()
        with anyio.CancelScope(shield=True):
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error as exc:
                log.debug("unsubscribing %s: %r", self.subject, exc)


class NatsTransport:
    """Serves bound agents on NATS subjects and calls others through NATS request/reply.

    Args:
        url: NATS server URL, or several URLs of one cluster.
        name: connection name shown by the server's monitoring.
        queue: replicas of an agent share its requests through a queue group
            (ALP-NATS-002); False: every subscriber receives every request.
        durable: serve durable commands (JetStream) for every agent bound, and allow
            :meth:`request_durable` (needs a server with JetStream enabled).
        connect_timeout: seconds :meth:`__aenter__` waits for the first connection.
        reconnect_wait: seconds between reconnection attempts; reconnection never stops.
        max_bytes: largest request frame served.
        public_url: the server URL to advertise in card endpoints, if not ``url``.
        ack_wait: seconds JetStream waits for a command's acknowledgement before it
            redelivers it (renewed while the handler runs).
        dedup_window: seconds JetStream remembers a command's key (at least 0.1).
        reply_ttl: seconds a durable command's reply is kept for repeats.
        nkey_seed: path of a file holding the user nkey seed to connect with.
        credentials: path of a NATS user credentials file (user JWT and nkey seed).
        inbox_prefix: subject prefix of this connection's reply inboxes (default
            ``_INBOX``); with per-agent permissions, one per agent, e.g. ``_INBOX.cnc-7``,
            so that no other agent may read its replies.
    """

    binding = "nats"

    def __init__(
        self,
        url: str | Sequence[str] = "nats://127.0.0.1:4222",
        *,
        name: str | None = None,
        queue: bool = True,
        durable: bool = False,
        connect_timeout: float = 5.0,
        reconnect_wait: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        public_url: str | None = None,
        ack_wait: float = 30.0,
        dedup_window: float = 120.0,
        reply_ttl: float = 86_400.0,
        nkey_seed: str | Path | None = None,
        credentials: str | Path | None = None,
        inbox_prefix: str | None = None,
    ) -> None:
        self.servers = [url] if isinstance(url, str) else list(url)
        if not self.servers:
            raise UsageError("NatsTransport needs at least one server URL")
        self.name = name
        self.queue = queue
        self.connect_timeout = connect_timeout
        self.reconnect_wait = reconnect_wait
        self.max_bytes = max_bytes
        self._auth = auth_options(nkey_seed, credentials, inbox_prefix)
        #: Subjects the server refused to let this connection subscribe to, recently.
        self._refused: deque[tuple[str, str]] = deque(maxlen=256)
        #: The server URL written in card endpoints (ALP-CARD-007).
        self.url = public_url or advertised_url(self.servers[0])
        self._durable = (
            DurableCommands(self, ack_wait=ack_wait, dedup_window=dedup_window, ttl=reply_ttl)
            if durable
            else None
        )
        self._nc: Client | None = None
        self._tg: TaskGroup | None = None
        self._up: anyio.Event | None = None
        self._handlers: dict[str, FrameHandler] = {}
        self._subs: dict[str, Subscription] = {}
        self._event_subs: set[EventSubscription] = set()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        self._inbox = ""
        #: Called after every reconnection (durable waiters re-check their stores).
        self._reconnect_hooks: set[Callable[[], None]] = set()
        self._entered = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "NatsTransport needs anyio's asyncio backend (nats-py runs on asyncio only)"
            ) from None
        if self._entered:
            raise UsageError("a NatsTransport can be entered once")
        if self._closed:
            raise TransportClosed("NATS transport is closed")
        self._entered = True
        self._up = anyio.Event()
        self._nc = nc = Client()
        try:
            with anyio.fail_after(self.connect_timeout):
                await nc.connect(
                    self.servers,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]
                    connect_timeout=self.connect_timeout,  # type: ignore[arg-type]
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **self._auth,
                )
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            self._closed = True
            with anyio.CancelScope(shield=True):
                await close_quietly(nc)
            raise ConnectError(
                f"could not connect to NATS at {self.url} within {self.connect_timeout} s"
            ) from exc
        self._up.set()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            self._inbox = nc.new_inbox() + "."
            await nc.subscribe(self._inbox + "*", cb=self._on_reply)
            if self._durable is not None:
                await self._durable.open(nc)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._closed and self._tg is None:
            return
        self._closed = True
        self._fail_waiting(
            lambda: TransportClosed("NATS transport closed before the reply arrived")
        )
        self._handlers.clear()
        for subscription in list(self._event_subs):
            subscription._send.close()
        if self._tg is not None:
            tg, self._tg = self._tg, None
            # Handlers still running are cancelled: their callers' replies are lost either
            # way once the connection closes.
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        if self._nc is not None:
            with anyio.CancelScope(shield=True):
                await close_quietly(self._nc)

    @property
    def max_payload(self) -> int:
        """The largest message the connected server accepts."""
        return self._client().max_payload

    @property
    def security_schemes(self) -> list[SecurityScheme]:
        """The schemes this transport proves its agents with, for the cards it serves."""
        if "nkeys_seed" in self._auth or "user_credentials" in self._auth:
            return [SecurityScheme(type="nkey", description="NATS nkey of the agent's user")]
        return []

    @property
    def connected(self) -> bool:
        return self._up is not None and self._up.is_set()

    async def wait_connected(self) -> None:
        """Return once connected (at once when connected now)."""
        self._client()
        assert self._up is not None
        await self._up.wait()

    def _client(self) -> Client:
        if self._closed:
            raise TransportClosed("NATS transport is closed")
        if self._nc is None:
            raise UsageError("enter the NatsTransport (`async with`) before using it")
        return self._nc

    def _spawn(self, func: Callable[[*Args], Coroutine[Any, Any, object]], *args: *Args) -> None:
        """Run ``func(*args)`` in the transport's task group (dropped once closing)."""
        if self._tg is not None and not self._closed:
            self._tg.start_soon(func, *args)

    # -- nats-py callbacks (they run in nats-py's own tasks) ---------------------------

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):
            log.warning("NATS dropped a message for a slow subscriber on %s", exc.subject)
            return
        violation = permission_violation(exc)
        if violation is not None:
            kind, subject = violation
            self._refused.append(violation)
            log.warning("the NATS server refused %s on %s (permissions)", kind, subject)
        else:
            log.debug("NATS connection: %r", exc)

    def _check_allowed(self, subject: str) -> None:
        """Raise :class:`Forbidden` if the server refused our subscription to ``subject``
        (it reports that before it answers anything sent after the subscription)."""
        if ("subscription", subject) in self._refused:
            self._refused.remove(("subscription", subject))
            raise Forbidden(
                f"the NATS server does not allow this connection to subscribe to {subject}",
                data={"reason": f"NATS permissions refuse subscribing to {subject}"},
            )

    async def _on_disconnected(self) -> None:
        if self._up is not None and self._up.is_set():
            self._up = anyio.Event()
        # A reply can no more arrive on a connection that is gone: fail at once, not at
        # the caller's timeout (which may be none).
        self._fail_waiting(lambda: ReadError("connection to NATS lost before the reply arrived"))

    async def _on_reconnected(self) -> None:
        if self._up is not None:
            self._up.set()
        for hook in list(self._reconnect_hooks):
            hook()

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._inbox) :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    def _fail_waiting(self, error: Callable[[], Exception]) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error())

    # -- calling -------------------------------------------------------------------------

    async def request(
        self,
        address: str,
        frame: bytes,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Send a request; ``headers`` (such as ``Authorization``) go as NATS headers."""
        nc = self._client()
        local = self._handlers.get(address)
        if local is not None:
            origin = _LOCAL if not headers else _local_origin(headers)
            return await call_local(local, frame, origin, address, timeout)
        route = rpc_route(address)
        if route is None:
            raise not_found(address)
        assert self._up is not None
        if not self._up.is_set():
            raise ConnectError(f"not connected to NATS (reconnecting to {self.url})")
        check_size(nc, frame, "request frame")
        token = str(next(self._tokens))
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        try:
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                with translated(f"request to {address!r}"):
                    await nc.publish(
                        route[0], frame, reply=self._inbox + token, headers=_sent(headers)
                    )
                msg = await future
        finally:
            self._waiting.pop(token, None)
        return reply_frame(address, msg)

    async def notify(
        self, address: str, frame: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        nc = self._client()
        local = self._handlers.get(address)
        if local is not None:
            await local(frame, _LOCAL if not headers else _local_origin(headers))
            return
        route = rpc_route(address)
        if route is None:
            raise not_found(address)
        check_size(nc, frame, "notification frame")
        with translated(f"notification to {address!r}"):
            await nc.publish(route[0], frame, headers=_sent(headers))

    async def _sync(self) -> None:
        """Return once the server has processed everything sent before on this connection.

        A message to our own inbox makes the round trip behind what is queued; nats-py's
        ``flush`` does not do this (its PING can overtake commands still queued). While
        disconnected this returns at once: nats-py replays subscriptions on reconnection.
        """
        nc = self._client()
        if not self.connected:
            return
        token = f"s{next(self._tokens)}"
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        try:
            with anyio.move_on_after(self.connect_timeout):
                await nc.publish(self._inbox + token, b"")
                await future
        except (nats.errors.Error, OSError, ReadError) as exc:
            log.debug("synchronising with the NATS server: %r", exc)
        finally:
            self._waiting.pop(token, None)

    # -- serving -------------------------------------------------------------------------

    async def bind(self, address: str, handler: FrameHandler) -> str:
        nc = self._client()
        if address in self._handlers:
            raise UsageError(f"address {address!r} is already bound")
        route = rpc_route(address)
        if route is None:
            raise UsageError(f"{address!r} is not an agent id; it cannot be served on NATS")
        subject, group = route

        async def on_request(msg: Msg) -> None:
            # One task per frame, owned by the transport's task group.
            self._spawn(self._serve, address, handler, msg)

        with translated(f"binding {address!r}"):
            sub = await nc.subscribe(subject, queue=group if self.queue else "", cb=on_request)
        try:
            # Bound means served: the server knows the subscription before we return.
            await self._sync()
            self._check_allowed(subject)
        except BaseException:
            with anyio.CancelScope(shield=True), suppress(nats.errors.Error):
                await sub.unsubscribe()
            raise
        self._handlers[address] = handler
        self._subs[address] = sub
        if self._durable is not None and address != REGISTRY_ID:
            try:
                await self._durable.serve(address, handler)
            except BaseException:
                await self.unbind(address)
                raise
        return self.url

    async def unbind(self, address: str) -> None:
        self._handlers.pop(address, None)
        sub = self._subs.pop(address, None)
        if self._durable is not None:
            await self._durable.stop(address)
        if sub is None or self._nc is None or self._closed:
            return
        with anyio.CancelScope(shield=True):
            try:
                await sub.unsubscribe()
            except nats.errors.Error as exc:
                log.debug("unsubscribing %r: %r", address, exc)
            # Unbound means unserved: later requests find no responders.
            await self._sync()

    async def _serve(self, address: str, handler: FrameHandler, msg: Msg) -> None:
        reply: bytes | None
        try:
            if len(msg.data) > self.max_bytes:
                reply = encode_error(None, too_large(len(msg.data), self.max_bytes, "request"))
            else:
                reply = await handler(msg.data, origin_of(msg))
        except Exception as exc:
            log.exception("the handler of %r failed", address)
            if msg.reply:
                await self._respond(msg.reply, b"", {HEADER_ERROR: type(exc).__name__})
            return
        if not msg.reply:
            return  # a notification: nothing is sent back (ALP-NATS-003)
        if reply is None:
            reply = b""
        elif self._nc is not None and len(reply) > self._nc.max_payload:
            reply = encode_error(None, too_large(len(reply), self._nc.max_payload, "reply"))
        await self._respond(msg.reply, reply)

    async def _respond(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if self._nc is None:
            return
        try:
            await self._nc.publish(subject, data, headers=headers)
        except nats.errors.Error as exc:
            # The caller learns of it through its own connection or timeout.
            log.debug("a reply on %s was lost: %r", subject, exc)

    # -- events --------------------------------------------------------------------------

    async def publish_event(
        self, source: str, topic: str, event: bytes, *, msg_id: str | None = None
    ) -> None:
        """Publish an event's JSON on ``agentlink.events.<source>.<topic>`` (ALP-NATS-006).

        Args:
            msg_id: sent as ``Nats-Msg-Id`` (``<source>/<seq>``, ALP-NATS-008) so that a
                JetStream stream over the event subjects drops duplicates.
        """
        nc = self._client()
        subject = event_subject(source, topic)
        check_size(nc, event, "event")
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        with translated(f"publishing an event on {subject}"):
            await nc.publish(subject, event, headers=headers)

    async def subscribe_events(
        self, pattern: str, callback: EventCallback, *, source: str = "*"
    ) -> EventSubscription:
        """Call ``callback`` with each event whose topic matches ``pattern`` (``*`` one
        token, trailing ``>`` one or more), from ``source`` or from every source.

        Events are delivered in arrival order by one task; an exception in ``callback`` is
        logged and the next event delivered. While ``callback`` is slow, events wait in a
        bounded buffer and then in the connection's; beyond that NATS drops them (a
        subscriber catches up through ``events/subscribe``).
        """
        nc = self._client()
        subject = event_pattern_subject(source, pattern)
        send, receive = anyio.create_memory_object_stream[bytes](_EVENT_BUFFER)

        async def on_event(msg: Msg) -> None:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await send.send(msg.data)

        async def deliver() -> None:
            async with receive:
                async for data in receive:
                    try:
                        await callback(data)
                    except Exception:
                        log.exception("an event callback for %s failed", subject)

        with translated(f"subscribing to {subject}"):
            sub = await nc.subscribe(subject, cb=on_event)
        await self._sync()
        try:
            self._check_allowed(subject)
        except Forbidden:
            with anyio.CancelScope(shield=True), suppress(nats.errors.Error):
                await sub.unsubscribe()
            raise
        subscription = EventSubscription(subject, sub, send, self)
        self._event_subs.add(subscription)
        self._spawn(deliver)
        return subscription

    # -- durable commands ----------------------------------------------------------------

    def _commands(self) -> DurableCommands:
        self._client()
        if self._durable is None:
            raise UsageError("durable commands need NatsTransport(durable=True)")
        return self._durable

    async def request_durable(
        self, address: str, frame: bytes, *, key: str, timeout: float | None = None
    ) -> bytes:
        """Send ``frame`` as a durable command and return its reply.

        The command is stored by JetStream before the agent sees it, survives a restart of
        the NATS server, and runs at most once per ``key`` (put the same key in the frame's
        ``_meta.idempotency_key``). Repeating a key returns the stored reply. When the
        timeout passes, the command still runs: :meth:`durable_reply` fetches its reply.

        Raises:
            WriteError: JetStream did not accept the command (retry with the same key).
            TimeoutError: no reply within ``timeout`` seconds.
        """
        return await self._commands().request(address, frame, key=key, timeout=timeout)

    async def submit_durable(self, address: str, frame: bytes, *, key: str) -> None:
        """Hand a durable command to JetStream; returns once it is stored."""
        await self._commands().submit(address, frame, key=key)

    async def durable_reply(self, address: str, key: str, *, timeout: float | None = None) -> bytes:
        """Wait for the reply of the durable command ``key`` sent to ``address``."""
        return await self._commands().reply(address, key, timeout=timeout)
