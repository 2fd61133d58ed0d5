"""Discovery profile, unit discovery-search: ``registry/search`` criteria, order, paging."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from wire import Target


def make_card(agent_id: str, **members: Any) -> dict[str, Any]:
    return {
        "id": agent_id,
        "name": "Conformance search agent",
        "role": "execution",
        "protocol_versions": ["agentlink/0.1"],
        **members,
    }


def tool(name: str) -> dict[str, Any]:
    return {"name": name, "input_schema": {"type": "object"}}


class Registry(Target):
    """A registry client that deregisters, at the end, what it registered."""

    leases: list[dict[str, Any]]


@pytest.fixture
def registry(target: Target) -> Iterator[Registry]:
    client = Registry(
        f"http://{target.host}:{target.port}/agents/registry",
        sender=f"conf-holder-{uuid.uuid4().hex[:12]}",
    )
    client.leases = []
    yield client
    for lease in client.leases:
        client.rpc(
            "registry/deregister", {"agent_id": lease["agent_id"], "lease_id": lease["lease_id"]}
        )
    client.close()


def register(registry: Registry, *cards: dict[str, Any]) -> None:
    for card in cards:
        registry.leases.append(registry.result("registry/register", {"card": card, "ttl_s": 60}))


def ids(registry: Target, **criteria: Any) -> list[str]:
    """Agent ids of every page of a search, in the order returned."""
    out: list[str] = []
    cursor = None
    while True:
        params = {**criteria, **({"cursor": cursor} if cursor else {})}
        page = registry.result("registry/search", params)
        out += [card["id"] for card in page["agents"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            return out


@pytest.fixture
def word() -> str:
    """A fresh lower-case token to keep this test's cards apart from any other."""
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.mark.req("ALP-REG-011")
def test_criteria_are_combined_with_and(registry: Registry, word: str) -> None:
    a, b, c = (f"{word}-{x}" for x in "abc")
    register(
        registry,
        make_card(a, role="execution", tags=[word], assets=[f"{word}-cell"]),
        make_card(b, role="decision", tags=[word], assets=[f"{word}-cell"]),
        make_card(c, role="execution", tags=[word]),
    )
    assert ids(registry, tag=word) == [a, b, c]
    assert ids(registry, tag=word, role="execution") == [a, c]
    assert ids(registry, tag=word, asset=f"{word}-cell") == [a, b]
    assert ids(registry, tag=word, role="execution", asset=f"{word}-cell") == [a]
    assert ids(registry, tag=word, role="decision", agent_id=c) == []
    everything = ids(registry, limit=1000)
    assert {a, b, c} <= set(everything)
    assert len(everything) == len(set(everything))


@pytest.mark.req("ALP-REG-011")
def test_only_live_registrations_are_found(registry: Target, word: str) -> None:
    card = make_card(f"{word}-gone", tags=[word])
    lease = registry.result("registry/register", {"card": card, "ttl_s": 60})
    assert ids(registry, tag=word) == [card["id"]]
    registry.result("registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]})
    assert ids(registry, tag=word) == []
    assert card["id"] not in ids(registry, limit=1000)


@pytest.mark.req("ALP-REG-012")
def test_each_criterion_matches_as_specified(registry: Registry, word: str) -> None:
    full = make_card(
        f"{word}-full",
        role=f"x-{word}",
        capabilities=[f"{word}.vision.defect-detection", f"{word}-other"],
        tools=[tool(f"{word}_inspect")],
        assets=[f"{word}-asset"],
        tags=[word, f"{word}-tag"],
        profiles=["core", "negotiation"],
    )
    bare = make_card(f"{word}-bare", tags=[word], profiles=["core"])
    register(registry, full, bare)
    f, b = full["id"], bare["id"]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"role": f"x-{word}"}, [f]),
        ({"role": f"x-{word}x"}, []),
        ({"capability": f"{word}.vision.defect-detection"}, [f]),
        ({"capability": f"{word}.vision"}, [f]),
        ({"capability": word}, [f]),
        ({"capability": f"{word}.vis"}, []),
        ({"capability": f"{word}.vision.defect"}, []),
        ({"capability": f"{word}.vision.defect-detection.deep"}, []),
        ({"capability": f"{word}-other"}, [f]),
        ({"tool": f"{word}_inspect"}, [f]),
        ({"tool": f"{word}_insp"}, []),
        ({"asset": f"{word}-asset"}, [f]),
        ({"asset": f"{word}-ass"}, []),
        ({"tag": f"{word}-tag"}, [f]),
        ({"tag": word}, [b, f]),
        ({"tag": word.upper()}, []),
        ({"agent_id": f}, [f]),
        ({"agent_id": f"{f}x"}, []),
        ({"tag": word, "profile": "negotiation"}, [f]),
        ({"tag": word, "profile": "core"}, [b, f]),
        ({"tag": word, "profile": "discovery"}, []),
    ]
    for criteria, expected in cases:
        assert ids(registry, **criteria) == sorted(expected), criteria


@pytest.mark.req("ALP-REG-013")
def test_results_are_ordered_by_agent_id_and_paged(registry: Registry, word: str) -> None:
    # Code-point order: digits < upper case < lower case.
    names = [f"b-{word}", f"B-{word}", f"0-{word}", f"a-{word}", f"A-{word}"]
    register(registry, *(make_card(name, tags=[word]) for name in names))
    expected = sorted(names)
    assert expected == [f"0-{word}", f"A-{word}", f"B-{word}", f"a-{word}", f"b-{word}"]
    assert ids(registry, tag=word) == expected
    first = registry.result("registry/search", {"tag": word, "limit": 2})
    assert [card["id"] for card in first["agents"]] == expected[:2]
    assert first.get("next_cursor") is not None
    second = registry.result(
        "registry/search", {"tag": word, "limit": 2, "cursor": first["next_cursor"]}
    )
    assert [card["id"] for card in second["agents"]] == expected[2:4]
    assert second.get("next_cursor") is not None
    third = registry.result(
        "registry/search", {"tag": word, "limit": 2, "cursor": second["next_cursor"]}
    )
    assert [card["id"] for card in third["agents"]] == expected[4:]
    assert third.get("next_cursor") is None
    exact = registry.result("registry/search", {"tag": word, "limit": 5})
    assert [card["id"] for card in exact["agents"]] == expected
    assert exact.get("next_cursor") is None  # nothing remains after a full last page
    everything = ids(registry, limit=3)
    assert everything == sorted(everything)


@pytest.mark.req("ALP-REG-013")
def test_a_cursor_the_registry_did_not_issue_is_invalid_params(registry: Target) -> None:
    for cursor in ("not-a-cursor", "0", "x" * 1024):
        error = registry.error("registry/search", {"cursor": cursor})
        assert error["code"] == -32602, cursor
        assert error["data"]["name"] == "invalid_params", cursor
