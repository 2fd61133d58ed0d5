"""Bindings that move agentlink frames: in-process memory (default), HTTP and NATS."""

from ._base import FrameHandler, Origin, Transport
from ._http import HttpTransport
from ._memory import MemoryNetwork, MemoryTransport

__all__ = [
    "FrameHandler",
    "HttpTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "Origin",
    "Transport",
]
