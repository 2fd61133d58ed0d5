"""Discovery profile, unit discovery-lease: register, heartbeat, expiry, deregister.

The registry is the agent ``registry`` served next to the fixture, under
``http://<host>:<port>/agents/registry``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from wire import Target, schema_errors


def when(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def new_id(prefix: str = "conf-agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def make_card(agent_id: str, **members: Any) -> dict[str, Any]:
    return {
        "id": agent_id,
        "name": "Conformance test agent",
        "role": "execution",
        "protocol_versions": ["agentlink/0.1"],
        **members,
    }


@pytest.fixture
def holder(target: Target) -> Iterator[Target]:
    """A client of the registry with a sender of its own."""
    client = Target(
        f"http://{target.host}:{target.port}/agents/registry", sender=new_id("conf-holder")
    )
    yield client
    client.close()


@pytest.fixture
def other(target: Target) -> Iterator[Target]:
    """A second registry client, another holder."""
    client = Target(
        f"http://{target.host}:{target.port}/agents/registry", sender=new_id("conf-other")
    )
    yield client
    client.close()


def feed_end(registry: Target) -> int:
    """The ``seq`` of the registry's last change."""
    after = 0
    while True:
        response = registry.rpc("registry/watch", {"after_seq": after})
        if "error" in response:  # the oldest changes are gone: start at the oldest kept
            after = response["error"]["data"]["first_seq"] - 1
            continue
        page = response["result"]
        if not page["changes"]:
            return int(page["last_seq"])
        after = page["last_seq"]


def changes_after(registry: Target, after: int, agent_id: str | None = None) -> list[dict]:
    out: list[dict[str, Any]] = []
    while True:
        page = registry.result("registry/watch", {"after_seq": after})
        if not page["changes"]:
            break
        out += page["changes"]
        after = page["last_seq"]
    return [c for c in out if agent_id is None or c["agent_id"] == agent_id]


def register(registry: Target, card: dict[str, Any], ttl_s: float = 30) -> dict[str, Any]:
    lease: dict[str, Any] = registry.result("registry/register", {"card": card, "ttl_s": ttl_s})
    return lease


def drop(registry: Target, lease: dict[str, Any]) -> None:
    registry.rpc(
        "registry/deregister", {"agent_id": lease["agent_id"], "lease_id": lease["lease_id"]}
    )


def search(registry: Target, **criteria: Any) -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = registry.result("registry/search", criteria)["agents"]
    return agents


def like(returned: dict[str, Any] | None, card: dict[str, Any]) -> bool:
    """``returned`` holds every member of ``card`` with the same value (members it adds are
    checked only where the exact card is the point: ALP-REG-010)."""
    return returned is not None and all(returned.get(k) == v for k, v in card.items())


def found(registry: Target, agent_id: str) -> list[dict[str, Any]]:
    return search(registry, agent_id=agent_id)


@pytest.mark.req("ALP-REG-001", "ALP-REG-014")
def test_register_creates_a_lease_and_a_registered_change(holder: Target) -> None:
    base = feed_end(holder)
    card = make_card(new_id())
    before = time.time()
    lease = register(holder, card, ttl_s=30)
    after = time.time()
    try:
        assert schema_errors("lease", lease) == []
        assert lease["agent_id"] == card["id"]
        assert isinstance(lease["lease_id"], str)
        assert lease["lease_id"]
        assert lease["ttl_s"] == 30
        assert before + 30 - 1 <= when(lease["expires_at"]) <= after + 30 + 1
        assert [like(c, card) for c in found(holder, card["id"])] == [True]
        mine = changes_after(holder, base, card["id"])
        assert [c["kind"] for c in mine] == ["registered"]
        assert like(mine[0]["card"], card)
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-001")
def test_each_registration_gets_a_new_lease_id(holder: Target) -> None:
    leases = [register(holder, make_card(new_id())) for _ in range(3)]
    try:
        assert len({lease["lease_id"] for lease in leases}) == 3
    finally:
        for lease in leases:
            drop(holder, lease)


@pytest.mark.req("ALP-REG-002")
def test_the_granted_ttl_is_the_one_that_applies(holder: Target) -> None:
    """The fixture's registry grants any requested ``ttl_s`` of at least one second."""
    card = make_card(new_id())
    started = time.time()
    lease = register(holder, card, ttl_s=2.5)
    try:
        assert lease["ttl_s"] == 2.5
        assert started + 1.5 <= when(lease["expires_at"]) <= time.time() + 3.5
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-003")
def test_id_held_by_another_holder_is_already_registered(holder: Target, other: Target) -> None:
    card = make_card(new_id(), tags=["first"])
    lease = register(holder, card)
    try:
        base = feed_end(holder)
        error = other.error("registry/register", {"card": make_card(card["id"], tags=["second"])})
        assert error["code"] == -32028
        assert error["data"]["name"] == "already_registered"
        assert error["data"]["agent_id"] == card["id"]
        assert abs(when(error["data"]["expires_at"]) - when(lease["expires_at"])) < 0.002
        assert [like(c, card) for c in found(holder, card["id"])] == [True]
        assert changes_after(holder, base, card["id"]) == []
        renewed = holder.result(
            "registry/heartbeat", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
        )
        assert renewed["lease_id"] == lease["lease_id"]
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-004", "ALP-REG-016")
def test_register_again_by_the_holder_replaces_card_and_lease(holder: Target) -> None:
    first = make_card(new_id(), tags=["v1"])
    old = register(holder, first)
    base = feed_end(holder)
    second = make_card(first["id"], tags=["v2"], description="replaced")
    new = register(holder, second)
    try:
        assert new["agent_id"] == first["id"]
        assert new["lease_id"] != old["lease_id"]
        assert [like(c, second) for c in found(holder, first["id"])] == [True]
        mine = changes_after(holder, base, first["id"])
        assert [c["kind"] for c in mine] == ["updated"]
        assert like(mine[0]["card"], second)
        for method in ("registry/heartbeat", "registry/deregister"):
            error = holder.error(method, {"agent_id": first["id"], "lease_id": old["lease_id"]})
            assert error["code"] == -32022, method
            assert error["data"]["name"] == "forbidden", method
            assert error["data"]["agent_id"] == first["id"], method
        assert [like(c, second) for c in found(holder, first["id"])] == [True]
        holder.result("registry/heartbeat", {"agent_id": first["id"], "lease_id": new["lease_id"]})
    finally:
        drop(holder, new)


@pytest.mark.req("ALP-REG-005")
def test_heartbeat_extends_the_lease(holder: Target) -> None:
    card = make_card(new_id())
    lease = register(holder, card, ttl_s=30)
    try:
        time.sleep(1.0)
        before = time.time()
        renewed = holder.result(
            "registry/heartbeat", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
        )
        after = time.time()
        assert schema_errors("lease", renewed) == []
        assert (renewed["agent_id"], renewed["lease_id"]) == (card["id"], lease["lease_id"])
        assert renewed["ttl_s"] == 30
        assert before + 30 - 0.5 <= when(renewed["expires_at"]) <= after + 30 + 0.5
        assert when(renewed["expires_at"]) - when(lease["expires_at"]) >= 0.8
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-006")
def test_heartbeat_without_a_live_registration_is_agent_not_found(holder: Target) -> None:
    unknown = new_id("conf-never")
    error = holder.error("registry/heartbeat", {"agent_id": unknown, "lease_id": "nope"})
    assert error["code"] == -32010
    assert error["data"]["name"] == "agent_not_found"
    assert error["data"]["agent_id"] == unknown
    card = make_card(new_id())
    lease = register(holder, card)
    holder.result("registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]})
    error = holder.error(
        "registry/heartbeat", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
    )
    assert (error["code"], error["data"]["agent_id"]) == (-32010, card["id"])


@pytest.mark.req("ALP-REG-016")
def test_wrong_lease_id_is_forbidden_and_changes_nothing(holder: Target, other: Target) -> None:
    card = make_card(new_id())
    lease = register(holder, card, ttl_s=30)
    try:
        base = feed_end(holder)
        for client in (holder, other):
            for method in ("registry/heartbeat", "registry/deregister"):
                error = client.error(method, {"agent_id": card["id"], "lease_id": "wrong-lease"})
                assert error["code"] == -32022, method
                assert error["data"]["name"] == "forbidden", method
                assert error["data"]["agent_id"] == card["id"], method
        assert [like(c, card) for c in found(holder, card["id"])] == [True]
        assert changes_after(holder, base, card["id"]) == []
        done = holder.result(
            "registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
        )
        assert done == {"removed": True}
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-007", "ALP-REG-006", "ALP-REG-008")
def test_an_expired_lease_is_removed_within_one_second(holder: Target) -> None:
    base = feed_end(holder)
    card = make_card(new_id())
    lease = register(holder, card, ttl_s=1)
    assert lease["ttl_s"] == 1
    assert [like(c, card) for c in found(holder, card["id"])] == [True]
    expires = when(lease["expires_at"])
    seen: list[dict[str, Any]] = []
    after = base
    while not any(c["kind"] == "expired" for c in seen) and time.time() < expires + 5:
        page = holder.result("registry/watch", {"after_seq": after, "wait_ms": 500})
        seen += [c for c in page["changes"] if c["agent_id"] == card["id"]]
        after = page["last_seq"]
    arrived = time.time()
    assert [c["kind"] for c in seen] == ["registered", "expired"]
    assert arrived <= expires + 1.0 + 0.5  # one second, and a poll's worth of slack
    assert search(holder, agent_id=card["id"]) == []
    error = holder.error(
        "registry/heartbeat", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
    )
    assert (error["code"], error["data"]["name"]) == (-32010, "agent_not_found")
    assert error["data"]["agent_id"] == card["id"]
    gone = holder.result(
        "registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
    )
    assert gone == {"removed": False}


@pytest.mark.req("ALP-REG-007")
def test_search_stops_returning_an_expired_card(holder: Target) -> None:
    card = make_card(new_id())
    lease = register(holder, card, ttl_s=1)
    deadline = when(lease["expires_at"]) + 1.0
    while time.time() < deadline - 0.3:
        assert [like(c, card) for c in found(holder, card["id"])] in ([True], [])
        time.sleep(0.1)
    time.sleep(max(0.0, deadline - time.time()) + 0.05)
    assert search(holder, agent_id=card["id"]) == []


@pytest.mark.req("ALP-REG-008")
def test_deregister_removes_once(holder: Target) -> None:
    card = make_card(new_id())
    lease = register(holder, card)
    base = feed_end(holder)
    ids = {"agent_id": card["id"], "lease_id": lease["lease_id"]}
    assert holder.result("registry/deregister", ids) == {"removed": True}
    assert search(holder, agent_id=card["id"]) == []
    assert holder.result("registry/deregister", ids) == {"removed": False}
    unknown = {"agent_id": new_id("conf-never"), "lease_id": "x"}
    assert holder.result("registry/deregister", unknown) == {"removed": False}
    mine = changes_after(holder, base, card["id"])
    assert [c["kind"] for c in mine] == ["deregistered"]
    assert changes_after(holder, base, unknown["agent_id"]) == []


@pytest.mark.req("ALP-REG-009")
def test_heartbeats_every_third_of_the_ttl_keep_a_registration(holder: Target) -> None:
    """Checked on the suite's own client as registered agent: heartbeats every ``ttl_s / 3``
    keep a short lease alive well past its first expiry."""
    card = make_card(new_id())
    lease = register(holder, card, ttl_s=1.5)
    base = feed_end(holder)
    try:
        stop = time.time() + 3.5
        while time.time() < stop:
            time.sleep(lease["ttl_s"] / 3)
            holder.result(
                "registry/heartbeat", {"agent_id": card["id"], "lease_id": lease["lease_id"]}
            )
        assert [like(c, card) for c in found(holder, card["id"])] == [True]
        assert changes_after(holder, base, card["id"]) == []
    finally:
        drop(holder, lease)


FULL_CARD_EXTRAS: dict[str, Any] = {
    "description": "Every member of the card.",
    "version": "1.2.3",
    "capabilities": ["vision.defect-detection", "vision"],
    "tools": [
        {
            "name": "inspect",
            "description": "Looks at a part.",
            "input_schema": {"type": "object", "properties": {"part": {"type": "string"}}},
            "output_schema": {"type": "object"},
            "safety": "read-only",
            "requires_approval": False,
            "approvals": 1,
            "idempotent": True,
            "execution": "sync",
            "timeout_ms": 5000,
        }
    ],
    "events": [
        {"topic": "cell1.defects", "description": "Defects.", "data_schema": {"type": "object"}}
    ],
    "accepts": ["application/json", "text/plain"],
    "assets": ["cell-1", "camera-2"],
    "tags": ["conformance", "full"],
    "endpoints": [
        {"binding": "http", "url": "http://192.0.2.10:8700"},
        {"binding": "nats", "url": "nats://192.0.2.10:4222"},
    ],
    "security": [
        {"type": "bearer", "description": "JWT", "algorithms": ["ES256"], "issuer": "plant-idp"}
    ],
    "profiles": ["core", "tools", "messaging"],
    "signature": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImNvbmYifQ..c2lnbmF0dXJl",
}


@pytest.mark.req("ALP-REG-010")
def test_cards_are_returned_exactly_as_registered(holder: Target) -> None:
    base = feed_end(holder)
    card = make_card(new_id(), **FULL_CARD_EXTRAS)
    assert schema_errors("agent-card", card) == []
    lease = register(holder, card)
    try:
        assert search(holder, agent_id=card["id"]) == [card]
        mine = changes_after(holder, base, card["id"])
        assert [(c["kind"], c["card"]) for c in mine] == [("registered", card)]
        minimal = make_card(card["id"])
        lease = register(holder, minimal)
        assert search(holder, agent_id=card["id"]) == [minimal]
    finally:
        drop(holder, lease)


@pytest.mark.req("ALP-REG-017")
def test_unknown_card_members_are_kept(holder: Target) -> None:
    card = make_card(
        new_id(),
        x_future={"nested": [1, {"a": None}]},
        profiles=["core"],
        signature="eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ..AAAA",
    )
    lease = register(holder, card)
    try:
        assert search(holder, agent_id=card["id"]) == [card]
    finally:
        drop(holder, lease)
