"""The reference runtime: agents, tools, peers, tasks, events and interaction protocols."""

from ._agent import Agent, MessageContext
from ._context import ToolContext
from ._interactions import query, request, subscribe
from ._negotiation import contract_net, lowest
from ._peer import Peer, TaskHandle
from ._runtime import ReportedError, Runtime

__all__ = [
    "Agent",
    "MessageContext",
    "Peer",
    "ReportedError",
    "Runtime",
    "TaskHandle",
    "ToolContext",
    "contract_net",
    "lowest",
    "query",
    "request",
    "subscribe",
]
