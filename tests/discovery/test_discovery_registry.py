from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentlink.core._deadline import format_rfc3339
from agentlink.discovery import Registry
from agentlink.discovery._index import _SortedIds
from agentlink.model import (
    AgentCard,
    AgentNotFound,
    AlreadyRegistered,
    Forbidden,
    InvalidParams,
    Lease,
    Overloaded,
    UsageError,
)
from tests.discovery.discovery_helpers import NOW, lease_ids, make_card


def new_registry(**options: Any) -> Registry:
    return Registry(new_lease_id=lease_ids(), **options)


def ids(cards: list[AgentCard]) -> list[str]:
    return [c.id for c in cards]


def kinds(registry: Registry, after: int = 0) -> list[tuple[int, str, str]]:
    return [(c.seq, c.kind, c.agent_id) for c in registry.changes_after(after)]


# -- leases --------------------------------------------------------------------------------


def test_register_returns_a_lease_and_the_card_is_found() -> None:
    registry = new_registry()
    card = make_card("cam-1")
    lease = registry.register(card, ttl_s=30, now=NOW)
    assert lease == Lease(
        agent_id="cam-1", lease_id="lease-1", ttl_s=30.0, expires_at="2027-01-15T08:00:30.000Z"
    )
    assert registry.get("cam-1", now=NOW) == card
    assert registry.get("cam-2", now=NOW) is None
    assert len(registry) == 1
    assert kinds(registry) == [(1, "registered", "cam-1")]
    assert registry.changes_after(0)[0].card == card


def test_default_lease_ids_are_random_and_distinct() -> None:
    registry = Registry()
    first = registry.register(make_card("a"), ttl_s=5, now=NOW).lease_id
    second = registry.register(make_card("b"), ttl_s=5, now=NOW).lease_id
    assert first != second
    assert first.startswith("lease-")
    assert len(first) == len("lease-") + 24


def test_lease_expires_exactly_at_expires_at() -> None:
    registry = new_registry()
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    assert registry.get("cam-1", now=NOW + 29.999) is not None
    assert registry.expire(NOW + 29.999) == []
    # Lazy purge: a search at the expiry instant already leaves the agent out.
    assert registry.search(now=NOW + 30) == ([], None)
    assert len(registry) == 0
    assert kinds(registry) == [(1, "registered", "cam-1"), (2, "expired", "cam-1")]
    assert registry.changes_after(1)[0].card is None


def test_expire_returns_ids_in_order_of_expiry() -> None:
    registry = new_registry()
    registry.register(make_card("c"), ttl_s=10, now=NOW)
    registry.register(make_card("a"), ttl_s=20, now=NOW)
    registry.register(make_card("b"), ttl_s=10, now=NOW)
    registry.register(make_card("d"), ttl_s=60, now=NOW)
    assert registry.next_expiry() == NOW + 10
    assert registry.expire(NOW + 25) == ["b", "c", "a"]
    assert registry.expire(NOW + 25) == []
    assert ids(registry.search(now=NOW + 25)[0]) == ["d"]


def test_heartbeat_renews_from_now() -> None:
    registry = new_registry()
    lease = registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    renewed = registry.heartbeat("cam-1", lease.lease_id, now=NOW + 20)
    assert renewed == Lease(
        agent_id="cam-1", lease_id="lease-1", ttl_s=30.0, expires_at="2027-01-15T08:00:50.000Z"
    )
    assert registry.get("cam-1", now=NOW + 49.5) is not None
    assert registry.get("cam-1", now=NOW + 50) is None
    assert kinds(registry) == [(1, "registered", "cam-1"), (2, "expired", "cam-1")]


def test_heartbeat_errors() -> None:
    registry = new_registry()
    lease = registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    with pytest.raises(AgentNotFound) as unknown:
        registry.heartbeat("cam-9", lease.lease_id, now=NOW)
    assert unknown.value.code == -32010
    assert unknown.value.data == {"agent_id": "cam-9"}
    with pytest.raises(Forbidden) as wrong:
        registry.heartbeat("cam-1", "lease-999", now=NOW)
    assert wrong.value.code == -32022
    assert wrong.value.data == {"agent_id": "cam-1"}
    with pytest.raises(AgentNotFound):
        registry.heartbeat("cam-1", lease.lease_id, now=NOW + 30)


def test_deregister() -> None:
    registry = new_registry()
    lease = registry.register(make_card("cam-1", tags=["line-1"]), ttl_s=30, now=NOW)
    with pytest.raises(Forbidden):
        registry.deregister("cam-1", "lease-999", now=NOW)
    assert registry.get("cam-1", now=NOW) is not None
    assert registry.deregister("cam-1", lease.lease_id, now=NOW + 1) is True
    assert registry.deregister("cam-1", lease.lease_id, now=NOW + 1) is False
    assert registry.search(tag="line-1", now=NOW + 1) == ([], None)
    assert kinds(registry) == [(1, "registered", "cam-1"), (2, "deregistered", "cam-1")]
    # The stale heap item left behind does not expire anything later.
    assert registry.expire(NOW + 100) == []
    assert registry.last_seq == 2


def test_same_owner_reregistration_replaces_the_card_and_the_lease() -> None:
    registry = new_registry()
    old = registry.register(
        make_card("cam-1", capabilities=["vision.capture"]), ttl_s=30, now=NOW, owner="cam-1"
    )
    card = make_card("cam-1", capabilities=["sensing.temperature"])
    new = registry.register(card, ttl_s=10, now=NOW + 5, owner="cam-1")
    assert new == Lease(
        agent_id="cam-1", lease_id="lease-2", ttl_s=10.0, expires_at="2027-01-15T08:00:15.000Z"
    )
    assert registry.search(capability="vision", now=NOW + 5) == ([], None)
    assert registry.search(capability="sensing", now=NOW + 5) == ([card], None)
    with pytest.raises(Forbidden):
        registry.heartbeat("cam-1", old.lease_id, now=NOW + 6)
    # The old lease's expiry (NOW + 30) must not remove the new registration early, and
    # the new lease's expiry (NOW + 15) removes it.
    assert registry.expire(NOW + 14) == []
    assert registry.expire(NOW + 15) == ["cam-1"]
    assert registry.expire(NOW + 30) == []
    assert kinds(registry) == [
        (1, "registered", "cam-1"),
        (2, "updated", "cam-1"),
        (3, "expired", "cam-1"),
    ]
    assert registry.changes_after(1)[0].card == card


@pytest.mark.parametrize(("first", "second"), [("a", "b"), (None, "b"), ("a", None)])
def test_other_owner_cannot_take_a_live_id(first: str | None, second: str | None) -> None:
    registry = new_registry()
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW, owner=first)
    with pytest.raises(AlreadyRegistered) as info:
        registry.register(make_card("cam-1", tags=["x"]), ttl_s=30, now=NOW + 1, owner=second)
    assert info.value.code == -32028
    assert info.value.data == {"agent_id": "cam-1", "expires_at": "2027-01-15T08:00:30.000Z"}
    assert registry.search(tag="x", now=NOW + 1) == ([], None)
    assert registry.last_seq == 1
    # Once the lease has run out, anyone may take the id.
    registry.register(make_card("cam-1", tags=["x"]), ttl_s=30, now=NOW + 30, owner=second)
    assert kinds(registry, 1) == [(2, "expired", "cam-1"), (3, "registered", "cam-1")]


def test_anonymous_owners_may_replace_each_other() -> None:
    registry = new_registry()
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    assert kinds(registry) == [(1, "registered", "cam-1"), (2, "updated", "cam-1")]


@pytest.mark.parametrize("ttl", [0, -1, 86_400.5, float("nan"), float("inf")])
def test_ttl_out_of_range_is_invalid_params(ttl: float) -> None:
    registry = new_registry()
    with pytest.raises(InvalidParams) as info:
        registry.register(make_card("cam-1"), ttl_s=ttl, now=NOW)
    assert info.value.data["errors"][0]["pointer"] == "/ttl_s"
    assert len(registry) == 0


def test_max_agents_refuses_new_ids_but_not_updates() -> None:
    registry = new_registry(max_agents=2)
    registry.register(make_card("a"), ttl_s=30, now=NOW)
    registry.register(make_card("b"), ttl_s=30, now=NOW)
    with pytest.raises(Overloaded) as info:
        registry.register(make_card("c"), ttl_s=30, now=NOW)
    assert info.value.data == {"max_agents": 2}
    registry.register(make_card("b", tags=["t"]), ttl_s=30, now=NOW)
    assert ids(registry.search(tag="t", now=NOW)[0]) == ["b"]


def test_usage_errors() -> None:
    with pytest.raises(UsageError):
        Registry(history=0)
    registry = new_registry()
    with pytest.raises(UsageError):
        registry.search(now=NOW, limit=0)
    with pytest.raises(UsageError):
        registry.changes_after(0, limit=0)


def test_many_heartbeats_keep_expiry_exact() -> None:
    registry = new_registry()
    lease = registry.register(make_card("a"), ttl_s=10, now=NOW)
    registry.register(make_card("b"), ttl_s=10_000, now=NOW)
    for step in range(1, 1001):
        registry.heartbeat("a", lease.lease_id, now=NOW + step)
    assert registry.expire(NOW + 1009.9) == []
    assert registry.expire(NOW + 1010) == ["a"]
    assert registry.next_expiry() == NOW + 10_000


# -- search --------------------------------------------------------------------------------


def plant(registry: Registry) -> None:
    registry.register(
        make_card(
            "cam-1",
            capabilities=["vision.defect-detection", "vision.capture"],
            tools=["capture", "inspect"],
            assets=["urn:line-1:station-2"],
            tags=["line-1"],
            profiles=["core", "tools"],
        ),
        ttl_s=60,
        now=NOW,
    )
    registry.register(
        make_card(
            "cam-2",
            capabilities=["vision.capture"],
            tools=["capture"],
            assets=["urn:line-2:station-1"],
            tags=["line-2"],
            profiles=["core"],
        ),
        ttl_s=60,
        now=NOW,
    )
    registry.register(
        make_card(
            "mill-3",
            role="execution",
            capabilities=["machining.milling.5-axis"],
            tools=["start_program"],
            assets=["urn:line-1:station-2"],
            tags=["line-1"],
            profiles=["core", "safe-actuation"],
        ),
        ttl_s=60,
        now=NOW,
    )
    registry.register(make_card("planner", role="decision"), ttl_s=60, now=NOW)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ["cam-1", "cam-2", "mill-3", "planner"]),
        ({"role": "perception"}, ["cam-1", "cam-2"]),
        ({"role": "execution"}, ["mill-3"]),
        ({"role": "demand"}, []),
        ({"capability": "vision"}, ["cam-1", "cam-2"]),
        ({"capability": "vision.capture"}, ["cam-1", "cam-2"]),
        ({"capability": "vision.defect-detection"}, ["cam-1"]),
        ({"capability": "vision.defect"}, []),
        ({"capability": "machining"}, ["mill-3"]),
        ({"capability": "machining.milling"}, ["mill-3"]),
        ({"capability": "milling"}, []),
        ({"tool": "capture"}, ["cam-1", "cam-2"]),
        ({"tool": "inspect"}, ["cam-1"]),
        ({"tool": "nope"}, []),
        ({"asset": "urn:line-1:station-2"}, ["cam-1", "mill-3"]),
        ({"tag": "line-2"}, ["cam-2"]),
        ({"profile": "core"}, ["cam-1", "cam-2", "mill-3"]),
        ({"profile": "safe-actuation"}, ["mill-3"]),
        ({"agent_id": "cam-2"}, ["cam-2"]),
        ({"agent_id": "cam-9"}, []),
        ({"agent_id": "cam-2", "tag": "line-1"}, []),
        ({"role": "perception", "tag": "line-1"}, ["cam-1"]),
        ({"capability": "vision", "asset": "urn:line-1:station-2", "profile": "tools"}, ["cam-1"]),
        ({"tag": "line-1", "profile": "core", "tool": "capture"}, ["cam-1"]),
        ({"role": "", "tag": "line-1"}, []),
    ],
)
def test_search_criteria_are_and_ed(criteria: dict[str, Any], expected: list[str]) -> None:
    registry = new_registry()
    plant(registry)
    cards, cursor = registry.search(now=NOW, **criteria)
    assert ids(cards) == expected
    assert cursor is None


def test_search_pages_in_id_order() -> None:
    registry = new_registry()
    for name in ["e", "b", "d", "a", "c"]:
        registry.register(make_card(name, tags=["t"]), ttl_s=60, now=NOW)
    for criteria in ({}, {"tag": "t"}):
        pages = []
        cursor = None
        while True:
            cards, cursor = registry.search(now=NOW, limit=2, cursor=cursor, **criteria)
            pages.append(ids(cards))
            if cursor is None:
                break
        assert pages == [["a", "b"], ["c", "d"], ["e"]]
    # A page that ends exactly at the last match has no next cursor.
    assert registry.search(now=NOW, limit=5) == (registry.search(now=NOW)[0], None)
    assert ids(registry.search(now=NOW, limit=4)[0]) == ["a", "b", "c", "d"]
    assert registry.search(now=NOW, limit=4)[1] == "d"
    # A cursor past the end, or from a removed agent, still pages correctly.
    assert registry.search(now=NOW, cursor="z") == ([], None)
    assert ids(registry.search(now=NOW, cursor="bb")[0]) == ["c", "d", "e"]


def test_sorted_ids_against_a_sorted_set() -> None:
    rng = random.Random(7)
    keys = _SortedIds()
    model: set[str] = set()
    for _ in range(6000):
        key = f"k{rng.randrange(3000):05d}"
        if key in model and rng.random() < 0.5:
            keys.discard(key)
            model.discard(key)
        elif key not in model:
            keys.add(key)
            model.add(key)
    keys.discard("absent")
    keys.discard("zzz")
    assert len(keys) == len(model)
    assert list(keys.after(None)) == sorted(model)
    for probe in ["", "k00500", "k01500x", "k02999", "zzz"]:
        assert list(keys.after(probe)) == sorted(k for k in model if k > probe)
    for key in sorted(model):
        keys.discard(key)
    assert list(keys.after(None)) == []
    assert len(keys) == 0


def test_scale_twenty_thousand_agents() -> None:
    rng = random.Random(42)
    registry = new_registry()
    roles = ["perception", "demand", "execution", "decision", "evaluation"]
    live: dict[str, AgentCard] = {}
    for n in range(20_000):
        card = make_card(
            f"agent-{n:05d}",
            role=roles[n % 5],
            capabilities=[f"cap{n % 50}.sub{n % 7}"],
            tools=[f"tool-{n % 100}"],
            assets=[f"asset-{n % 1000}"],
            tags=[f"tag-{n % 13}", f"rare-{n}"] if n % 97 == 0 else [f"tag-{n % 13}"],
            profiles=["core"],
        )
        registry.register(card, ttl_s=100 if n % 2 else 50, now=NOW + rng.random())
        live[card.id] = card
    assert len(registry) == 20_000
    now = NOW + 75  # the even half has expired
    live = {k: v for k, v in live.items() if int(k[-5:]) % 2}
    queries: list[dict[str, str]] = [
        {"asset": "asset-17"},
        {"asset": "asset-18"},
        {"role": "demand", "tag": "tag-4"},
        {"capability": "cap7"},
        {"capability": "cap7.sub3", "tool": "tool-7"},
        {"tag": "rare-97"},
        {"tag": "rare-194"},
        {"role": "execution"},
        {"profile": "core", "tag": "tag-0"},
    ]

    def matches(card: AgentCard, query: dict[str, str]) -> bool:
        checks: dict[str, Callable[[str], bool]] = {
            "role": lambda v: card.role == v,
            "capability": lambda v: any(c == v or c.startswith(v + ".") for c in card.capabilities),
            "tool": lambda v: v in [t.name for t in card.tools],
            "asset": lambda v: v in card.assets,
            "tag": lambda v: v in card.tags,
            "profile": lambda v: v in card.profiles,
        }
        return all(checks[k](v) for k, v in query.items())

    for query in queries:
        expected = sorted(k for k, c in live.items() if matches(c, query))
        found, cursor = registry.search(now=now, limit=1000, **query)
        pages = ids(found)
        while cursor is not None:
            found, cursor = registry.search(now=now, limit=1000, cursor=cursor, **query)
            pages += ids(found)
        assert pages == expected, query
    assert registry.search(now=now, tag="rare-194") == ([], None)  # even: expired
    everything, cursor = registry.search(now=now, limit=1000)
    assert ids(everything) == sorted(live)[:1000]
    assert cursor == sorted(live)[999]


# -- change feed ---------------------------------------------------------------------------


def test_changes_after_pages_and_limits() -> None:
    registry = new_registry()
    for name in "abcde":
        registry.register(make_card(name), ttl_s=30, now=NOW)
    assert [c.seq for c in registry.changes_after(0, limit=2)] == [1, 2]
    assert [c.seq for c in registry.changes_after(2, limit=2)] == [3, 4]
    assert [c.seq for c in registry.changes_after(4)] == [5]
    assert registry.changes_after(5) == []


def test_watcher_outside_the_history_window_is_told_to_resync() -> None:
    registry = new_registry(history=3)
    for name in "abcdef":
        registry.register(make_card(name), ttl_s=30, now=NOW)
    assert [c.seq for c in registry.changes_after(3)] == [4, 5, 6]
    with pytest.raises(InvalidParams) as behind:
        registry.changes_after(2)
    assert behind.value.data == {
        "errors": [{"pointer": "/after_seq", "message": "behind the kept history"}],
        "first_seq": 4,
        "last_seq": 6,
    }
    with pytest.raises(InvalidParams) as ahead:
        registry.changes_after(7)
    assert ahead.value.data == {
        "errors": [{"pointer": "/after_seq", "message": "ahead of the feed"}],
        "first_seq": 4,
        "last_seq": 6,
    }


@pytest.mark.anyio
async def test_wait_changes_wakes_on_a_change() -> None:
    registry = new_registry()
    got: list[Any] = []

    async def watch() -> None:
        got.extend(await registry.wait_changes(0, wait_s=30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            assert got == []
            registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    assert [(c.seq, c.kind, c.agent_id) for c in got] == [(1, "registered", "cam-1")]


@pytest.mark.anyio
async def test_wait_changes_returns_at_once_when_changes_exist() -> None:
    registry = new_registry()
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    with anyio.fail_after(5):
        changes = await registry.wait_changes(0, wait_s=60)
    assert [c.seq for c in changes] == [1]


@pytest.mark.anyio
async def test_wait_changes_times_out_empty() -> None:
    registry = new_registry()
    registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    with anyio.fail_after(5):
        assert await registry.wait_changes(1, wait_s=0.01) == []
        assert await registry.wait_changes(1, wait_s=0) == []


@pytest.mark.anyio
async def test_two_watchers_wake_on_one_change() -> None:
    registry = new_registry()
    got: list[int] = []

    async def watch() -> None:
        got.extend(c.seq for c in await registry.wait_changes(0, wait_s=30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
    assert got == [1, 1]


# -- model check: the indexes agree with a scan of the live agents --------------------------

AGENTS = ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3", "d1"]
ROLES = ["perception", "execution"]
CAPS = ["vision", "vision.capture", "vision.defect-detection", "machining.milling"]
WORDS = ["x", "y", "z"]

cards = st.builds(
    lambda agent_id, role, caps, tools, assets, tags, profiles: make_card(
        agent_id,
        role=role,
        capabilities=caps,
        tools=tools,
        assets=assets,
        tags=tags,
        profiles=profiles,
    ),
    st.sampled_from(AGENTS),
    st.sampled_from(ROLES),
    st.lists(st.sampled_from(CAPS), max_size=2),
    st.lists(st.sampled_from(WORDS), max_size=2),
    st.lists(st.sampled_from(WORDS), max_size=2),
    st.lists(st.sampled_from(WORDS), max_size=2),
    st.lists(st.sampled_from(["core", "tools", "events"]), max_size=2),
)
registrations = st.tuples(
    st.just("register"), cards, st.sampled_from([3.0, 10.0, 60.0]), st.booleans()
)
targets = st.one_of(st.integers(0, 9), st.sampled_from(AGENTS))
operations = st.one_of(
    # Registrations are drawn three times as often, so that live agents pile up.
    registrations,
    registrations,
    registrations,
    # An int picks one of the live agents (mod their number), a string any id.
    st.tuples(st.just("heartbeat"), targets, st.booleans()),
    st.tuples(st.just("heartbeat"), targets, st.booleans()),
    st.tuples(st.just("deregister"), targets, st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 2.0, 6.0])),
    st.tuples(st.just("expire")),
)
criteria = st.one_of(
    st.tuples(st.just("role"), st.sampled_from(ROLES)),
    st.tuples(
        st.just("capability"), st.sampled_from(["vision", "vision.capture", "machining", "milling"])
    ),
    st.tuples(st.sampled_from(["tool", "asset", "tag"]), st.sampled_from(WORDS)),
    st.tuples(st.just("profile"), st.sampled_from(["core", "tools"])),
    st.tuples(st.just("agent_id"), st.sampled_from(AGENTS)),
)
queries = st.lists(criteria, max_size=2).map(dict)


def brute_force(live: dict[str, AgentCard], query: dict[str, str]) -> list[str]:
    out = []
    for agent_id, card in sorted(live.items()):
        capability = query.get("capability")
        ok = (
            query.get("role", card.role) == card.role
            and query.get("agent_id", agent_id) == agent_id
            and ("tool" not in query or query["tool"] in [t.name for t in card.tools])
            and ("asset" not in query or query["asset"] in card.assets)
            and ("tag" not in query or query["tag"] in card.tags)
            and ("profile" not in query or query["profile"] in card.profiles)
            and (
                capability is None
                or any(c == capability or c.startswith(capability + ".") for c in card.capabilities)
            )
        )
        if ok:
            out.append(agent_id)
    return out


class LiveModel:
    """What the registry should hold, tracked without indexes."""

    def __init__(self) -> None:
        self.cards: dict[str, AgentCard] = {}
        self.expires: dict[str, float] = {}
        self.ttls: dict[str, float] = {}
        self.owners: dict[str, str] = {}
        self.leases: dict[str, str] = {}
        self.seq = 0

    def purge(self, now: float) -> None:
        for agent_id in [a for a, t in self.expires.items() if t <= now]:
            self.remove(agent_id)

    def remove(self, agent_id: str) -> None:
        del self.cards[agent_id], self.expires[agent_id], self.ttls[agent_id]
        self.seq += 1


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(operations, min_size=10, max_size=60),
    probes=st.lists(st.tuples(queries, st.integers(1, 4)), min_size=1, max_size=6),
)
def test_indexes_agree_with_a_brute_force_scan(
    ops: list[tuple[Any, ...]], probes: list[tuple[dict[str, str], int]]
) -> None:
    registry = new_registry()
    model = LiveModel()
    now = NOW
    for op in ops:
        if op[0] == "advance":
            now += op[1]
            continue
        model.purge(now)
        if op[0] == "register":
            _, card, ttl, mine = op
            owner = "me" if mine else "other"
            if card.id in model.cards and model.owners[card.id] != owner:
                with pytest.raises(AlreadyRegistered):
                    registry.register(card, ttl_s=ttl, now=now, owner=owner)
            else:
                lease = registry.register(card, ttl_s=ttl, now=now, owner=owner)
                assert lease.expires_at == format_rfc3339(now + ttl, digits=3)
                model.cards[card.id], model.expires[card.id] = card, now + ttl
                model.ttls[card.id], model.owners[card.id] = ttl, owner
                model.leases[card.id] = lease.lease_id
                model.seq += 1
        elif op[0] in ("heartbeat", "deregister"):
            _, target, right = op
            live = sorted(model.cards)
            agent_id = live[target % len(live)] if isinstance(target, int) and live else "a1"
            agent_id = target if isinstance(target, str) else agent_id
            known = agent_id in model.cards
            lease_id = model.leases.get(agent_id, "lease-0") if right else "lease-0"
            if known and not right:
                with pytest.raises(Forbidden):
                    getattr(registry, op[0])(agent_id, lease_id, now=now)
            elif op[0] == "deregister":
                assert registry.deregister(agent_id, lease_id, now=now) is known
                if known:
                    model.remove(agent_id)
            elif known:
                lease = registry.heartbeat(agent_id, lease_id, now=now)
                model.expires[agent_id] = now + model.ttls[agent_id]
                assert lease.expires_at == format_rfc3339(model.expires[agent_id], digits=3)
            else:
                with pytest.raises(AgentNotFound):
                    registry.heartbeat(agent_id, lease_id, now=now)
        else:
            registry.expire(now)
        assert registry.last_seq == model.seq

    model.purge(now)
    for query, limit in probes:
        pages: list[str] = []
        cursor = None
        for _ in range(10):
            found, cursor = registry.search(now=now, limit=limit, cursor=cursor, **query)
            assert len(found) <= limit
            pages += ids(found)
            if cursor is None:
                break
        assert pages == brute_force(model.cards, query)
        for agent_id in AGENTS:
            assert registry.get(agent_id, now=now) == model.cards.get(agent_id)
    assert registry.last_seq == model.seq
    assert len(registry) == len(model.cards)


@pytest.mark.anyio
async def test_a_cancelled_wait_leaves_the_feed_working() -> None:
    registry = new_registry()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(registry.wait_changes, 0, wait_s=30))
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        registry.register(make_card("cam-1"), ttl_s=30, now=NOW)
        assert [c.seq for c in await registry.wait_changes(0, wait_s=30)] == [1]
        got: list[int] = []

        async def watch() -> None:
            got.extend(c.seq for c in await registry.wait_changes(1, wait_s=30))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            registry.deregister("cam-1", "lease-1", now=NOW)
    assert got == [2]
