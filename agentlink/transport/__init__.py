"""Bindings that move agentlink frames: in-process memory (default), HTTP and NATS."""

from ._base import FrameHandler, Origin, Transport
from ._http import HttpTransport
from ._memory import MemoryNetwork, MemoryTransport
from ._nats import NatsTransport

__all__ = [
    "FrameHandler",
    "HttpTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "NatsTransport",
    "Origin",
    "Transport",
]
