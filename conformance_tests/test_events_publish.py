"""Events profile, units events-publish and events-cloudevents: ``events/publish``, the
per-agent log and its numbering, topic data schemas, the CloudEvents mapping."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from wire import Target, schema_errors

TICKS = "fixture.ticks"
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def publish(target: Target, data: Any, topic: str = TICKS, **params: Any) -> dict[str, Any]:
    result = target.result("events/publish", {"topic": topic, "data": data, **params})
    assert set(result) == {"event"}, result
    event: dict[str, Any] = result["event"]
    return event


def read(target: Target, topics: list[str], after_seq: int, **params: Any) -> list[dict]:
    """Every event matching ``topics`` after ``after_seq``, following ``last_seq``."""
    out: list[dict[str, Any]] = []
    while True:
        page = target.result(
            "events/subscribe", {"topics": topics, "after_seq": after_seq, **params}
        )
        if not page["events"]:
            return out
        out += page["events"]
        after_seq = page["last_seq"]


@pytest.mark.req("ALP-EVT-001")
def test_publish_appends_one_event_with_the_next_seq(target: Target) -> None:
    first = publish(target, {"n": 1})
    second = publish(target, {"n": 2})
    for event, n in ((first, 1), (second, 2)):
        assert schema_errors("event", event) == []
        assert event["topic"] == TICKS
        assert event["source"] == "fixture"
        assert event["data"] == {"n": n}
        assert event.get("datacontenttype", "application/json") == "application/json"
        assert RFC3339.match(event["time"]), event["time"]
        assert isinstance(event["id"], str)
        assert event["id"]
    assert second["seq"] == first["seq"] + 1
    assert second["id"] != first["id"]
    stored = read(target, [TICKS], first["seq"] - 1)
    assert stored[:2] == [first, second]


@pytest.mark.req("ALP-EVT-001")
def test_publish_keeps_datacontenttype_and_any_data_on_schemaless_topics(target: Target) -> None:
    topic = f"conf.t{uuid.uuid4().hex[:10]}.raw"
    response = target.rpc(
        "events/publish", {"topic": topic, "data": "AAEC", "datacontenttype": "text/plain"}
    )
    if "error" in response:  # refusing other topics is allowed (ALP-EVT-004)
        assert response["error"]["code"] in (-32004, -32022), response
        pytest.skip("the target refuses events on topics it does not declare")
    event = response["result"]["event"]
    assert (event["topic"], event["source"]) == (topic, "fixture")
    assert (event["data"], event["datacontenttype"]) == ("AAEC", "text/plain")


@pytest.mark.req("ALP-EVT-002", "ALP-EVT-001")
def test_the_log_is_numbered_from_one_without_gaps(target: Target) -> None:
    """The fixture's log starts empty, it publishes nothing of its own and keeps every
    event: the whole log is 1, 2, 3, ... with unique ids, whatever the topics."""
    mark = publish(target, {"n": 0})
    events = read(target, [">"], 0, limit=1000)
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert seqs[-1] >= mark["seq"]
    assert events[mark["seq"] - 1] == mark
    assert len({event["id"] for event in events}) == len(events)
    assert {event["source"] for event in events} == {"fixture"}


@pytest.mark.req("ALP-EVT-003")
def test_data_not_matching_the_topic_schema_is_refused(target: Target) -> None:
    before = publish(target, {"n": 10})
    cases: list[tuple[Any, list[str]]] = [
        ({"n": "ten"}, ["/data/n"]),
        ({"n": 1.5}, ["/data/n"]),
        ({}, ["/data"]),
        ({"m": 1}, ["/data"]),
        ("ten", ["/data"]),
        ([{"n": 1}], ["/data"]),
    ]
    for data, where in cases:
        error = target.error("events/publish", {"topic": TICKS, "data": data})
        assert error["code"] == -32602, data
        assert error["data"]["name"] == "invalid_params", data
        assert sorted(e["pointer"] for e in error["data"]["errors"]) == where, data
    after = publish(target, {"n": 11})
    assert after["seq"] == before["seq"] + 1  # nothing was appended in between
    assert read(target, [">"], before["seq"]) == [after]


@pytest.mark.req("ALP-EVT-004")
def test_publish_on_an_undeclared_topic_is_appended_or_refused(target: Target) -> None:
    topic = f"conf.t{uuid.uuid4().hex[:10]}.other"
    response = target.rpc("events/publish", {"topic": topic, "data": {"any": "thing"}})
    if "error" in response:
        error = response["error"]
        assert (error["code"], error["data"]["name"]) in {
            (-32004, "unsupported_operation"),
            (-32022, "forbidden"),
        }
    else:
        assert response["result"]["event"]["topic"] == topic
        assert response["result"]["event"]["data"] == {"any": "thing"}


@pytest.mark.req("ALP-EVT-011")
def test_the_fixture_publishes_nothing_of_its_own(target: Target) -> None:
    """Calling tools, running a task and sending messages add no event to the log."""
    mark = publish(target, {"n": 100})
    target.result("tools/call", {"name": "echo", "arguments": {"text": "quiet"}})
    target.result("tools/call", {"name": "measure", "arguments": {"asset_id": "fixture-asset-1"}})
    task = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": 2, "step_ms": 0}}
    )["task"]
    target.wait_task(task["id"])
    target.result("message/send", {"message": {"performative": "request", "content": {}}})
    assert read(target, [">"], mark["seq"], wait_ms=200) == []


@pytest.mark.req("ALP-EVT-009")
def test_events_map_to_cloudevents(target: Target) -> None:
    """The fixture renders no CloudEvents itself; checked on the suite's own rendering of
    its events: every member the mapping names is present with a type CloudEvents 1.0
    accepts, so the mapped event is a valid CloudEvent (required ``specversion``, ``id``,
    ``source``, ``type``; ``time`` a timestamp; ``sequence`` the ``seq``)."""
    event = publish(target, {"n": 7})
    cloud = {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["source"],
        "type": event["topic"],
        "time": event["time"],
        "datacontenttype": event.get("datacontenttype", "application/json"),
        "sequence": str(event["seq"]),
        "data": event.get("data"),
    }
    if event.get("dataschema") is not None:
        cloud["dataschema"] = event["dataschema"]
    for name in ("id", "source", "type"):
        assert isinstance(cloud[name], str), name
        assert cloud[name], name
    assert RFC3339.match(cloud["time"])
    assert cloud["sequence"] == str(event["seq"])
    assert cloud["data"] == {"n": 7}
    assert json.loads(json.dumps(cloud)) == cloud
