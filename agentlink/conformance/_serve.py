"""Serving the conformance fixture with a registry on one transport.

The fixture is bound before the registry, so an HTTP transport serves it at its root as
well (``http://host:port/rpc``, ``/.well-known/agentlink.json``); the registry answers
under the id ``registry`` (``http://host:port/agents/registry`` over HTTP).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from agentlink.discovery import Registry
from agentlink.model import ConnectError
from agentlink.runtime import Agent, Runtime
from agentlink.transport import Transport

from ._fixture import FIXTURE_ID, fixture_agent, fixture_security

__all__ = ["FixtureServer", "serve_fixture"]


@dataclass(frozen=True, slots=True)
class FixtureServer:
    """A running fixture and its registry.

    Attributes:
        agent: the fixture agent.
        registry: the registry the fixture is registered in.
        transport: the binding both are served on.
    """

    agent: Agent
    registry: Registry
    transport: Transport


@asynccontextmanager
async def serve_fixture(
    transport: Transport,
    *,
    registry_transport: Transport | None = None,
    ready_timeout: float = 10.0,
    secure: bool = False,
) -> AsyncIterator[FixtureServer]:
    """Serve a new fixture agent and a registry on ``transport`` until the block ends.

    The block starts once the fixture is registered, so a search finds it at once.

    Args:
        transport: the binding to serve on, entered or not; it is closed at the end.
        registry_transport: a connection of its own for the registry, on the same
            binding (default: ``transport``). A :class:`~agentlink.transport.NatsTransport`
            cannot be shared by two runtimes, so over NATS give one here; over HTTP leave
            it out, so that the fixture and the registry share one server.
        ready_timeout: the longest to wait for the fixture's registration, in seconds.
        secure: serve the fixture in secure mode (:func:`fixture_security`); the registry
            stays open, as the specification's registry rules say.

    Raises:
        ConnectError: the fixture could not register within ``ready_timeout``.
    """
    agent = fixture_agent(secure=secure)
    # Two runtimes: the fixture's binds first (and takes the HTTP root), then the
    # registry's; the fixture's runtime registers it as soon as the registry serves.
    async with (
        Runtime(
            agents=[agent],
            transport=transport,
            registry=False,
            security=fixture_security() if secure else None,
        ),
        Runtime(transport=registry_transport or transport, registry=True) as registry_runtime,
    ):
        registry = registry_runtime.registry
        seq = 0
        try:
            with anyio.fail_after(ready_timeout):
                while registry.get(FIXTURE_ID, now=time.time()) is None:
                    changes = await registry.wait_changes(seq, wait_s=ready_timeout)
                    seq = changes[-1].seq if changes else seq
        except TimeoutError:
            raise ConnectError(
                f"the fixture did not register with its registry within {ready_timeout} s"
            ) from None
        yield FixtureServer(agent, registry, transport)
