"""Events profile, units events-subscribe and events-patterns: ``events/subscribe`` long
polls, ``last_seq`` and resumption, retention, topic pattern syntax and matching."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from wire import Target

TICKS = "fixture.ticks"


def publish(target: Target, data: Any, topic: str = TICKS) -> dict[str, Any]:
    event: dict[str, Any] = target.result("events/publish", {"topic": topic, "data": data})["event"]
    return event


def subscribe(target: Target, topics: list[str], after_seq: int, **params: Any) -> dict:
    page: dict[str, Any] = target.result(
        "events/subscribe", {"topics": topics, "after_seq": after_seq, **params}
    )
    return page


def other_topic(target: Target) -> str:
    """A fresh topic besides ``fixture.ticks``; skips when the target refuses it."""
    topic = f"conf.t{uuid.uuid4().hex[:10]}.other"
    response = target.rpc("events/publish", {"topic": topic, "data": {"probe": True}})
    if "error" in response:
        pytest.skip("the target refuses events on topics it does not declare (ALP-EVT-004)")
    return topic


@pytest.mark.req("ALP-EVT-005")
def test_subscribe_returns_matching_events_in_order_at_most_limit(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    mine = [publish(target, {"n": i}) for i in range(1, 6)]
    page = subscribe(target, [TICKS], base, limit=2)
    assert page["events"] == mine[:2]
    page = subscribe(target, [TICKS], page["last_seq"], limit=2)
    assert page["events"] == mine[2:4]
    page = subscribe(target, [TICKS], page["last_seq"], limit=1000)
    assert page["events"] == mine[4:]
    assert subscribe(target, [TICKS], mine[-1]["seq"])["events"] == []


@pytest.mark.req("ALP-EVT-005", "ALP-EVT-008")
def test_topic_patterns_match_by_token(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    mine = [publish(target, {"n": i}) for i in (1, 2)]
    matching = [
        [TICKS],
        ["fixture.*"],
        ["*.ticks"],
        ["*.*"],
        ["fixture.>"],
        [">"],
        ["nomatch.x", TICKS],
        ["fixture.ticks", "fixture.*"],
    ]
    for topics in matching:
        assert subscribe(target, topics, base)["events"] == mine, topics
    not_matching = [
        ["fixture"],
        ["*"],
        ["fixture.ticks.>"],
        ["fixture.ticks.*"],
        ["Fixture.ticks"],
        ["fixture.TICKS"],
        ["fixture.*.ticks"],
        ["*.*.*"],
        ["fixture.tick"],
        ["ticks.>"],
    ]
    for topics in not_matching:
        assert subscribe(target, topics, base)["events"] == [], topics


@pytest.mark.req("ALP-EVT-005", "ALP-EVT-008")
def test_patterns_over_deeper_topics(target: Target) -> None:
    """The examples of the specification: ``line1.*.temperature`` matches
    ``line1.press3.temperature`` but not ``line1.press3.oil.temperature``; ``line1.>``
    matches both and not ``line1``."""
    root = other_topic(target)
    short, deep, bare = f"{root}.press3.temperature", f"{root}.press3.oil.temperature", root
    base = publish(target, {"n": 0})["seq"]
    events = {name: publish(target, {"v": name}, name) for name in (short, deep, bare)}
    cases = {
        f"{root}.*.temperature": [short],
        f"{root}.>": [short, deep],
        f"{root}.*.>": [short, deep],
        f"{root}.*.*.temperature": [deep],
        root: [bare],
        f"{root}.press3.*": [short],  # `*` is exactly one token
        f"{root}.press3": [],
    }
    for pattern, names in cases.items():
        got = subscribe(target, [pattern], base)["events"]
        assert got == [events[name] for name in names], pattern


@pytest.mark.req("ALP-EVT-006")
def test_subscribe_waits_up_to_wait_ms(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    started = time.monotonic()
    page = subscribe(target, [TICKS], base, wait_ms=400)
    elapsed = time.monotonic() - started
    assert page["events"] == []
    assert page["last_seq"] >= base
    assert 0.35 <= elapsed < 3.0, elapsed


@pytest.mark.req("ALP-EVT-006")
def test_subscribe_returns_as_soon_as_a_matching_event_exists(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    other = Target(target.url, sender=target.sender)
    published: list[dict[str, Any]] = []

    def later() -> None:
        time.sleep(0.3)
        published.append(publish(other, {"n": 42}))

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        page = subscribe(target, [TICKS], base, wait_ms=20000)
        elapsed = time.monotonic() - started
        thread.join(5)
    finally:
        other.close()
    assert 0.2 <= elapsed < 5.0, elapsed
    assert page["events"] == published


@pytest.mark.req("ALP-EVT-007")
def test_resuming_from_last_seq_misses_nothing(target: Target) -> None:
    """Events of two topics interleaved; following only one of them page by page (limit 1)
    with ``after_seq`` set to the previous ``last_seq`` yields each of its events once,
    in order."""
    topic = other_topic(target)
    base = publish(target, {"n": 0})["seq"]
    wanted = []
    for i in range(4):
        publish(target, {"x": i}, topic)
        wanted.append(publish(target, {"n": i}))
        publish(target, {"x": i}, topic)
    got: list[dict[str, Any]] = []
    after = base
    for _ in range(50):
        page = subscribe(target, [TICKS], after, limit=1)
        assert page["last_seq"] >= after
        assert all(page["last_seq"] >= event["seq"] for event in page["events"])
        got += page["events"]
        if not page["events"]:
            break
        after = page["last_seq"]
    assert got == wanted


@pytest.mark.req("ALP-EVT-007")
def test_last_seq_without_matching_events(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    for after in (0, base - 1, base, base + 1000):
        page = subscribe(target, ["conf.nothing.matches.this"], max(after, 0))
        assert page["events"] == []
        assert page["last_seq"] >= max(after, 0)
    # Resuming from the last_seq of a non-matching poll still finds the next ticks.
    page = subscribe(target, ["conf.nothing.matches.this"], base)
    event = publish(target, {"n": 1})
    assert subscribe(target, [TICKS], page["last_seq"])["events"] == [event]


BAD_PATTERNS = [
    "",
    ".",
    "a..b",
    ".a",
    "a.",
    "a.>.b",
    ">.a",
    "a>",
    "a.>>",
    "a.*x",
    "**",
    "a b",
    "a/b",
    "ä.b",
    ">>",
]


@pytest.mark.req("ALP-EVT-008")
def test_bad_topic_patterns_are_invalid_params(target: Target) -> None:
    for pattern in BAD_PATTERNS:
        error = target.error("events/subscribe", {"topics": [TICKS, pattern]})
        assert error["code"] == -32602, pattern
        assert error["data"]["name"] == "invalid_params", pattern


@pytest.mark.req("ALP-CORE-056", "ALP-EVT-008")
def test_bad_topic_patterns_are_pointed_at(target: Target) -> None:
    error = target.error("events/subscribe", {"topics": ["a..b", TICKS, "a.>.b"]})
    assert error["code"] == -32602
    assert sorted(e["pointer"] for e in error["data"]["errors"]) == ["/topics/0", "/topics/2"]


@pytest.mark.req("ALP-EVT-008")
def test_bad_topics_are_refused_by_publish(target: Target) -> None:
    base = publish(target, {"n": 0})["seq"]
    for topic in ("", "a..b", "a.*", "a.>", ">", "a b", ".a"):
        error = target.error("events/publish", {"topic": topic, "data": {"n": 1}})
        assert error["code"] == -32602, topic
        assert error["data"]["name"] == "invalid_params", topic
    assert subscribe(target, [">"], base)["events"] == []


@pytest.mark.req("ALP-EVT-010")
def test_the_log_keeps_at_least_the_last_thousand_events(target: Target) -> None:
    last = publish(target, {"n": 0})["seq"]
    while last < 1000:
        count = min(64, 1000 - last)
        batch = [
            target.frame("events/publish", {"topic": TICKS, "data": {"n": i}}) for i in range(count)
        ]
        replies = target.post(json.dumps(batch).encode()).json()
        assert len(replies) == count
        last = max(reply["result"]["event"]["seq"] for reply in replies)
    page = subscribe(target, [">"], last - 1000, limit=1000)
    assert [event["seq"] for event in page["events"]] == list(range(last - 999, last + 1))
