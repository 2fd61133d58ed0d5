"""Core profile, unit core-card: the agent card, as ``agent/card`` returns it and as the
spec fixes it for the conformance fixture agent."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from spec_index import SPEC
from test_ping_card import schema_errors
from wire import PROTOCOL, Target

FIXTURE_PROFILES = [
    "core",
    "tools",
    "messaging",
    "tasks",
    "events",
    "negotiation",
    "industrial-data",
    "safe-actuation",
]
FIXTURE_EVENTS = [
    {
        "topic": "fixture.ticks",
        "description": "Ticks published by callers.",
        "data_schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
        },
    }
]
CAPABILITY = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")


def method_table() -> dict[str, str]:
    """Method -> profile, from the spec's method table."""
    text = SPEC.read_text("utf-8").split("## Methods", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z]+/[a-z]+)` \| ([a-z-]+) \|", text, re.M)
    assert len(rows) >= 18
    return dict(rows)


def bearer_listed(card: dict[str, Any]) -> bool:
    return any(scheme.get("type") == "bearer" for scheme in card.get("security", []))


def all_tools(target: Target) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    for _ in range(100):
        page = target.result("tools/list", params)
        tools.extend(page["tools"])
        if page.get("next_cursor") is None:
            return tools
        params = {"cursor": page["next_cursor"]}
    raise AssertionError("tools/list did not end within 100 pages")


# -- ALP-CARD-001 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-001")
def test_agent_card_validates_against_the_schema(target: Target) -> None:
    result = target.result("agent/card")
    assert schema_errors("methods/agent.card.result", result) == []
    assert schema_errors("agent-card", result) == []


@pytest.mark.req("ALP-CARD-001")
def test_the_fixture_card_has_the_members_the_spec_fixes(target: Target) -> None:
    result = target.result("agent/card")
    assert result["name"] == "AgentLink conformance fixture"
    assert result["role"] == "execution"
    assert result.get("tags") == ["conformance"]


# -- ALP-CARD-002 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-002")
def test_the_card_id_is_the_id_the_agent_answers_to(target: Target) -> None:
    result = target.result("agent/card")
    assert result["id"] == "fixture"
    assert target.result("agent/ping", receiver=result["id"])["ok"] is True
    output = target.result(
        "tools/call", {"name": "echo", "arguments": {"text": "me"}}, receiver=result["id"]
    )
    assert output == {"output": {"text": "me"}}


# -- ALP-CARD-003 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-003")
def test_protocol_versions_lists_0_1_and_matches_version_unsupported(target: Target) -> None:
    versions = target.result("agent/card")["protocol_versions"]
    assert PROTOCOL in versions
    assert versions == ["agentlink/0.1"]
    assert len(set(versions)) == len(versions)
    response = target.rpc("agent/ping", protocol="agentlink/99.0")
    details = response.get("error", {}).get("data", {})
    if details.get("name") == "version_unsupported":
        assert sorted(details["supported"]) == sorted(versions)


# -- ALP-CARD-004 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-004")
def test_profiles_are_the_fixture_profiles(target: Target) -> None:
    """The fixture claims the spec's profiles, or fewer for an implementation that offers
    fewer; never one outside them, and always core."""
    card = target.result("agent/card")
    expected = FIXTURE_PROFILES + (["security"] if bearer_listed(card) else [])
    assert "core" in card["profiles"]
    assert set(card["profiles"]) <= set(expected)
    assert len(set(card["profiles"])) == len(card["profiles"])


@pytest.mark.req("ALP-CARD-004")
def test_every_method_of_every_claimed_profile_is_offered(target: Target) -> None:
    profiles = set(target.result("agent/card")["profiles"])
    checked = 0
    for method, profile in method_table().items():
        if profile not in profiles:
            continue
        response = target.rpc(method, {})
        error = response.get("error")
        assert error is None or error.get("code") != -32601, f"{method} is not offered: {error}"
        checked += 1
    assert checked >= 2  # at least the core methods


# -- ALP-CARD-005 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-005")
def test_the_card_tools_are_exactly_the_listed_tools(target: Target) -> None:
    card_tools = target.result("agent/card").get("tools", [])
    listed = all_tools(target)
    names = [tool["name"] for tool in card_tools]
    assert len(set(names)) == len(names), f"two tools share a name: {names}"
    assert sorted(listed, key=lambda t: t["name"]) == sorted(card_tools, key=lambda t: t["name"])


# -- ALP-CARD-006 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-006")
def test_accepts_lists_the_handled_content_types(target: Target) -> None:
    target.require("messaging")
    card = target.result("agent/card")
    accepts = card.get("accepts", [])
    assert accepts == ["application/json"]
    if "messaging" in card.get("profiles", []):
        assert len(accepts) >= 1
    for content_type in accepts:
        message = {"performative": "query", "content_type": content_type, "content": {"q": 1}}
        response = target.rpc("message/send", {"message": message})
        error = response.get("error")
        assert error is None or error.get("code") != -32005, error


# -- ALP-CARD-007 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-007")
def test_endpoints_have_one_entry_per_binding_and_the_http_url_serves_the_card(
    target: Target,
) -> None:
    card = target.result("agent/card")
    endpoints = card.get("endpoints", [])
    bindings = [endpoint["binding"] for endpoint in endpoints]
    assert len(set(bindings)) == len(bindings), f"a binding is listed twice: {bindings}"
    assert "http" in bindings, "the target serves HTTP but lists no http endpoint"
    url = next(e["url"] for e in endpoints if e["binding"] == "http")
    there = Target(url)
    try:
        assert there.card() == target.card()
        assert there.result("agent/ping")["ok"] is True
    finally:
        there.close()
    for endpoint in endpoints:
        if endpoint["binding"] == "nats":
            assert endpoint["url"].startswith(("nats://", "tls://", "ws://", "wss://"))


# -- ALP-CARD-008 / ALP-CARD-009 (should) --------------------------------------------------


@pytest.mark.req("ALP-CARD-008")
def test_events_lists_the_published_topics_with_data_schemas(target: Target) -> None:
    events = target.result("agent/card").get("events", [])
    assert events == FIXTURE_EVENTS
    for topic in events:
        assert isinstance(topic.get("data_schema"), dict)


@pytest.mark.req("ALP-CARD-009")
def test_capabilities_are_dotted_lower_case_and_assets_listed(target: Target) -> None:
    card = target.result("agent/card")
    assert card.get("capabilities") == ["conformance.fixture"]
    for capability in card.get("capabilities", []):
        assert CAPABILITY.match(capability), capability
    assert card.get("assets") == ["fixture-asset-1"]


# -- ALP-CARD-011 -------------------------------------------------------------------------


@pytest.mark.req("ALP-CARD-011")
def test_the_card_does_not_change_while_a_request_is_served(target: Target) -> None:
    before = target.result("agent/card")

    def slow() -> dict[str, Any]:
        client = Target(target.url, sender=target.sender)
        try:
            return client.rpc("tools/call", {"name": "slow", "arguments": {"ms": 400}})
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(slow)
        time.sleep(0.1)
        during = target.result("agent/card")
        assert running.result()["result"] == {"output": {"slept_ms": 400}}
    assert during == before
    assert target.result("agent/card") == before


@pytest.mark.req("ALP-CARD-011")
def test_agent_card_has_no_side_effect(target: Target) -> None:
    count = {"name": "actuation_count", "arguments": {}}
    before = target.result("tools/call", count)
    tasks = {t["id"] for t in target.result("tasks/list", {"limit": 1000})["tasks"]}
    cards = [target.result("agent/card") for _ in range(5)]
    assert all(card == cards[0] for card in cards)
    assert target.result("tools/call", count) == before
    assert {t["id"] for t in target.result("tasks/list", {"limit": 1000})["tasks"]} == tasks
