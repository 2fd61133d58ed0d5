"""Shared bits of the runtime tests: raw frames and a collecting event handler."""

from __future__ import annotations

from typing import Any

import anyio
import orjson

from agentlink.model import Event, error_from_wire
from agentlink.runtime import Runtime

PROTOCOL = "agentlink/0.1"


async def raw_request(
    rt: Runtime, agent_id: str, method: str, params: dict[str, Any], **meta: Any
) -> Any:
    """Send a hand-built request frame on the runtime's transport; return the result or
    raise the error class of the reply. Lets a test put anything in ``_meta``."""
    frame = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": {
                **params,
                "_meta": {"protocol": PROTOCOL, "message_id": "raw-1", **meta},
            },
        }
    )
    reply = orjson.loads(await rt.transport.request(agent_id, frame))
    if "error" in reply:
        raise error_from_wire(reply["error"])
    return reply["result"]


class Collector:
    """An event handler that keeps what it receives and wakes waiters per new event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = anyio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()
        self._arrived = anyio.Event()

    @property
    def topics(self) -> list[str]:
        return [e.topic for e in self.events]

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` events arrived."""
        while len(self.events) < count:
            await self._arrived.wait()
