"""The topology of a plant's agents as a graph, and tool composition over it.

Nodes carry ``kind``: ``agent``, ``capability``, ``tool``, ``asset`` or ``topic``. Node ids
are ``kind:name`` (a tool's name is ``agent_id/tool``), so that an asset and an agent may
share a name. Edges are keyed by their ``kind``:

- from cards: ``has_capability``, ``offers_tool``, ``serves_asset``, ``publishes``;
- observed: ``calls`` (caller -> callee, with ``count`` and a ``tools`` counter) and
  ``subscribes`` (agent -> topic pattern).

Composition (:meth:`Topology.compose`) finds chains of tools, across agents, where each
tool's required inputs come from the previous tool's outputs or from what the caller has.
A property is provided when it is declared with a compatible JSON type: the same type,
``integer`` where ``number`` is required, any type where the requirement names none; a
provided property without a type satisfies only an untyped requirement. Chains are
minimal: no chain contains a shorter chain that already works (so a chain never starts
again halfway, nor continues past a tool that reaches the goal).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final, NamedTuple

import networkx as nx

from agentlink.core._topics import matches
from agentlink.model import AgentCard, UsageError

__all__ = ["ToolRef", "Topology"]

# A property's JSON types; None when the schema does not say.
_Types = frozenset[str] | None
_Props = dict[str, _Types]

_SHAPES: Final = {
    "agent": "box",
    "capability": "hexagon",
    "tool": "ellipse",
    "asset": "cylinder",
    "topic": "parallelogram",
}
# Edges that come from a card; replaced whenever the card is.
_CARD_EDGES: Final = frozenset({"has_capability", "offers_tool", "serves_asset", "publishes"})


class ToolRef(NamedTuple):
    """One tool of one agent."""

    agent_id: str
    tool: str


class _ToolInfo(NamedTuple):
    ref: ToolRef
    required: _Props
    outputs: _Props


def _agent(agent_id: str) -> str:
    return f"agent:{agent_id}"


def _tool(ref: ToolRef) -> str:
    return f"tool:{ref.agent_id}/{ref.tool}"


class Topology:
    """Agents, what they offer, and who talks to whom, in a networkx ``MultiDiGraph``."""

    def __init__(self) -> None:
        self._graph: nx.MultiDiGraph = nx.MultiDiGraph()

    @property
    def graph(self) -> nx.MultiDiGraph:
        """A read-only view of the graph, for analysis with networkx."""
        return self._graph.copy(as_view=True)

    # -- building ------------------------------------------------------------------------

    def add_card(self, card: AgentCard) -> None:
        """Add an agent, or replace what its previous card said (observed edges stay)."""
        g = self._graph
        node = _agent(card.id)
        touched = self._drop_card_edges(node) if node in g else set()
        g.add_node(node, kind="agent", name=card.id, title=card.name, role=card.role, card=True)
        for capability in card.capabilities:
            self._link(node, "capability", capability, "has_capability")
        for asset in card.assets:
            self._link(node, "asset", asset, "serves_asset")
        for event in card.events:
            self._link(node, "topic", event.topic, "publishes")
        for tool in card.tools:
            ref = ToolRef(card.id, tool.name)
            g.add_node(
                _tool(ref),
                kind="tool",
                name=tool.name,
                agent_id=card.id,
                safety=tool.safety,
                input_schema=tool.input_schema.as_dict(),
                output_schema=dict(tool.output_schema),
            )
            g.add_edge(node, _tool(ref), key="offers_tool", kind="offers_tool")
        self._prune(touched)

    def remove_agent(self, agent_id: str) -> bool:
        """Remove an agent, its tools and its observed edges. False if it was unknown."""
        node = _agent(agent_id)
        g = self._graph
        if node not in g:
            return False
        touched = self._drop_card_edges(node) | set(g.successors(node)) | set(g.predecessors(node))
        g.remove_node(node)
        self._prune(touched)
        return True

    def observe_call(self, caller: str, callee: str, tool: str, *, count: int = 1) -> None:
        """Count ``count`` calls of ``tool`` from agent ``caller`` to agent ``callee``."""
        g = self._graph
        source, target = self._ensure_agent(caller), self._ensure_agent(callee)
        if not g.has_edge(source, target, key="calls"):
            g.add_edge(source, target, key="calls", kind="calls", count=0, tools=Counter())
        data = g.edges[source, target, "calls"]
        data["count"] += count
        data["tools"][tool] += count

    def observe_subscription(self, agent_id: str, pattern: str) -> None:
        """Record that ``agent_id`` subscribed to the topic ``pattern``."""
        source = self._ensure_agent(agent_id)
        self._link(source, "topic", pattern, "subscribes")

    # -- queries -------------------------------------------------------------------------

    def agents(self) -> list[str]:
        """Every known agent id, sorted (agents only seen in calls included)."""
        return self._names("agent")

    def providers(self, capability: str) -> list[str]:
        """Agents with ``capability`` or a capability below it (``vision`` finds
        ``vision.defect-detection``), sorted."""
        found: set[str] = set()
        for node, data in self._graph.nodes(data=True):
            if data["kind"] == "capability" and _under(data["name"], capability):
                found.update(self._sources(node, "has_capability"))
        return sorted(found)

    def serving(self, asset: str) -> list[str]:
        """Agents that serve ``asset``, sorted."""
        return sorted(self._sources(f"asset:{asset}", "serves_asset"))

    def publishers(self, topic: str) -> list[str]:
        """Agents whose card says they publish ``topic``, sorted."""
        return sorted(self._sources(f"topic:{topic}", "publishes"))

    def subscribers(self, topic: str) -> list[str]:
        """Agents subscribed with a pattern that matches ``topic``, sorted."""
        found: set[str] = set()
        for node, data in self._graph.nodes(data=True):
            if data["kind"] == "topic" and matches(data["name"], topic):
                found.update(self._sources(node, "subscribes"))
        return sorted(found)

    def tools(self, agent_id: str | None = None) -> list[ToolRef]:
        """The tools of ``agent_id``, or of every agent, sorted."""
        return sorted(
            ToolRef(data["agent_id"], data["name"])
            for _, data in self._graph.nodes(data=True)
            if data["kind"] == "tool" and agent_id in (None, data["agent_id"])
        )

    def callees(self, agent_id: str) -> list[str]:
        """Agents that ``agent_id`` has been seen calling, sorted."""
        node = _agent(agent_id)
        if node not in self._graph:
            return []
        edges = self._graph.out_edges(node, keys=True)
        return sorted(self._graph.nodes[v]["name"] for _, v, k in edges if k == "calls")

    def callers(self, agent_id: str) -> list[str]:
        """Agents seen calling ``agent_id``, sorted."""
        return sorted(self._sources(_agent(agent_id), "calls"))

    # -- export --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The graph as networkx node-link data, nodes and edges sorted, safe to mutate."""
        data: dict[str, Any] = nx.node_link_data(self._graph, edges="edges")
        data["nodes"].sort(key=lambda n: n["id"])
        data["edges"].sort(key=lambda e: (e["source"], e["target"], e["key"]))
        for edge in data["edges"]:
            if "tools" in edge:
                edge["tools"] = dict(sorted(edge["tools"].items()))
        return copy.deepcopy(data)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT, in a stable order (nodes and edges sorted)."""
        g = self._graph
        lines = ["digraph agentlink {", "  rankdir=LR;"]
        for node in sorted(g.nodes):
            data = g.nodes[node]
            kind = data["kind"]
            label = data["name"] if kind != "tool" else f"{data['agent_id']}/{data['name']}"
            attrs = {"kind": kind, "label": label, "shape": _SHAPES[kind]}
            if kind == "agent" and not data.get("card"):
                attrs["style"] = "dashed"
            lines.append(f"  {_quote(node)} [{_attrs(attrs)}];")
        for u, v, key in sorted(g.edges(keys=True)):
            attrs = {"kind": key, "label": key}
            if key == "calls":
                attrs["label"] = f"calls ({g.edges[u, v, key]['count']})"
            lines.append(f"  {_quote(u)} -> {_quote(v)} [{_attrs(attrs)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- composition ---------------------------------------------------------------------

    def compose(
        self,
        *,
        have: Mapping[str, Any],
        want: str | Collection[str] | Mapping[str, Any],
        max_depth: int = 4,
        limit: int = 100,
    ) -> list[list[ToolRef]]:
        """Chains of tools that turn what you ``have`` into what you ``want``.

        Args:
            have: the available inputs, as a JSON Schema of an object (its ``properties``)
                or as a map of property name to JSON type (``{"image": "string"}``) or to
                a property schema (``{"image": {"type": "string"}}``).
            want: a capability (the last tool belongs to an agent with it or one below
                it), a collection of property names the last tool must output, or a JSON
                Schema (or name-to-type map) whose required properties it must output.
            max_depth: the longest chain, in tools.
            limit: the most chains to return.

        Returns:
            Minimal chains, shortest first, then in order of their tool references.

        Raises:
            UsageError: ``want`` names nothing, or ``max_depth`` or ``limit`` is below 1.
        """
        if max_depth < 1 or limit < 1:
            raise UsageError(f"max_depth and limit must be at least 1: {max_depth}, {limit}")
        if not want or (isinstance(want, Mapping) and not _wanted(want)):
            raise UsageError(f"want names nothing to reach: {want!r}")
        available = _properties(have)
        tools = self._tool_infos()
        goals = {t.ref for t in tools if self._reaches(t, want)}
        starts = [t.ref for t in tools if _satisfied(t.required, available)]
        graph = _tool_graph(tools, available, set(starts), goals)
        to_goal = _distances_to(graph, goals)
        chains: list[list[ToolRef]] = []
        for length in range(1, max_depth + 1):
            for chain in _chains(graph, starts, goals, to_goal, length):
                chains.append(list(chain))
                if len(chains) == limit:
                    return chains
        return chains

    def _reaches(self, tool: _ToolInfo, want: str | Collection[str] | Mapping[str, Any]) -> bool:
        if isinstance(want, Mapping):
            return _satisfied(_wanted(want), tool.outputs)
        if isinstance(want, str):
            edges = self._graph.out_edges(_agent(tool.ref.agent_id), keys=True)
            return any(
                k == "has_capability" and _under(self._graph.nodes[v]["name"], want)
                for _, v, k in edges
            )
        return all(name in tool.outputs for name in want)

    # -- internals -----------------------------------------------------------------------

    def _tool_infos(self) -> list[_ToolInfo]:
        infos = []
        for _, data in self._graph.nodes(data=True):
            if data["kind"] != "tool":
                continue
            inputs = data["input_schema"]
            required = inputs.get("required", [])
            input_props = _schema_properties(inputs)
            infos.append(
                _ToolInfo(
                    ToolRef(data["agent_id"], data["name"]),
                    {name: input_props.get(name) for name in required if isinstance(name, str)},
                    _schema_properties(data["output_schema"]),
                )
            )
        infos.sort(key=lambda info: info.ref)
        return infos

    def _ensure_agent(self, agent_id: str) -> str:
        node = _agent(agent_id)
        if node not in self._graph:
            self._graph.add_node(node, kind="agent", name=agent_id, card=False)
        return node

    def _link(self, source: str, kind: str, name: str, edge: str) -> None:
        target = f"{kind}:{name}"
        if target not in self._graph:
            self._graph.add_node(target, kind=kind, name=name)
        self._graph.add_edge(source, target, key=edge, kind=edge)

    def _drop_card_edges(self, node: str) -> set[str]:
        """Drop what ``node``'s card said; returns the nodes that lost an edge."""
        g = self._graph
        touched: set[str] = set()
        for _, target, key in list(g.out_edges(node, keys=True)):
            if key in _CARD_EDGES:
                g.remove_edge(node, target, key=key)
                touched.add(target)
                if key == "offers_tool":
                    g.remove_node(target)
        return touched

    def _prune(self, candidates: set[str]) -> None:
        # Capabilities, assets, topics and agents only seen in calls exist through the
        # agents that name them; an agent with a card stays until removed. Only nodes that
        # just lost an edge can have become orphans: checking them alone keeps adding or
        # removing an agent O(its own edges) instead of O(the whole graph).
        g = self._graph
        orphans = [
            n
            for n in candidates
            if n in g and not g.succ[n] and not g.pred[n] and not g.nodes[n].get("card")
        ]
        g.remove_nodes_from(orphans)

    def _names(self, kind: str) -> list[str]:
        return sorted(d["name"] for _, d in self._graph.nodes(data=True) if d["kind"] == kind)

    def _sources(self, node: str, edge: str) -> set[str]:
        if node not in self._graph:
            return set()
        edges = self._graph.in_edges(node, keys=True)
        return {self._graph.nodes[u]["name"] for u, _, k in edges if k == edge}


def _under(capability: str, prefix: str) -> bool:
    return capability == prefix or capability.startswith(prefix + ".")


def _type_set(value: Any) -> _Types:
    if isinstance(value, str):
        return frozenset((value,))
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


def _schema_properties(schema: Mapping[str, Any]) -> _Props:
    """Property name -> JSON types, from an object schema's ``properties``."""
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return {}
    return {
        name: _type_set(sub.get("type")) if isinstance(sub, Mapping) else None
        for name, sub in props.items()
    }


def _is_schema(value: Mapping[str, Any]) -> bool:
    return isinstance(value.get("properties"), Mapping) or value.get("type") == "object"


def _properties(value: Mapping[str, Any]) -> _Props:
    """Property name -> JSON types, from an object schema or a name-to-type map."""
    if _is_schema(value):
        return _schema_properties(value)
    return {
        name: _type_set(types.get("type")) if isinstance(types, Mapping) else _type_set(types)
        for name, types in value.items()
    }


def _wanted(want: Mapping[str, Any]) -> _Props:
    props = _properties(want)
    required = want.get("required") if _is_schema(want) else None
    if isinstance(required, list):
        return {name: props.get(name) for name in required if isinstance(name, str)}
    return props


def _provides(provided: _Types, required: _Types) -> bool:
    if required is None:
        return True
    if provided is None:
        return False
    return all(t in required or (t == "integer" and "number" in required) for t in provided)


def _satisfied(required: _Props, *sources: _Props) -> bool:
    return all(
        any(name in src and _provides(src[name], types) for src in sources)
        for name, types in required.items()
    )


def _tool_graph(
    tools: list[_ToolInfo], have: _Props, starts: set[ToolRef], goals: set[ToolRef]
) -> nx.DiGraph:
    """Edges A -> B where B can follow A. A start tool never follows another, and a goal
    is never followed: such chains are not minimal."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(t.ref for t in tools)
    producers: dict[str, list[_ToolInfo]] = {}
    for tool in tools:
        for name in tool.outputs:
            producers.setdefault(name, []).append(tool)
    for tool in tools:
        if tool.ref in starts:
            continue
        missing = {
            name: types
            for name, types in tool.required.items()
            if not (name in have and _provides(have[name], types))
        }
        # Only a producer of one missing input can precede the tool; take the rarest.
        rarest = min(missing, key=lambda name: len(producers.get(name, ())))
        for before in producers.get(rarest, ()):
            if before.ref == tool.ref or before.ref in goals:
                continue
            if _satisfied(missing, before.outputs):
                graph.add_edge(before.ref, tool.ref)
    return graph


def _distances_to(graph: nx.DiGraph, goals: set[ToolRef]) -> dict[ToolRef, int]:
    """Fewest steps from each tool to a goal, by breadth-first search backwards."""
    distance = dict.fromkeys(goals, 0)
    frontier = sorted(goals)
    while frontier:
        following: list[ToolRef] = []
        for node in frontier:
            for before in graph.predecessors(node):
                if before not in distance:
                    distance[before] = distance[node] + 1
                    following.append(before)
        frontier = following
    return distance


def _chains(
    graph: nx.DiGraph,
    starts: list[ToolRef],
    goals: set[ToolRef],
    to_goal: dict[ToolRef, int],
    length: int,
) -> Iterator[tuple[ToolRef, ...]]:
    """Chains of exactly ``length`` tools, in order of their references (depth first,
    pruned by the distance to a goal)."""
    far = length + 1
    successors = {node: sorted(graph.successors(node)) for node in graph}
    path: list[ToolRef] = []

    def extend(node: ToolRef, left: int) -> Iterator[tuple[ToolRef, ...]]:
        path.append(node)
        if left == 0:
            if node in goals:
                yield tuple(path)
        elif node not in goals:
            for nxt in successors[node]:
                if nxt not in path and to_goal.get(nxt, far) <= left - 1:
                    yield from extend(nxt, left - 1)
        path.pop()

    for start in starts:
        if to_goal.get(start, far) <= length - 1:
            yield from extend(start, length - 1)


def _quote(text: str) -> str:
    # DOT quoted strings escape only the double quote; escaping the backslash as well
    # keeps a trailing backslash from swallowing the closing quote.
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(attrs: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={_quote(value)}" for name, value in attrs.items())
