"""Discovery: the agent registry (leases, indexed search, change feed) and the topology graph.

Only in-memory data structures and the glue that serves them on a dispatcher live here;
a transport carries ``registry/*`` calls to them like any other method.
"""

from ._registry import DEFAULT_HISTORY, MAX_TTL_S, Registry, mount_registry, run_reaper
from ._topology import ToolRef, Topology

__all__ = [
    "DEFAULT_HISTORY",
    "MAX_TTL_S",
    "Registry",
    "ToolRef",
    "Topology",
    "mount_registry",
    "run_reaper",
]
