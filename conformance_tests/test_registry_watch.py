"""Discovery profile, unit discovery-watch: the change feed and ``registry/watch``
(numbering, long poll, resume after a given seq, window errors)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from wire import Target, schema_errors


@pytest.fixture
def registry(target: Target) -> Iterator[Target]:
    client = Target(
        f"http://{target.host}:{target.port}/agents/registry",
        sender=f"conf-holder-{uuid.uuid4().hex[:12]}",
    )
    yield client
    client.close()


def make_card(agent_id: str, **members: Any) -> dict[str, Any]:
    return {
        "id": agent_id,
        "name": "Conformance watch agent",
        "role": "execution",
        "protocol_versions": ["agentlink/0.1"],
        **members,
    }


def new_id() -> str:
    return f"conf-watch-{uuid.uuid4().hex[:16]}"


def feed_end(registry: Target) -> int:
    after = 0
    while True:
        response = registry.rpc("registry/watch", {"after_seq": after})
        if "error" in response:
            after = response["error"]["data"]["first_seq"] - 1
            continue
        page = response["result"]
        if not page["changes"]:
            return int(page["last_seq"])
        after = page["last_seq"]


def changes_after(registry: Target, after: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = registry.result("registry/watch", {"after_seq": after})
        if not page["changes"]:
            return out
        out += page["changes"]
        after = page["last_seq"]


def like(returned: dict[str, Any] | None, card: dict[str, Any]) -> bool:
    return returned is not None and all(returned.get(k) == v for k, v in card.items())


@pytest.mark.req("ALP-REG-014")
def test_every_change_is_numbered_one_after_the_other(registry: Target) -> None:
    base = feed_end(registry)
    card = make_card(new_id())
    lease = registry.result("registry/register", {"card": card, "ttl_s": 30})
    updated = make_card(card["id"], tags=["updated"])
    lease = registry.result("registry/register", {"card": updated, "ttl_s": 30})
    registry.result("registry/deregister", {"agent_id": card["id"], "lease_id": lease["lease_id"]})
    changes = changes_after(registry, base)
    assert [c["seq"] for c in changes] == list(range(base + 1, base + 1 + len(changes)))
    for change in changes:
        assert schema_errors("registry-change", change) == []
        if change["kind"] in ("registered", "updated"):
            assert change["card"]["id"] == change["agent_id"]
    mine = [c for c in changes if c["agent_id"] == card["id"]]
    assert [c["kind"] for c in mine] == ["registered", "updated", "deregistered"]
    assert like(mine[0]["card"], card)
    assert like(mine[1]["card"], updated)


@pytest.mark.req("ALP-REG-014")
def test_the_whole_feed_is_numbered_from_one(registry: Target) -> None:
    first = registry.rpc("registry/watch", {"after_seq": 0})
    # When older changes were dropped, the feed starts where the window starts.
    start = first["error"]["data"]["first_seq"] if "error" in first else 1
    changes = changes_after(registry, start - 1)
    assert [c["seq"] for c in changes] == list(range(start, start + len(changes)))


@pytest.mark.req("ALP-REG-015")
def test_watch_resumes_after_any_seq(registry: Target) -> None:
    base = feed_end(registry)
    cards = [make_card(new_id()) for _ in range(3)]
    leases = [registry.result("registry/register", {"card": c, "ttl_s": 30}) for c in cards]
    try:
        changes = changes_after(registry, base)
        assert len(changes) >= 3
        for i in range(len(changes) + 1):
            page = registry.result("registry/watch", {"after_seq": base + i})
            assert page["changes"] == changes[i:][: len(page["changes"])]
            assert len(page["changes"]) == len(changes) - i or len(page["changes"]) >= 100
            if page["changes"]:
                assert page["last_seq"] == page["changes"][-1]["seq"]
            else:
                assert page["last_seq"] == base + i
    finally:
        for lease in leases:
            registry.rpc(
                "registry/deregister",
                {"agent_id": lease["agent_id"], "lease_id": lease["lease_id"]},
            )


@pytest.mark.req("ALP-REG-015")
def test_watch_waits_up_to_wait_ms(registry: Target) -> None:
    base = feed_end(registry)
    started = time.monotonic()
    page = registry.result("registry/watch", {"after_seq": base, "wait_ms": 400})
    elapsed = time.monotonic() - started
    if page["changes"]:  # something else changed meanwhile (a lease expiring)
        assert page["changes"][0]["seq"] == base + 1
        return
    assert page["last_seq"] == base
    assert 0.35 <= elapsed < 3.0, elapsed


@pytest.mark.req("ALP-REG-015")
def test_watch_returns_as_soon_as_a_change_exists(registry: Target) -> None:
    base = feed_end(registry)
    card = make_card(new_id())
    other = Target(registry.url, sender=registry.sender)
    leases: list[dict[str, Any]] = []
    registered: list[float] = []

    def later() -> None:
        time.sleep(0.3)
        leases.append(other.result("registry/register", {"card": card, "ttl_s": 30}))
        registered.append(time.monotonic())

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        page = registry.result("registry/watch", {"after_seq": base, "wait_ms": 20000})
        returned = time.monotonic()
        thread.join(5)
    finally:
        for lease in leases:
            other.rpc(
                "registry/deregister",
                {"agent_id": lease["agent_id"], "lease_id": lease["lease_id"]},
            )
        other.close()
    assert returned - started < 5.0
    assert page["changes"]
    assert page["changes"][0]["seq"] == base + 1
    assert page["last_seq"] == page["changes"][-1]["seq"]
    if card["id"] in [c["agent_id"] for c in page["changes"]]:
        assert returned - registered[0] < 1.0


@pytest.mark.req("ALP-REG-018")
def test_watch_after_the_end_of_the_feed_is_invalid_params(registry: Target) -> None:
    last = feed_end(registry)
    for after in (last + 1, last + 1000):
        error = registry.error("registry/watch", {"after_seq": after})
        assert error["code"] == -32602, after
        assert error["data"]["name"] == "invalid_params", after
        assert error["data"]["last_seq"] == last
        assert isinstance(error["data"]["first_seq"], int)
        assert 1 <= error["data"]["first_seq"] <= last + 1
    # The end itself is a valid place to wait from.
    assert registry.result("registry/watch", {"after_seq": last})["last_seq"] == last


@pytest.mark.req("ALP-REG-018")
def test_watch_before_the_window_is_invalid_params(registry: Target) -> None:
    last = feed_end(registry)
    error = registry.error("registry/watch", {"after_seq": last + 5})
    first = error["data"]["first_seq"]
    if first <= 1:
        # Nothing dropped yet: every after_seq from 0 on is inside the window.
        assert "changes" in registry.result("registry/watch", {"after_seq": 0})
        return
    error = registry.error("registry/watch", {"after_seq": first - 2})
    assert (error["code"], error["data"]["name"]) == (-32602, "invalid_params")
    assert (error["data"]["first_seq"], error["data"]["last_seq"]) == (first, last)


@pytest.mark.req("ALP-REG-019")
def test_the_feed_keeps_at_least_a_thousand_changes(registry: Target) -> None:
    last = feed_end(registry)
    error = registry.error("registry/watch", {"after_seq": last + 1})
    assert error["data"]["first_seq"] <= max(1, last - 999)
