"""Runtime: hosts agents on a transport, with a registry, an event bus and a task group.

::

    async with Runtime(agents=[camera, planner, cnc]) as rt:
        output = await planner.peer("cnc-7").call("start_job", job="J-42")

On entry the runtime binds each agent on its transport (in-process by default), registers
its card in the registry with a lease, and starts its event subscriptions. Every task it
starts (long tasks, subscriptions, lease renewal) belongs to its task group, so leaving the
``async with`` block cancels and awaits them all.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Self

import anyio
import orjson
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from agentlink.core._deadline import format_rfc3339
from agentlink.core._dispatch import Call, Dispatcher
from agentlink.core._topics import check_topic
from agentlink.discovery import Registry, Topology, mount_registry, run_reaper
from agentlink.model import (
    PROTOCOL_VERSION,
    AgentCard,
    AgentlinkError,
    AgentNotFound,
    Event,
    Forbidden,
    Message,
    Tool,
    TransportError,
    Unauthorized,
    UsageError,
)
from agentlink.security import CardVerifier, SecurityConfig, sign_card
from agentlink.security._guard import Security
from agentlink.security._policy import Subject
from agentlink.transport import MemoryTransport, Origin, Transport
from agentlink.transport._base import call_local

from ._agent import Agent
from ._events import EventBus, Subscription
from ._peer import Peer
from ._server import AgentServer

__all__ = ["ReportedError", "Runtime"]

log = logging.getLogger("agentlink.runtime")

#: The registry's agent id on every binding.
REGISTRY_ID = "registry"


@dataclass(slots=True)
class ReportedError:
    """An exception a handler raised where no caller could receive it (event handlers)."""

    where: str
    error: BaseException
    time: float


@dataclass(eq=False)
class Conversation:
    """Messages that arrive for a conversation an agent started (e.g. late bids)."""

    agent_id: str
    conversation_id: str
    inbox: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def put(self, message: Message, meta: dict[str, Any]) -> None:
        self.inbox.append((message, meta))
        self.notify()

    def notify(self) -> None:
        """Wake whoever waits for news of this conversation."""
        self.arrived.set()
        self.arrived = anyio.Event()


class Runtime:
    """Hosts agents and connects them.

    Args:
        agents: agents to host from the start.
        transport: the binding to serve and call on (default: in-process memory).
        registry: True (default) serves a registry in this runtime; False uses the one
            reachable on the transport under the id ``registry``; a string is the address
            of a remote registry (``http://host:port/agents/registry``); None uses none
            (agents are not registered, and only addresses given explicitly are reached).
        lease_ttl: seconds a registration lives without renewal.
        on_error: called with every error reported by an event handler.
        security: authentication, authorization, audit and limits for the hosted agents
            (and the registry served here), and the keys that sign their outgoing calls;
            None: nothing is checked (see docs/security.md).
    """

    def __init__(
        self,
        agents: Iterable[Agent] = (),
        *,
        transport: Transport | None = None,
        registry: bool | str | None = True,
        lease_ttl: float = 30.0,
        on_error: Callable[[ReportedError], None] | None = None,
        security: SecurityConfig | None = None,
    ) -> None:
        self.transport: Transport = transport if transport is not None else MemoryTransport()
        self.security = security
        #: The enforcement built from ``security`` (None: the fast path, nothing checked).
        # A transport that authenticates its callers (mutual TLS) makes its identities count.
        mtls = any(
            s.type == "mtls" for s in getattr(self.transport, "security_schemes", None) or ()
        )
        if security is None and mtls:
            # The certificate names the caller: its requests must not claim another sender.
            security = self.security = SecurityConfig(mtls=True)
        self.guards = (
            None
            if security is None
            else Security(security, resolve=self._subject, mtls=security.mtls or mtls)
        )
        # Bindings with headers carry tokens there; others get them in _meta.auth.
        self._headers = "headers" in inspect.signature(self.transport.request).parameters
        self.serve_registry = registry is True
        #: Where the registry is: its id on the transport, or the address of a remote one.
        self.registry_address: str | None = REGISTRY_ID if isinstance(registry, bool) else registry
        self.lease_ttl = lease_ttl
        self.on_error = on_error
        self.registry = Registry(verifier=_card_verifier(security))
        self._topology = Topology()
        # Calls are counted here on the hot path and folded into the graph when it is read.
        self._calls: Counter[tuple[str, str, str]] = Counter()
        self.bus = EventBus()
        self.errors: list[ReportedError] = []
        self.servers: dict[str, AgentServer] = {}
        self._endpoints: dict[str, str] = {}
        self._resolved: dict[str, tuple[str, float]] = {}
        self._pending = list(agents)
        self._leases: dict[str, str] = {}
        self._refused: set[str] = set()
        self._conversations: dict[tuple[str, str], Conversation] = {}
        self._tg: TaskGroup | None = None
        self._stack: AsyncExitStack | None = None
        # A binding with event subjects (NATS) carries events to other processes too.
        self._distributed = hasattr(self.transport, "publish_event") and hasattr(
            self.transport, "subscribe_events"
        )
        self._outgoing: MemoryObjectSendStream[dict[str, Any]] | None = None
        # One subscription on the binding per topic pattern, shared by every local
        # subscriber of that pattern: the broker sends each event once to this process.
        self._remote_patterns: dict[str, tuple[Any, list[Subscription]]] = {}
        self._system = Peer(
            REGISTRY_ID, sender=None, send=self._send, address=self.registry_address
        )
        self._registry_dispatcher: Dispatcher | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            if hasattr(self.transport, "__aenter__") and not getattr(
                self.transport, "_entered", False
            ):
                # Closed by the stack when the runtime exits, after everything above it.
                await stack.enter_async_context(self.transport)  # type: ignore[arg-type]
            else:
                stack.push_async_callback(self.transport.aclose)
            if getattr(self.transport, "resolve", False) is None:
                self.transport.resolve = self._resolve  # type: ignore[attr-defined]
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self._shutdown)
            if self.serve_registry:
                dispatcher = Dispatcher(agent_id=REGISTRY_ID)
                mount_registry(dispatcher, self.registry)
                self._mount_registry_card(dispatcher)
                if self.guards is not None:
                    dispatcher.guard = self.guards.guard(REGISTRY_ID)
                self._registry_dispatcher = dispatcher

                async def serve_registry(frame: bytes, origin: Origin) -> bytes | None:
                    return await dispatcher.handle(frame, now=time.time(), context=origin)

                self._endpoints[REGISTRY_ID] = await self.transport.bind(
                    REGISTRY_ID, serve_registry
                )
                await self._tg.start(partial(run_reaper, self.registry, interval_s=1.0))
            if self.registry_address is not None:
                self._tg.start_soon(self._renew_leases)
            if self._distributed:
                send, receive = anyio.create_memory_object_stream[dict[str, Any]](10_000)
                self._outgoing = send
                self._tg.start_soon(self._forward_events, receive)
            pending, self._pending = self._pending, []
            for agent in pending:
                await self.add(agent)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        assert stack is not None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The task group wraps whatever the block raised; a single error is given back
            # as itself, so `except ToolNotFound:` around the block works as expected.
            if len(group.exceptions) == 1 and exc is not None and group.exceptions[0] is exc:
                raise exc from None
            raise

    def _mount_registry_card(self, dispatcher: Dispatcher) -> None:
        """The registry is an agent too: it answers ``agent/card`` and ``agent/ping``."""

        async def card(call: Call) -> dict[str, Any]:
            return AgentCard(
                id=REGISTRY_ID,
                name="agentlink registry",
                role="x-registry",
                description="Leases, search and the change feed of the agents of a plant.",
                protocol_versions=[PROTOCOL_VERSION],
                endpoints=self.endpoints(REGISTRY_ID),  # type: ignore[arg-type]
                profiles=["core", "discovery"],
            ).to_wire()

        async def ping(call: Call) -> dict[str, Any]:
            return {"ok": True, "time": format_rfc3339(call.now)}

        dispatcher.add("agent/card", card)
        dispatcher.add("agent/ping", ping)

    async def _shutdown(self) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        if self._outgoing is not None:
            self._outgoing.close()
        with anyio.CancelScope(shield=True):
            for agent_id in list(self.servers):
                await self.remove(agent_id)
            if self.serve_registry:
                await self.transport.unbind(REGISTRY_ID)
        if self.security is not None and self.security.audit is not None:
            self.security.audit.close()  # reopened by the next record, if any

    def spawn(self, func: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``func`` in the runtime's task group."""
        if self._tg is None:
            raise UsageError("the runtime is not running; use `async with Runtime()`")
        self._tg.start_soon(func)

    # -- hosting -------------------------------------------------------------------------

    async def add(self, *agents: Agent) -> None:
        """Host agents: bind them, register their cards, start their subscriptions."""
        if self._tg is None:
            self._pending.extend(agents)
            return
        for agent in agents:
            if agent.id in self.servers:
                raise UsageError(f"an agent {agent.id!r} is already hosted")
            if agent.runtime is not None:
                raise UsageError(f"agent {agent.id!r} is hosted by another runtime")
            agent.runtime = self
            agent._card = None
            server = AgentServer(agent, self)
            self.servers[agent.id] = server
            self._endpoints[agent.id] = await self.transport.bind(agent.id, server.handle_frame)
            agent._card = None
            self._signed_card(agent)
            for route in agent.event_routes:
                subscription = Subscription(agent.id, route.pattern, route.handler)
                self.bus.add(subscription)
                self._topology.observe_subscription(agent.id, route.pattern)
                self.spawn(partial(subscription.run, self.report))
                if self._distributed:
                    shared = self._remote_patterns.get(route.pattern)
                    if shared is None:
                        local: list[Subscription] = []
                        remote = await self.transport.subscribe_events(  # type: ignore[attr-defined]
                            route.pattern, partial(self._remote_event, local)
                        )
                        shared = self._remote_patterns[route.pattern] = (remote, local)
                    shared[1].append(subscription)
            if self.registry_address is not None:
                await self._register(agent.id, initial=True)
            self._topology.add_card(agent.card)

    async def _register(self, agent_id: str, *, initial: bool = False) -> bool:
        """Register a hosted agent. A registry that cannot be reached (not started yet,
        restarting) is retried by the lease loop; the agent serves meanwhile."""
        server = self.servers.get(agent_id)
        if server is None:
            return False
        try:
            lease = await self._registry_peer(agent_id).request(
                "registry/register",
                {"card": self._signed_card(server.agent).to_wire(), "ttl_s": self.lease_ttl},
            )
        except (AgentNotFound, TransportError) as exc:
            # Expected while the registry starts or restarts: retried, so a warning only.
            if not initial:
                log.warning("registering %r failed (%s); will retry", agent_id, exc)
            self._leases.pop(agent_id, None)
            return False
        except (Unauthorized, Forbidden) as exc:
            # The registry refuses this agent (no key, or the policy): it serves
            # unregistered, and is not retried.
            log.warning("the registry refused %r: %s", agent_id, exc)
            self._refused.add(agent_id)
            self._leases.pop(agent_id, None)
            return False
        self._leases[agent_id] = lease["lease_id"]
        return True

    async def remove(self, agent_id: str) -> None:
        """Stop hosting an agent: deregister it, unbind it, stop its subscriptions."""
        server = self.servers.pop(agent_id, None)
        if server is None:
            return
        for subscription in [s for s in self.bus.subscriptions if s.subscriber == agent_id]:
            self.bus.remove(subscription)
            shared = self._remote_patterns.get(subscription.pattern)
            if shared is not None and subscription in shared[1]:
                shared[1].remove(subscription)
                if not shared[1]:
                    del self._remote_patterns[subscription.pattern]
                    await shared[0].aclose()
        lease_id = self._leases.pop(agent_id, None)
        if lease_id is not None:
            try:
                await self._registry_peer(agent_id).request(
                    "registry/deregister", {"agent_id": agent_id, "lease_id": lease_id}
                )
            except Exception as exc:  # the registry may be gone already at shutdown
                log.debug("deregistering %s failed: %r", agent_id, exc)
        self._endpoints.pop(agent_id, None)
        await self.transport.unbind(agent_id)
        self._topology.remove_agent(agent_id)
        server.agent.runtime = None

    def endpoints(self, agent_id: str) -> list[dict[str, str]]:
        """The endpoints to advertise in an agent's card."""
        url = self._endpoints.get(agent_id)
        return [] if url is None else [{"binding": self.transport.binding, "url": url}]

    async def _renew_leases(self) -> None:
        """Renew every lease at a third of its lifetime; register agents that are not (the
        registry was down at start, restarted, or let the lease lapse), retrying those
        quickly at first and then at the renewal pace."""
        retry = 0.2
        while True:
            await anyio.sleep(retry if self._unregistered_now() else self.lease_ttl / 3)
            for agent_id in [
                a for a in self.servers if a not in self._leases and a not in self._refused
            ]:
                await self._register(agent_id)
            retry = min(retry * 2, self.lease_ttl / 3) if self._unregistered_now() else 0.2
            for agent_id, lease_id in list(self._leases.items()):
                try:
                    await self._registry_peer(agent_id).request(
                        "registry/heartbeat", {"agent_id": agent_id, "lease_id": lease_id}
                    )
                except (AgentNotFound, Forbidden):
                    # The registry forgot the lease (restart, expiry): register again.
                    self._leases.pop(agent_id, None)
                    await self._register(agent_id)
                except Exception as exc:
                    self.report(exc, f"renewing the lease of {agent_id!r}")

    def _unregistered_now(self) -> bool:
        return any(a not in self._leases and a not in self._refused for a in self.servers)

    # -- calling -------------------------------------------------------------------------

    async def _send(self, agent_id: str, frame: bytes, timeout: float | None) -> bytes:
        return await self.transport.request(agent_id, frame, timeout=timeout)

    def _sender(self, sender: str | None, agent_id: str) -> Callable[..., Awaitable[bytes]]:
        """How a peer of ``sender`` sends to ``agent_id``: directly without security, else
        with a fresh token and, in-process, the sender's identity."""
        if self.guards is None:
            return self._send
        return partial(self._send_as, sender, agent_id)

    def _registry_peer(self, agent_id: str | None) -> Peer:
        """The registry, called as a hosted agent (about its own registration)."""
        if self.guards is None:
            return self._system
        return Peer(
            REGISTRY_ID,
            sender=agent_id,
            send=self._sender(agent_id, REGISTRY_ID),
            address=self.registry_address,
        )

    async def _send_as(
        self, sender: str | None, agent_id: str, address: str, frame: bytes, timeout: float | None
    ) -> bytes:
        assert self.guards is not None
        token = self.guards.mint(sender, agent_id, time.time())
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        handler = None
        if address == agent_id:
            server = self.servers.get(address)
            if server is not None:
                handler = server.handle_frame
            elif address == REGISTRY_ID and self._registry_dispatcher is not None:
                handler = self._serve_registry
        if handler is not None:
            # In-process: the runtime vouches for the sender (it is one of its agents).
            origin = Origin(
                self.transport.binding, remote="local", identity=sender, headers=headers
            )
            return await call_local(handler, frame, origin, address, timeout)
        if token is None:
            return await self.transport.request(address, frame, timeout=timeout)
        if self._headers:
            reply: bytes = await self.transport.request(  # type: ignore[call-arg]
                address, frame, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
            )
            return reply
        return await self.transport.request(address, _with_auth(frame, token), timeout=timeout)

    async def _serve_registry(self, frame: bytes, origin: Origin) -> bytes | None:
        assert self._registry_dispatcher is not None
        return await self._registry_dispatcher.handle(frame, now=time.time(), context=origin)

    async def _resolve(self, agent_id: str) -> str | None:
        """The base URL of a remote agent on this runtime's binding, from the registry."""
        cached = self._resolved.get(agent_id)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        if agent_id == self.registry_address or self.registry_address is None:
            return None
        # A secured registry answers agents only: ask as one of ours that can sign.
        searcher = self._registry_peer(next((a for a in self.servers if self._can_sign(a)), None))
        page = await searcher.request("registry/search", {"agent_id": agent_id, "limit": 1})
        for card in page["agents"]:
            for endpoint in card.get("endpoints", []):
                if endpoint["binding"] == self.transport.binding:
                    self._resolved[agent_id] = (endpoint["url"], time.time() + 5.0)
                    return str(endpoint["url"])
        return None

    def peer(self, agent_id: str, *, sender: str | None = None, address: str | None = None) -> Peer:
        """A proxy for calling ``agent_id`` (as ``sender``, if given), at ``address`` if
        given (a URL), else wherever the registry says it is."""
        return Peer(
            agent_id,
            sender=sender,
            send=self._send if self.guards is None else partial(self._send_as, sender, agent_id),
            describe=self._describe,
            address=address,
        )

    def _describe(self, agent_id: str, tool: str) -> Tool | None:
        server = self.servers.get(agent_id)
        spec = None if server is None else server.agent.tools.get(tool)
        return None if spec is None else spec.tool

    async def discover(self, *, sender: str | None = None, **criteria: Any) -> list[AgentCard]:
        """Search the registry; every page is fetched."""
        if self.registry_address is None:
            raise UsageError("this runtime uses no registry")
        peer = Peer(
            REGISTRY_ID,
            sender=sender,
            send=self._sender(sender, REGISTRY_ID),
            address=self.registry_address,
        )
        cards: list[AgentCard] = []
        params = {k: v for k, v in criteria.items() if v is not None}
        while True:
            page = await peer.request("registry/search", params)
            cards.extend(AgentCard.model_validate(c) for c in page["agents"])
            if page.get("next_cursor") is None:
                return cards
            params["cursor"] = page["next_cursor"]

    # -- events --------------------------------------------------------------------------

    def publish_raw(
        self, source: str, topic: str, data: Any, datacontenttype: str = "application/json"
    ) -> dict[str, Any]:
        server = self.servers.get(source)
        if server is None:
            raise UsageError(f"agent {source!r} is not hosted here")
        server.check_event_data(topic, data)
        event = server.events.append(topic, data, now=time.time(), datacontenttype=datacontenttype)
        self.bus.publish(event)
        if self._outgoing is not None:
            try:
                self._outgoing.send_nowait(event)
            except anyio.WouldBlock:
                self.report(
                    RuntimeError("event forwarding is 10,000 events behind; dropped one"),
                    f"forwarding {topic!r} from {source!r}",
                )
        return event

    async def _forward_events(self, receive: MemoryObjectReceiveStream[dict[str, Any]]) -> None:
        """Publish local events on the binding, in order, for subscribers elsewhere."""
        publish = self.transport.publish_event  # type: ignore[attr-defined]
        async with receive:
            async for event in receive:
                try:
                    await publish(
                        event["source"],
                        event["topic"],
                        orjson.dumps(event),
                        msg_id=f"{event['source']}/{event['seq']}",
                    )
                except AgentlinkError as exc:
                    self.report(exc, f"forwarding {event['topic']!r} from {event['source']!r}")

    async def _remote_event(self, subscriptions: list[Subscription], raw: bytes) -> None:
        """An event from the binding: delivered to every local subscriber of its pattern,
        unless it was published here (the local bus already delivered it)."""
        event = orjson.loads(raw)
        if event.get("source") not in self.servers:
            shared = Event.model_construct(**event)
            for subscription in subscriptions:
                subscription.put(shared)

    def publish(self, source: str, topic: str, data: Any) -> Event:
        """Publish an event from a hosted agent; returns it."""
        check_topic(topic)
        return Event.model_construct(**self.publish_raw(source, topic, data))

    def report(self, error: BaseException, where: str) -> None:
        """Record an error no caller can receive; it is logged, kept and passed on."""
        reported = ReportedError(where, error, time.time())
        self.errors.append(reported)
        del self.errors[:-1000]
        log.error("%s raised %r", where, error, exc_info=error)
        if self.on_error is not None:
            self.on_error(reported)

    # -- observation and policy hooks used by the servers --------------------------------

    @property
    def topology(self) -> Topology:
        """Agents, capabilities, tools, assets, topics, and who called and subscribed to whom."""
        calls, self._calls = self._calls, Counter()
        for (caller, callee, tool), count in calls.items():
            self._topology.observe_call(caller, callee, tool, count=count)
        return self._topology

    def observe_call(self, caller: str | None, callee: str, tool: str) -> None:
        if caller is not None:
            self._calls[caller, callee, tool] += 1

    def observe_subscription(self, subscriber: str | None, topics: Sequence[str]) -> None:
        if subscriber is not None:
            for topic in topics:
                self._topology.observe_subscription(subscriber, topic)

    async def check_approver(self, approver: str, approvers: frozenset[str], task_id: str) -> None:
        """Raise :class:`Forbidden` unless ``approver`` is listed by id or by role."""
        if approver in approvers:
            return
        roles = {a.removeprefix("role:") for a in approvers if a.startswith("role:")}
        if roles:
            subject = await self._subject(approver)
            if subject.role in roles:
                return
        raise Forbidden(
            f"{approver!r} may not approve task {task_id}",
            data={"task_id": task_id, "approver": approver},
        )

    async def _subject(self, agent_id: str) -> Subject:
        """What an agent's card says of it: hosted here, else in the registry."""
        server = self.servers.get(agent_id)
        card = None if server is None else server.agent.card
        if card is None and self.serve_registry:
            card = self.registry.get(agent_id, now=time.time())
        if card is None and self.registry_address is not None:
            sender = next((a for a in self.servers if self._can_sign(a)), None)
            cards = await self.discover(agent_id=agent_id, sender=sender)
            card = cards[0] if cards else None
        if card is None:
            return Subject(agent_id)
        return Subject(agent_id, card.role, tuple(card.capabilities))

    def _can_sign(self, agent_id: str) -> bool:
        return self.security is not None and agent_id in self.security.keys

    def security_schemes(self) -> list[dict[str, Any]]:
        """The ``security`` member of the hosted agents' cards."""
        schemes = [] if self.guards is None else self.guards.schemes()
        # The binding's own schemes (mtls, nkey) come with the transport's configuration.
        listed = {scheme.type for scheme in schemes}
        for scheme in getattr(self.transport, "security_schemes", ()):
            if scheme.type not in listed:
                schemes.append(scheme)
        return [scheme.to_wire() for scheme in schemes]

    def _signed_card(self, agent: Agent) -> AgentCard:
        """The agent's card, signed with its key from the security config when it has one
        (ALP-SEC-014); kept as the agent's card, so ``agent/card`` serves it signed."""
        card = agent.card
        key = None if self.security is None else self.security.keys.get(agent.id)
        if key is not None and card.signature is None:
            card = agent._card = sign_card(card, key)
        return card

    def open_conversation(self, agent_id: str, conversation_id: str) -> Conversation:
        conversation = Conversation(agent_id, conversation_id)
        self._conversations[(agent_id, conversation_id)] = conversation
        return conversation

    def close_conversation(self, conversation: Conversation) -> None:
        self._conversations.pop((conversation.agent_id, conversation.conversation_id), None)

    def deliver_to_conversation(
        self, agent_id: str, conversation_id: str, message: Message, meta: dict[str, Any]
    ) -> bool:
        conversation = self._conversations.get((agent_id, conversation_id))
        if conversation is None:
            return False
        conversation.put(message, meta)
        return True


def _with_auth(frame: bytes, token: str) -> bytes:
    """``frame`` with ``token`` in ``_meta.auth``, for bindings without headers."""
    request = orjson.loads(frame)
    request["params"]["_meta"]["auth"] = token
    return orjson.dumps(request)


def _card_verifier(security: SecurityConfig | None) -> CardVerifier | None:
    """The registry's check of card signatures (ALP-SEC-015, ALP-SEC-016), if configured."""
    if security is None or not (security.card_keys or security.require_signed_cards):
        return None
    return CardVerifier(security.card_keys, require_signed=security.require_signed_cards)
