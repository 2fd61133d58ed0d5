"""Events: publish to matching subscribers, numbered logs, long-poll resume, failures."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import pytest

from agentlink.model import AgentlinkError, Event, InvalidParams
from agentlink.runtime import Agent, ReportedError, Runtime
from tests.runtime.runtime_helpers import Collector

pytestmark = pytest.mark.anyio


async def take(stream: Any, n: int) -> list[dict[str, Any]]:
    """The next ``n`` items of an async iterator."""
    out = []
    async for item in stream:
        out.append(item)
        if len(out) == n:
            break
    return out


async def test_publish_reaches_matching_subscribers_only() -> None:
    camera = Agent("cam-1", role="perception")
    one_token, any_depth, everything, elsewhere = Collector(), Collector(), Collector(), Collector()
    quality = Agent("quality", role="evaluation")
    quality.on_event("defects.*")(one_token)
    planner = Agent("planner", role="decision")
    planner.on_event("defects.>")(any_depth)
    logger = Agent("logger", role="evaluation")
    logger.on_event(">")(everything)
    other = Agent("line-2", role="decision")
    other.on_event("line2.>")(elsewhere)

    async with Runtime(agents=[camera, quality, planner, logger, other]):
        await camera.publish("defects.line1", {"count": 1})
        await camera.publish("defects.line1.station3", {"count": 2})
        await camera.publish("status", {"ok": True})
        # A last event every subscriber but one ignores; mailboxes are in order, so once it
        # arrives, every earlier event that matched has arrived too.
        await camera.publish("line2.done")
        with anyio.fail_after(5):
            await one_token.wait_for(1)
            await any_depth.wait_for(2)
            await everything.wait_for(4)
            await elsewhere.wait_for(1)

    assert one_token.topics == ["defects.line1"]
    assert any_depth.topics == ["defects.line1", "defects.line1.station3"]
    assert everything.topics == ["defects.line1", "defects.line1.station3", "status", "line2.done"]
    assert elsewhere.topics == ["line2.done"]
    first = everything.events[0]
    assert isinstance(first, Event)
    assert (first.source, first.data) == ("cam-1", {"count": 1})


async def test_events_are_numbered_per_source() -> None:
    camera = Agent("cam-1", role="perception")
    scale = Agent("scale", role="perception")
    logger = Agent("logger", role="evaluation")
    everything = Collector()
    logger.on_event(">")(everything)
    async with Runtime(agents=[camera, scale, logger]):
        published = [
            await camera.publish("a"),
            await camera.publish("b"),
            await scale.publish("a"),
            await camera.publish("c"),
        ]
        with anyio.fail_after(5):
            await everything.wait_for(4)
    assert [(e.source, e.seq) for e in published] == [
        ("cam-1", 1),
        ("cam-1", 2),
        ("scale", 1),
        ("cam-1", 3),
    ]
    assert [(e.source, e.seq) for e in everything.events] == [(e.source, e.seq) for e in published]
    assert len({e.id for e in published}) == 4


async def test_emits_declares_topics_on_the_card() -> None:
    camera = Agent("cam-1", role="perception")
    camera.emits("defects.line1", schema={"type": "object"}, description="found defects")
    topics = camera.card.events
    assert [t.topic for t in topics] == ["defects.line1"]
    assert topics[0].description == "found defects"


async def test_subscribe_resumes_after_seq() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]):
        for i in range(1, 6):
            await camera.publish("defects.line1", {"n": i})
        peer = client.peer("cam-1")
        with anyio.fail_after(5):
            async with aclosing(peer.events(["defects.>"], after_seq=0)) as stream:
                everything = await take(stream, 5)
            assert [e["seq"] for e in everything] == [1, 2, 3, 4, 5]
            for k in (0, 2, 4):
                async with aclosing(peer.events(["defects.>"], after_seq=k)) as stream:
                    assert await take(stream, 5 - k) == everything[k:]
            # Direct long-poll call: exactly the events after k, and the log's position.
            page = await peer.request("events/subscribe", {"topics": ["defects.>"], "after_seq": 3})
            assert page == {"events": everything[3:], "last_seq": 5}


async def test_subscribe_filters_by_topic_and_keeps_source_numbers() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]):
        for topic in ("defects.line1", "status", "defects.line2", "status"):
            await camera.publish(topic)
        page = await client.peer("cam-1").request(
            "events/subscribe", {"topics": ["defects.*"], "after_seq": 0}
        )
    assert [(e["seq"], e["topic"]) for e in page["events"]] == [
        (1, "defects.line1"),
        (3, "defects.line2"),
    ]
    assert page["last_seq"] == 3


async def test_long_poll_waits_for_the_next_event() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    got: list[dict[str, Any]] = []
    async with Runtime(agents=[camera, client]):
        await camera.publish("defects.line1", {"n": 1})
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def follow() -> None:
                    stream = client.peer("cam-1").events(["defects.>"], after_seq=1)
                    async with aclosing(stream) as events:
                        got.extend(await take(events, 2))

                tg.start_soon(follow)
                await anyio.wait_all_tasks_blocked()
                assert got == []
                await camera.publish("status")  # does not match: the poll keeps waiting
                await camera.publish("defects.line1", {"n": 2})
                await camera.publish("defects.line1", {"n": 3})
    assert [(e["seq"], e["data"]) for e in got] == [(3, {"n": 2}), (4, {"n": 3})]


async def test_empty_long_poll_returns_after_its_wait() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]):
        await camera.publish("status")
        with anyio.fail_after(2):
            page = await client.peer("cam-1").request(
                "events/subscribe", {"topics": [">"], "after_seq": 1, "wait_ms": 50}
            )
    assert page == {"events": [], "last_seq": 1}


async def test_publish_through_the_protocol() -> None:
    camera = Agent("cam-1", role="perception")
    logger = Agent("logger", role="evaluation")
    everything = Collector()
    logger.on_event(">")(everything)
    async with Runtime(agents=[camera, logger]):
        event = await logger.peer("cam-1").publish("defects.line1", {"n": 1})
        assert (event["source"], event["seq"], event["topic"]) == ("cam-1", 1, "defects.line1")
        with anyio.fail_after(5):
            await everything.wait_for(1)
    assert everything.topics == ["defects.line1"]


MALFORMED_TOPICS = ("defects..line1", "defects.*", "defects.>", "", "defects line1")


async def test_malformed_topic_is_refused_by_events_publish() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]) as rt:
        for topic in MALFORMED_TOPICS:
            with pytest.raises(InvalidParams):
                await client.peer("cam-1").publish(topic)
        assert rt.servers["cam-1"].events.last_seq == 0


async def test_malformed_topic_is_refused_by_agent_publish() -> None:
    # A topic names one concrete subject; wildcards belong to subscription patterns only.
    camera = Agent("cam-1", role="perception")
    async with Runtime(agents=[camera]) as rt:
        refused = []
        for topic in MALFORMED_TOPICS:
            try:
                await camera.publish(topic)
            except InvalidParams:
                refused.append(topic)
        assert refused == list(MALFORMED_TOPICS)
        assert rt.servers["cam-1"].events.last_seq == 0


async def test_failing_event_handler_is_reported_and_later_events_arrive() -> None:
    camera = Agent("cam-1", role="perception")
    quality = Agent("quality", role="evaluation")
    good = Collector()
    reported: list[ReportedError] = []

    @quality.on_event("defects.>")
    async def fragile(event: Event) -> None:
        if event.data == "bad":
            raise ValueError("cannot classify")
        await good(event)

    async with Runtime(agents=[camera, quality], on_error=reported.append) as rt:
        await camera.publish("defects.line1", "bad")
        await camera.publish("defects.line1", "good")
        with anyio.fail_after(5):
            await good.wait_for(1)
        assert [e.data for e in good.events] == ["good"]
        assert len(rt.errors) == 1
        assert rt.errors == reported
        assert isinstance(rt.errors[0].error, ValueError)
        assert "quality" in rt.errors[0].where
        await camera.publish("defects.line1", "also good")
        with anyio.fail_after(5):
            await good.wait_for(2)
    assert [e.data for e in good.events] == ["good", "also good"]


async def test_slow_subscriber_does_not_block_the_publisher_or_others() -> None:
    camera = Agent("cam-1", role="perception")
    slow = Agent("slow", role="evaluation")
    fast = Agent("fast", role="evaluation")
    blocked = anyio.Event()
    fast_seen = Collector()

    @slow.on_event(">")
    async def stuck(event: Event) -> None:
        await blocked.wait()

    fast.on_event(">")(fast_seen)
    async with Runtime(agents=[camera, slow, fast]):
        with anyio.fail_after(5):
            for i in range(50):
                await camera.publish("tick", i)
            await fast_seen.wait_for(50)
        assert [e.data for e in fast_seen.events] == list(range(50))
        blocked.set()


async def test_subscribe_ends_before_the_callers_deadline_with_a_normal_result() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]):
        await camera.publish("status")
        with anyio.fail_after(2):
            page = await client.peer("cam-1").request(
                "events/subscribe",
                {"topics": [">"], "after_seq": 1, "wait_ms": 10_000},
                timeout=0.1,
            )
    assert page == {"events": [], "last_seq": 1}


TEMPERATURE = {
    "type": "object",
    "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
    "required": ["value", "unit"],
}


async def test_events_publish_validates_data_against_the_declared_schema() -> None:
    oven = Agent("oven-1", role="perception")
    oven.emits("oven.temperature", schema=TEMPERATURE)
    client = Agent("client", role="decision")
    async with Runtime(agents=[oven, client]) as rt:
        with pytest.raises(InvalidParams) as info:
            await client.peer("oven-1").publish("oven.temperature", {"value": "hot"})
        pointers = sorted(e["pointer"] for e in info.value.data["errors"])
        assert pointers == ["/data", "/data/value"]
        assert rt.servers["oven-1"].events.last_seq == 0
        event = await client.peer("oven-1").publish(
            "oven.temperature", {"value": 180.0, "unit": "CEL"}
        )
        assert event["seq"] == 1


async def test_agent_publish_validates_data_against_the_declared_schema() -> None:
    oven = Agent("oven-1", role="perception")
    oven.emits("oven.temperature", schema=TEMPERATURE)
    async with Runtime(agents=[oven]) as rt:
        with pytest.raises(InvalidParams):
            await oven.publish("oven.temperature", {"value": "hot"})
        assert rt.servers["oven-1"].events.last_seq == 0


async def test_data_that_is_not_json_is_refused_and_does_not_poison_the_log() -> None:
    camera = Agent("cam-1", role="perception")
    client = Agent("client", role="decision")
    async with Runtime(agents=[camera, client]):
        with pytest.raises(AgentlinkError):
            await camera.publish("status", {1, 2})
        await camera.publish("status", "fine")
        page = await client.peer("cam-1").request("events/subscribe", {"topics": [">"]})
    assert [(e["seq"], e["data"]) for e in page["events"]] == [(1, "fine")]
