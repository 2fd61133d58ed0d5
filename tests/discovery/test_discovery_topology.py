from __future__ import annotations

import json
from typing import Any

import networkx as nx
import pytest

from agentlink.discovery import ToolRef, Topology
from agentlink.model import AgentCard, UsageError
from tests.discovery.discovery_helpers import make_card


def schema(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object schema; values are JSON types (None: no type given)."""
    props = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": {k: ({} if t is None else {"type": t}) for k, t in props.items()},
        "required": list(required),
    }


def tool_card(
    agent_id: str, tools: dict[str, tuple[dict[str, Any], dict[str, Any]]], **card: Any
) -> AgentCard:
    """A card whose tools are given as name -> (required inputs, outputs)."""
    return AgentCard.model_validate(
        {
            "id": agent_id,
            "name": agent_id,
            "role": card.pop("role", "perception"),
            "protocol_versions": ["agentlink/0.1"],
            "tools": [
                {"name": name, "input_schema": schema(ins), "output_schema": schema({}, outs)}
                for name, (ins, outs) in tools.items()
            ],
            **card,
        }
    )


def small_plant() -> Topology:
    topology = Topology()
    topology.add_card(
        AgentCard.model_validate(
            {
                "id": "cam-1",
                "name": 'Camera "one"',
                "role": "perception",
                "protocol_versions": ["agentlink/0.1"],
                "capabilities": ["vision.capture"],
                "tools": [{"name": "capture", "input_schema": {"type": "object"}}],
                "events": [{"topic": "line1.images"}],
                "assets": ["urn:line-1\\station-2"],
            }
        )
    )
    topology.observe_call("planner", "cam-1", "capture")
    topology.observe_call("planner", "cam-1", "capture")
    topology.observe_subscription("planner", "line1.*")
    return topology


# -- graph ---------------------------------------------------------------------------------


def test_to_json_is_node_link_data_sorted_and_plain() -> None:
    data = small_plant().to_json()
    assert data == {
        "directed": True,
        "multigraph": True,
        "graph": {},
        "nodes": [
            {
                "id": "agent:cam-1",
                "kind": "agent",
                "name": "cam-1",
                "title": 'Camera "one"',
                "role": "perception",
                "card": True,
            },
            {"id": "agent:planner", "kind": "agent", "name": "planner", "card": False},
            {"id": "asset:urn:line-1\\station-2", "kind": "asset", "name": "urn:line-1\\station-2"},
            {"id": "capability:vision.capture", "kind": "capability", "name": "vision.capture"},
            {
                "id": "tool:cam-1/capture",
                "kind": "tool",
                "name": "capture",
                "agent_id": "cam-1",
                "safety": "read-only",
                "input_schema": {"type": "object"},
                "output_schema": {},
            },
            {"id": "topic:line1.*", "kind": "topic", "name": "line1.*"},
            {"id": "topic:line1.images", "kind": "topic", "name": "line1.images"},
        ],
        "edges": [
            {
                "source": "agent:cam-1",
                "target": "asset:urn:line-1\\station-2",
                "key": "serves_asset",
                "kind": "serves_asset",
            },
            {
                "source": "agent:cam-1",
                "target": "capability:vision.capture",
                "key": "has_capability",
                "kind": "has_capability",
            },
            {
                "source": "agent:cam-1",
                "target": "tool:cam-1/capture",
                "key": "offers_tool",
                "kind": "offers_tool",
            },
            {
                "source": "agent:cam-1",
                "target": "topic:line1.images",
                "key": "publishes",
                "kind": "publishes",
            },
            {
                "source": "agent:planner",
                "target": "agent:cam-1",
                "key": "calls",
                "kind": "calls",
                "count": 2,
                "tools": {"capture": 2},
            },
            {
                "source": "agent:planner",
                "target": "topic:line1.*",
                "key": "subscribes",
                "kind": "subscribes",
            },
        ],
    }
    assert type(data["edges"][4]["tools"]) is dict
    json.dumps(data)
    # The export is a copy: changing it leaves the topology alone.
    data["nodes"][4]["input_schema"]["type"] = "string"
    assert small_plant().to_json()["nodes"][4]["input_schema"] == {"type": "object"}


def test_to_dot_quotes_and_orders() -> None:
    assert small_plant().to_dot() == (
        "digraph agentlink {\n"
        "  rankdir=LR;\n"
        '  "agent:cam-1" [kind="agent", label="cam-1", shape="box"];\n'
        '  "agent:planner" [kind="agent", label="planner", shape="box", style="dashed"];\n'
        '  "asset:urn:line-1\\\\station-2" [kind="asset", label="urn:line-1\\\\station-2", '
        'shape="cylinder"];\n'
        '  "capability:vision.capture" [kind="capability", label="vision.capture", '
        'shape="hexagon"];\n'
        '  "tool:cam-1/capture" [kind="tool", label="cam-1/capture", shape="ellipse"];\n'
        '  "topic:line1.*" [kind="topic", label="line1.*", shape="parallelogram"];\n'
        '  "topic:line1.images" [kind="topic", label="line1.images", shape="parallelogram"];\n'
        '  "agent:cam-1" -> "asset:urn:line-1\\\\station-2" '
        '[kind="serves_asset", label="serves_asset"];\n'
        '  "agent:cam-1" -> "capability:vision.capture" '
        '[kind="has_capability", label="has_capability"];\n'
        '  "agent:cam-1" -> "tool:cam-1/capture" [kind="offers_tool", label="offers_tool"];\n'
        '  "agent:cam-1" -> "topic:line1.images" [kind="publishes", label="publishes"];\n'
        '  "agent:planner" -> "agent:cam-1" [kind="calls", label="calls (2)"];\n'
        '  "agent:planner" -> "topic:line1.*" [kind="subscribes", label="subscribes"];\n'
        "}\n"
    )


def test_dot_escapes_quotes_newlines_and_trailing_backslashes() -> None:
    topology = Topology()
    topology.add_card(make_card("a", assets=['say "hi"\nnow\\']))
    dot = topology.to_dot()
    assert '"asset:say \\"hi\\"\\nnow\\\\" [kind="asset", label="say \\"hi\\"\\nnow\\\\"' in dot


def test_exports_do_not_depend_on_insertion_order() -> None:
    cards = [
        make_card("b", capabilities=["x.y"], tools=["t"], assets=["m"]),
        make_card("a", capabilities=["x"], tools=["u"], assets=["m"]),
    ]
    one, two = Topology(), Topology()
    for card in cards:
        one.add_card(card)
    for card in reversed(cards):
        two.add_card(card)
    one.observe_call("a", "b", "t")
    two.observe_call("a", "b", "t")
    assert one.to_json() == two.to_json()
    assert one.to_dot() == two.to_dot()


def test_queries() -> None:
    topology = Topology()
    topology.add_card(
        make_card(
            "cam-1", capabilities=["vision.defect-detection"], tools=["inspect"], assets=["m1"]
        )
    )
    topology.add_card(make_card("cam-2", capabilities=["vision.capture"], assets=["m1", "m2"]))
    topology.add_card(make_card("mill", role="execution", capabilities=["machining"]))
    topology.observe_call("planner", "cam-1", "inspect")
    topology.observe_call("planner", "mill", "start")
    topology.observe_call("cam-1", "mill", "status")
    topology.observe_subscription("planner", "line1.>")
    topology.observe_subscription("mill", "line1.*")
    assert topology.agents() == ["cam-1", "cam-2", "mill", "planner"]
    assert topology.providers("vision") == ["cam-1", "cam-2"]
    assert topology.providers("vision.capture") == ["cam-2"]
    assert topology.providers("vision.cap") == []
    assert topology.serving("m1") == ["cam-1", "cam-2"]
    assert topology.serving("m9") == []
    assert topology.tools() == [ToolRef("cam-1", "inspect")]
    assert topology.tools("cam-2") == []
    assert topology.callees("planner") == ["cam-1", "mill"]
    assert topology.callers("mill") == ["cam-1", "planner"]
    assert topology.callers("nobody") == []
    assert topology.callees("nobody") == []
    assert topology.subscribers("line1.images") == ["mill", "planner"]
    assert topology.subscribers("line1.cam.images") == ["planner"]
    assert topology.subscribers("line2.images") == []


def test_replacing_a_card_keeps_observed_edges() -> None:
    topology = small_plant()
    topology.add_card(make_card("cam-1", capabilities=["vision.thermal"], tools=["snap"]))
    assert topology.providers("vision.capture") == []
    assert topology.providers("vision") == ["cam-1"]
    assert topology.tools("cam-1") == [ToolRef("cam-1", "snap")]
    assert topology.callers("cam-1") == ["planner"]
    assert topology.publishers("line1.images") == []
    nodes = {n["id"] for n in topology.to_json()["nodes"]}
    assert "capability:vision.capture" not in nodes
    assert "asset:urn:line-1\\station-2" not in nodes


def test_remove_agent_prunes_orphans_only() -> None:
    topology = Topology()
    topology.add_card(make_card("a", capabilities=["shared", "only-a"], tools=["t"]))
    topology.add_card(make_card("b", capabilities=["shared"]))
    topology.observe_call("a", "ghost", "x")
    assert topology.remove_agent("a") is True
    assert topology.remove_agent("a") is False
    nodes = sorted(n["id"] for n in topology.to_json()["nodes"])
    # The capability b still has stays; a's own capability, tool, and the agent seen only
    # in a's calls go.
    assert nodes == ["agent:b", "capability:shared"]
    assert topology.publishers("x") == []


def test_graph_view_is_read_only() -> None:
    topology = small_plant()
    view = topology.graph
    assert view.number_of_nodes() == 7
    with pytest.raises(nx.NetworkXError):
        view.add_node("agent:x")


# -- composition ---------------------------------------------------------------------------

CAPTURE = tool_card(
    "cam-1",
    {"capture": ({"station": "string"}, {"image": "string", "width": "integer"})},
    capabilities=["vision.capture"],
)
DETECT = tool_card(
    "detector",
    {"detect": ({"image": "string"}, {"defects": "integer", "image_id": "string"})},
    capabilities=["vision.defect-detection"],
)
GRADE = tool_card(
    "qc", {"grade": ({"defects": "number"}, {"grade": "string"})}, capabilities=["quality"]
)


def plant(*cards: AgentCard) -> Topology:
    topology = Topology()
    for card in cards or (CAPTURE, DETECT, GRADE):
        topology.add_card(card)
    return topology


def chain(*refs: str) -> list[ToolRef]:
    return [ToolRef(*ref.split("/")) for ref in refs]


def test_compose_finds_a_chain_across_agents() -> None:
    topology = plant()
    expected = [chain("cam-1/capture", "detector/detect", "qc/grade")]
    assert topology.compose(have={"station": "string"}, want={"grade"}) == expected
    assert topology.compose(have={"station": "string"}, want="quality") == expected
    assert (
        topology.compose(have=schema({"station": "string"}), want=schema({"grade": "string"}))
        == expected
    )
    assert topology.compose(have={"image": "string"}, want={"grade"}) == [
        chain("detector/detect", "qc/grade")
    ]


def test_compose_respects_max_depth() -> None:
    topology = plant()
    assert topology.compose(have={"station": "string"}, want={"grade"}, max_depth=2) == []
    assert topology.compose(have={"station": "string"}, want={"grade"}, max_depth=3) != []


def test_integer_satisfies_number_but_not_the_reverse() -> None:
    number_out = tool_card("n", {"measure": ({}, {"defects": "number"})})
    int_in = tool_card("i", {"count": ({"defects": "integer"}, {"total": "integer"})})
    topology = plant(number_out, int_in, GRADE)
    assert topology.compose(have={}, want={"grade"}) == [chain("n/measure", "qc/grade")]
    assert topology.compose(have={}, want={"total"}) == []


@pytest.mark.parametrize(
    ("have", "found"),
    [
        ({"station": "number"}, False),  # wrong type
        ({"station": ["string", "null"]}, False),  # may be null
        ({"station": ["string"]}, True),
        ({"station": None}, False),  # untyped does not satisfy a typed input
        ({"place": "string"}, False),  # wrong name
    ],
)
def test_compose_checks_json_types(have: dict[str, Any], found: bool) -> None:
    result = plant().compose(have=have, want={"grade"})
    assert (result == [chain("cam-1/capture", "detector/detect", "qc/grade")]) is found
    assert found or result == []


def test_untyped_requirement_accepts_any_type() -> None:
    loose = tool_card("loose", {"log": ({"image": None}, {"logged": "boolean"})})
    assert plant(CAPTURE, loose).compose(have={"station": "string"}, want={"logged"}) == [
        chain("cam-1/capture", "loose/log")
    ]


def test_initial_inputs_fill_gaps_after_the_first_tool() -> None:
    threshold = tool_card(
        "thr", {"detect": ({"image": "string", "threshold": "number"}, {"defects": "integer"})}
    )
    topology = plant(CAPTURE, threshold, GRADE)
    assert topology.compose(have={"station": "string"}, want={"grade"}) == []
    assert topology.compose(have={"station": "string", "threshold": "number"}, want={"grade"}) == [
        chain("cam-1/capture", "thr/detect", "qc/grade")
    ]


def test_shortest_chains_first_then_by_tool_reference() -> None:
    other = tool_card(
        "a-detector",
        {"detect": ({"image": "string"}, {"defects": "integer"})},
    )
    shortcut = tool_card(
        "z-oneshot", {"grade_station": ({"station": "string"}, {"grade": "string"})}
    )
    topology = plant(CAPTURE, DETECT, GRADE, other, shortcut)
    assert topology.compose(have={"station": "string"}, want={"grade"}) == [
        chain("z-oneshot/grade_station"),
        chain("cam-1/capture", "a-detector/detect", "qc/grade"),
        chain("cam-1/capture", "detector/detect", "qc/grade"),
    ]
    assert topology.compose(have={"station": "string"}, want={"grade"}, limit=2) == [
        chain("z-oneshot/grade_station"),
        chain("cam-1/capture", "a-detector/detect", "qc/grade"),
    ]


def test_chains_are_minimal() -> None:
    # detect can start from `have` already, so capture -> detect is never offered; a chain
    # stops at the first tool that reaches the goal.
    topology = plant(CAPTURE, DETECT, GRADE)
    have = {"station": "string", "image": "string"}
    assert topology.compose(have=have, want={"image_id"}) == [chain("detector/detect")]
    assert topology.compose(have=have, want={"grade"}) == [chain("detector/detect", "qc/grade")]


def test_cycles_terminate() -> None:
    ping = tool_card("p", {"ping": ({"x": "string"}, {"y": "string"})})
    pong = tool_card("q", {"pong": ({"y": "string"}, {"x": "string"})})
    topology = plant(ping, pong)
    assert topology.compose(have={"x": "string"}, want={"z"}, max_depth=8) == []
    assert topology.compose(have={"x": "string"}, want={"x"}, max_depth=8) == [
        chain("p/ping", "q/pong")
    ]


def test_want_schema_uses_required_properties() -> None:
    topology = plant()
    want = schema({"defects": "integer"}, {"grade": "string"})
    assert topology.compose(have={"image": "string"}, want=want) == [chain("detector/detect")]
    assert topology.compose(have={"image": "string"}, want={"defects": "string"}) == []


@pytest.mark.parametrize(
    "call",
    [
        {"want": {"grade"}, "max_depth": 0},
        {"want": {"grade"}, "limit": 0},
        {"want": set()},
        {"want": ""},
        {"want": {"type": "object"}},
        {"want": {"type": "object", "properties": {"a": {}}, "required": []}},
    ],
)
def test_compose_usage_errors(call: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        plant().compose(have={}, **call)


def test_have_may_map_names_to_property_schemas() -> None:
    have = {"station": {"type": "string", "maxLength": 8}}
    assert plant().compose(have=have, want={"grade"}) == [
        chain("cam-1/capture", "detector/detect", "qc/grade")
    ]


def test_compose_without_tools_or_goal_is_empty() -> None:
    assert Topology().compose(have={"x": "string"}, want={"y"}) == []
    assert plant().compose(have={"station": "string"}, want="no-such-capability") == []
