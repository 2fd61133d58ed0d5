"""Tools for testing agents and bindings: the memory transport, a fault-injecting
transport, and the contract every transport must pass."""

from agentlink.transport import MemoryNetwork, MemoryTransport

from ._contract import CHECKS, TransportPair, check_transport
from ._faults import FaultStats, FaultyTransport

__all__ = [
    "CHECKS",
    "FaultStats",
    "FaultyTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "TransportPair",
    "check_transport",
]
