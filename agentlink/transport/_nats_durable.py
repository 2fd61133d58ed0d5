"""Durable commands over JetStream (ALP-NATS-009, ALP-NATS-010).

Caller: look the key up in the reply bucket (a repeat gets the stored reply); else publish
the frame on ``agentlink.agent.<id>.cmd`` with ``Nats-Msg-Id: <key>`` and
``Agentlink-Reply-To: $KV.AGENTLINK_REPLIES.<id>.<b64 key>`` and wait for JetStream's
acknowledgement (from then on the command survives a server restart); then subscribe to
the reply subject, look in the bucket again, and wait. Every reconnection, and a slow
timer as a safety net, looks in the bucket again, so a reply published while the caller
was disconnected is not missed.

Agent: each replica fetches from the stream's durable pull consumer. For each command:
if its key already has a reply in the bucket, the handler does not run (a redelivery);
otherwise the handler runs (the acknowledgement deadline renewed meanwhile), the reply is
stored (retried across reconnections until JetStream has it), published to a foreign
``Agentlink-Reply-To`` if there is one, and only then the command is acknowledged. A
command whose acknowledgement is lost is redelivered and answered from the bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Final

import anyio
import anyio.abc
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from agentlink.core._codec import encode_error
from agentlink.model import ConnectError, InternalError, UsageError, WriteError

from ._base import FrameHandler
from ._nats_names import (
    CMD_CONSUMER,
    HEADER_MSG_ID,
    HEADER_REPLY_TO,
    REPLY_BUCKET,
    cmd_stream,
    cmd_subject,
    reply_key,
    reply_subject,
)
from ._nats_wire import check_size, origin_of, too_large, translated, transport_error

if TYPE_CHECKING:
    from ._nats import NatsTransport

__all__ = ["DurableCommands"]

log = logging.getLogger("agentlink.nats")

_FETCH_WAIT: Final = 5.0  # seconds one pull request lingers on the server
_RECHECK_MAX: Final = 30.0  # longest pause between two looks in the reply bucket
_MAX_ACK_PENDING: Final = 256  # commands one agent runs at a time, over all replicas


class _Wakeup:
    """A re-armable event for one waiter: call it to wake, ``wait`` rearms."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def __call__(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._event.wait()
        self._event = anyio.Event()


def _reply_or_raise(stored: bytes) -> bytes:
    if not stored:
        raise UsageError("a durable command got no reply (was it a notification?)")
    return stored


#: The JetStream stream that keeps events (durable transports create it).
EVENTS_STREAM = "AGENTLINK_EVENTS"


class DurableCommands:
    """The JetStream side of a :class:`NatsTransport` created with ``durable=True``."""

    def __init__(
        self, transport: NatsTransport, *, ack_wait: float, dedup_window: float, ttl: float
    ) -> None:
        if dedup_window < 0.1:
            raise UsageError("JetStream's de-duplication window is at least 0.1 s")
        self.transport = transport
        self.ack_wait = ack_wait
        self.dedup_window = dedup_window
        self.ttl = ttl
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._streams: set[str] = set()
        self._consumers: dict[str, anyio.CancelScope] = {}
        self._fetches: set[anyio.CancelScope] = set()
        self._running: set[str] = set()

    async def open(self, nc: Client) -> None:
        self._js = js = nc.jetstream(timeout=self.transport.connect_timeout)
        with translated("opening the durable reply bucket"):
            try:
                self._kv = await js.key_value(REPLY_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                config = KeyValueConfig(
                    bucket=REPLY_BUCKET, history=1, ttl=self.ttl, storage=StorageType.FILE
                )
                try:
                    self._kv = await js.create_key_value(config)
                except nats.js.errors.BadRequestError:  # created by someone else meanwhile
                    self._kv = await js.key_value(REPLY_BUCKET)
        await self._ensure_events_stream()
        self.transport._reconnect_hooks.add(self._on_reconnect)

    async def _ensure_events_stream(self) -> None:
        """Keep every event published on ``agentlink.events.>`` in the stream
        ``AGENTLINK_EVENTS`` (file storage, a day, duplicates dropped by ``Nats-Msg-Id``
        ``<source>/<seq>``): events outlive a broker restart (ALP-NATS-008)."""
        assert self._js is not None
        config = StreamConfig(
            name=EVENTS_STREAM,
            subjects=["agentlink.events.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=86_400.0,
            duplicate_window=self.dedup_window,
        )
        with translated(f"creating the event stream {EVENTS_STREAM}"):
            try:
                await self._js.stream_info(EVENTS_STREAM)
            except nats.js.errors.NotFoundError:
                try:
                    await self._js.add_stream(config)
                except nats.js.errors.BadRequestError:  # created meanwhile
                    await self._js.stream_info(EVENTS_STREAM)

    def _on_reconnect(self) -> None:
        # A pull request made before the connection dropped is gone with it: ask anew.
        for scope in list(self._fetches):
            scope.cancel()

    def _parts(self) -> tuple[Client, JetStreamContext, KeyValue]:
        nc = self.transport._client()
        assert self._js is not None
        assert self._kv is not None
        return nc, self._js, self._kv

    async def _ensure_stream(self, agent_id: str) -> None:
        name = cmd_stream(agent_id)
        if name in self._streams:
            return
        _, js, _ = self._parts()
        config = StreamConfig(
            name=name,
            subjects=[cmd_subject(agent_id)],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=self.dedup_window,
        )
        with translated(f"creating the command stream {name}"):
            try:
                await js.stream_info(name)
            except nats.js.errors.NotFoundError:
                try:
                    await js.add_stream(config)
                except nats.js.errors.BadRequestError:  # created meanwhile, maybe otherwise
                    await js.stream_info(name)
        self._streams.add(name)

    async def stored(self, kv_key: str, *, patient: bool) -> bytes | None:
        """The stored reply under ``kv_key``, or None. ``patient``: wait through
        disconnections and transient JetStream errors instead of raising."""
        _, _, kv = self._parts()
        delay = 0.05
        while True:
            if not self.transport.connected:
                if not patient:
                    raise ConnectError(f"not connected to NATS ({self.transport.url})")
                await self.transport.wait_connected()
            try:
                entry = await kv.get(kv_key)
            except nats.js.errors.NotFoundError:
                return None
            except (nats.errors.Error, OSError) as exc:
                if not patient:
                    raise transport_error(exc, "reading a durable reply") from exc
                log.debug("reading the durable reply %s: %r; retrying", kv_key, exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            return entry.value or b""

    # -- caller --------------------------------------------------------------------------

    async def submit(self, agent_id: str, frame: bytes, *, key: str) -> None:
        nc, js, _ = self._parts()
        headers = {HEADER_MSG_ID: key, HEADER_REPLY_TO: reply_subject(agent_id, key)}
        check_size(nc, frame, "durable command")
        if not self.transport.connected:
            raise ConnectError(f"not connected to NATS ({self.transport.url})")
        await self._ensure_stream(agent_id)
        stream = cmd_stream(agent_id)
        try:
            await js.publish(cmd_subject(agent_id), frame, stream=stream, headers=headers)
        except nats.errors.TimeoutError as exc:
            raise WriteError(
                f"JetStream did not confirm the command {key!r} for {agent_id!r}; it may or "
                "may not be stored: send it again with the same key"
            ) from exc
        except (nats.errors.Error, OSError) as exc:
            self._streams.discard(stream)  # deleted behind our back? look again next time
            raise transport_error(exc, f"sending a durable command to {agent_id!r}") from exc

    async def request(
        self, agent_id: str, frame: bytes, *, key: str, timeout: float | None
    ) -> bytes:
        with anyio.fail_after(timeout) if timeout is not None else nullcontext():
            stored = await self.stored(reply_key(agent_id, key), patient=False)
            if stored is not None:
                return _reply_or_raise(stored)
            await self.submit(agent_id, frame, key=key)
            return await self.reply(agent_id, key, timeout=None)

    async def reply(self, agent_id: str, key: str, *, timeout: float | None) -> bytes:
        nc, _, _ = self._parts()
        kv_key, subject = reply_key(agent_id, key), reply_subject(agent_id, key)
        arrived: list[bytes] = []
        wake = _Wakeup()

        async def on_reply(msg: Msg) -> None:
            if msg.headers and msg.headers.get("KV-Operation"):
                return  # a deletion or purge of the key, not a reply
            arrived.append(msg.data)
            wake()

        with anyio.fail_after(timeout) if timeout is not None else nullcontext():
            await self.transport.wait_connected()
            with translated(f"waiting for the reply to {key!r}"):
                sub = await nc.subscribe(subject, cb=on_reply)
            self.transport._reconnect_hooks.add(wake)
            try:
                recheck = 1.0
                while not arrived:
                    stored = await self.stored(kv_key, patient=True)
                    if stored is not None:
                        return _reply_or_raise(stored)
                    if not arrived:
                        await wake.wait(recheck)
                        recheck = min(recheck * 2, _RECHECK_MAX)
                return _reply_or_raise(arrived[0])
            finally:
                self.transport._reconnect_hooks.discard(wake)
                with anyio.CancelScope(shield=True):
                    try:
                        await sub.unsubscribe()
                    except nats.errors.Error as exc:
                        log.debug("unsubscribing %s: %r", subject, exc)

    # -- agent ---------------------------------------------------------------------------

    async def serve(self, agent_id: str, handler: FrameHandler) -> None:
        """Start consuming ``agent_id``'s commands; returns once the consumer exists."""
        if agent_id in self._consumers:
            raise UsageError(f"durable commands of {agent_id!r} are already served")
        await self._ensure_stream(agent_id)
        _, js, _ = self._parts()
        config = ConsumerConfig(
            durable_name=CMD_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_ack_pending=_MAX_ACK_PENDING,
        )
        with translated(f"creating the command consumer of {agent_id!r}"):
            psub = await js.pull_subscribe(
                cmd_subject(agent_id),
                durable=CMD_CONSUMER,
                stream=cmd_stream(agent_id),
                config=config,
            )
        scope = anyio.CancelScope()
        self._consumers[agent_id] = scope

        async def consume() -> None:
            with scope:
                try:
                    await self._consume(agent_id, handler, psub)
                finally:
                    with anyio.CancelScope(shield=True):
                        try:
                            await psub.unsubscribe()
                        except nats.errors.Error as exc:
                            log.debug("closing the command consumer of %r: %r", agent_id, exc)

        self.transport._spawn(consume)

    async def stop(self, agent_id: str) -> None:
        scope = self._consumers.pop(agent_id, None)
        if scope is not None:
            scope.cancel()

    async def _consume(
        self, agent_id: str, handler: FrameHandler, psub: JetStreamContext.PullSubscription
    ) -> None:
        delay = 0.05
        while True:
            await self.transport.wait_connected()
            messages: list[Msg] = []
            with anyio.CancelScope() as fetch:
                self._fetches.add(fetch)
                try:
                    messages = await psub.fetch(1, timeout=_FETCH_WAIT)
                    delay = 0.05
                except nats.errors.TimeoutError:
                    pass
                except (nats.errors.Error, OSError) as exc:
                    log.debug("fetching commands of %r: %r", agent_id, exc)
                    await anyio.sleep(delay)  # e.g. JetStream not ready yet after a restart
                    delay = min(delay * 2, 2.0)
                finally:
                    self._fetches.discard(fetch)
            for msg in messages:
                self.transport._spawn(self._run, agent_id, handler, msg)

    async def _run(self, agent_id: str, handler: FrameHandler, msg: Msg) -> None:
        headers = msg.headers or {}
        key = headers.get(HEADER_MSG_ID)
        if not key:
            log.warning("a command for %r without %s was dropped", agent_id, HEADER_MSG_ID)
            await _quietly(msg.term())
            return
        kv_key = reply_key(agent_id, key)
        if kv_key in self._running:
            return  # a redelivery while it runs here; acknowledged when it is done
        self._running.add(kv_key)
        try:
            reply = await self.stored(kv_key, patient=True)
            if reply is None:
                reply = await self._execute_kept_alive(agent_id, handler, msg)
                await self._store(kv_key, reply)
            reply_to = headers.get(HEADER_REPLY_TO)
            if reply_to and reply_to != reply_subject(agent_id, key):
                await _quietly(self.transport._client().publish(reply_to, reply))
            # Only now (ALP-NATS-010); if this acknowledgement is lost, the redelivery is
            # answered from the bucket.
            await _quietly(msg.ack())
        finally:
            self._running.discard(kv_key)

    async def _execute_kept_alive(self, agent_id: str, handler: FrameHandler, msg: Msg) -> bytes:
        replies: list[bytes] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._keep_alive, msg)
            replies.append(await self._execute(agent_id, handler, msg))
            tg.cancel_scope.cancel()
        return replies[0]

    async def _execute(self, agent_id: str, handler: FrameHandler, msg: Msg) -> bytes:
        nc = self.transport._client()
        if len(msg.data) > self.transport.max_bytes:
            error = too_large(len(msg.data), self.transport.max_bytes, "durable command")
            return encode_error(None, error)
        try:
            reply = await handler(msg.data, origin_of(msg))
        except Exception as exc:
            # Stored as the answer: a crash is not retried, so it cannot run twice.
            log.exception("the handler of %r failed on a durable command", agent_id)
            return encode_error(None, InternalError(f"the handler failed: {type(exc).__name__}"))
        if reply is None:
            return b""
        if len(reply) > nc.max_payload:
            return encode_error(None, too_large(len(reply), nc.max_payload, "reply"))
        return reply

    async def _keep_alive(self, msg: Msg) -> None:
        while True:
            await anyio.sleep(self.ack_wait / 3)
            await _quietly(msg.in_progress())

    async def _store(self, kv_key: str, reply: bytes) -> None:
        _, _, kv = self._parts()
        delay = 0.05
        while True:
            await self.transport.wait_connected()
            try:
                await kv.put(kv_key, reply)
                return
            except (nats.errors.Error, OSError) as exc:
                # The handler has run: its reply must not be lost, so keep trying.
                log.debug("storing the durable reply %s: %r; retrying", kv_key, exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, 2.0)


async def _quietly(operation: Awaitable[object]) -> None:
    try:
        await operation
    except (nats.errors.Error, OSError) as exc:
        log.debug("a NATS operation failed: %r", exc)
