"""HTTP binding, unit http-sse: Server-Sent Events streams of task events and of the event
log, their resume point, their end, their authentication."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from wire import Target


@dataclass
class Stream:
    status: int
    headers: dict[str, str]
    events: list[list[tuple[str, str]]] = field(default_factory=list)
    ended: bool = False  # the server closed the stream
    body: bytes = b""  # the body of a response that is not a stream

    def field(self, index: int, name: str) -> str:
        values = [value for key, value in self.events[index] if key == name]
        assert len(values) == 1, f"event {index} has {len(values)} {name!r} fields"
        return values[0]

    def items(self) -> list[dict[str, Any]]:
        return [json.loads(self.field(i, "data")) for i in range(len(self.events))]


def read_stream(
    target: Target,
    path: str,
    *,
    limit: int,
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
) -> Stream:
    """Read up to ``limit`` events from an SSE endpoint for at most ``timeout`` seconds; every
    field line is kept, so that events with several ``data`` lines are visible as such."""
    give_up = time.monotonic() + timeout
    conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        conn.request(
            "GET", target.base + path, headers={"Accept": "text/event-stream", **(headers or {})}
        )
        response = conn.getresponse()
        stream = Stream(response.status, {k.lower(): v for k, v in response.getheaders()})
        if response.status != 200:
            stream.body = response.read()
            return stream
        current: list[tuple[str, str]] = []
        while len(stream.events) < limit and time.monotonic() < give_up:
            raw = response.readline()
            if not raw:
                stream.ended = True
                break
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if current:
                    stream.events.append(current)
                    current = []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            current.append((name, value[1:] if value.startswith(" ") else value))
        return stream
    finally:
        conn.close()


def media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def finished_task(target: Target, steps: int = 3) -> tuple[str, list[dict[str, Any]]]:
    """A completed ``long_task`` and all its events, as the long poll returns them."""
    created = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": steps, "step_ms": 0}}
    )
    task_id = created["task"]["id"]
    target.wait_task(task_id)
    page = target.result("tasks/subscribe", {"task_id": task_id, "after_seq": 0})
    events = page["events"]
    assert events
    assert events[-1]["state"] == "completed"
    return task_id, events


def publish(target: Target, count: int) -> list[dict[str, Any]]:
    events = []
    for _ in range(count):
        data = {"n": uuid.uuid4().int % 10**9}
        result = target.result("events/publish", {"topic": "fixture.ticks", "data": data})
        events.append(result["event"])
    return events


# -- ALP-HTTP-009: content type and event fields --------------------------------------------


@pytest.mark.req("ALP-HTTP-009")
def test_the_task_stream_sends_task_events_with_seq_ids_and_one_line_json(
    target: Target,
) -> None:
    task_id, events = finished_task(target)
    stream = read_stream(target, f"/tasks/{quote(task_id)}/events", limit=len(events) + 5)
    assert stream.status == 200
    assert media_type(stream.headers) == "text/event-stream"
    assert len(stream.events) == len(events)
    for index, event in enumerate(events):
        assert stream.field(index, "id") == str(event["seq"])
        assert stream.field(index, "event") == "task-event"
        assert json.loads(stream.field(index, "data")) == event


@pytest.mark.req("ALP-HTTP-009")
def test_the_event_stream_sends_events_with_seq_ids_and_one_line_json(target: Target) -> None:
    published = publish(target, 2)
    after = published[0]["seq"] - 1
    stream = read_stream(target, f"/events?topic=fixture.ticks&after_seq={after}", limit=2)
    assert stream.status == 200
    assert media_type(stream.headers) == "text/event-stream"
    for index, event in enumerate(published):
        assert stream.field(index, "id") == str(event["seq"])
        assert stream.field(index, "event") == "event"
        assert json.loads(stream.field(index, "data")) == event


# -- ALP-HTTP-010: where a stream starts ----------------------------------------------------


@pytest.mark.req("ALP-HTTP-010")
def test_the_task_stream_starts_at_0_by_default(target: Target) -> None:
    task_id, events = finished_task(target)
    stream = read_stream(target, f"/tasks/{quote(task_id)}/events", limit=100)
    assert stream.items() == events


@pytest.mark.req("ALP-HTTP-010")
def test_the_task_stream_starts_after_the_after_seq_parameter(target: Target) -> None:
    task_id, events = finished_task(target)
    stream = read_stream(target, f"/tasks/{quote(task_id)}/events?after_seq=2", limit=100)
    assert stream.items() == [e for e in events if e["seq"] > 2]
    page = target.result("tasks/subscribe", {"task_id": task_id, "after_seq": 2})
    assert stream.items() == page["events"]


@pytest.mark.req("ALP-HTTP-010")
def test_last_event_id_takes_precedence_over_after_seq(target: Target) -> None:
    task_id, events = finished_task(target)
    stream = read_stream(
        target,
        f"/tasks/{quote(task_id)}/events?after_seq=1",
        limit=100,
        headers={"Last-Event-ID": "4"},
    )
    assert [e["seq"] for e in stream.items()] == [e["seq"] for e in events if e["seq"] > 4]
    assert stream.items() == [e for e in events if e["seq"] > 4]


@pytest.mark.req("ALP-HTTP-010")
def test_the_event_stream_resumes_after_last_event_id(target: Target) -> None:
    published = publish(target, 3)
    stream = read_stream(
        target,
        "/events?topic=fixture.ticks&after_seq=0",
        limit=2,
        headers={"Last-Event-ID": str(published[0]["seq"])},
    )
    assert stream.items() == published[1:]


@pytest.mark.req("ALP-HTTP-010")
def test_the_event_stream_matches_any_of_several_topic_patterns(target: Target) -> None:
    published = publish(target, 2)
    after = published[0]["seq"] - 1
    patterns = ["nothing.here", "fixture.*", ">"]
    query = "&".join(f"topic={quote(p, safe='')}" for p in patterns)
    stream = read_stream(target, f"/events?{query}&after_seq={after}", limit=2)
    assert stream.items() == published
    long_poll = target.result(
        "events/subscribe", {"topics": patterns, "after_seq": after, "limit": 2}
    )
    assert long_poll["events"] == stream.items()


# -- ALP-HTTP-011: the end of a task stream; unknown tasks ----------------------------------


@pytest.mark.req("ALP-HTTP-011")
def test_the_task_stream_ends_after_the_terminal_event(target: Target) -> None:
    task_id, events = finished_task(target)
    stream = read_stream(target, f"/tasks/{quote(task_id)}/events", limit=1000)
    assert stream.ended, "the stream of a finished task stayed open"
    assert stream.items()[-1]["state"] == "completed"
    assert len(stream.items()) == len(events)


@pytest.mark.req("ALP-HTTP-011")
def test_a_live_task_stream_follows_the_task_to_its_end(target: Target) -> None:
    created = target.result(
        "tools/call", {"name": "long_task", "arguments": {"steps": 4, "step_ms": 60}}
    )
    task_id = created["task"]["id"]
    stream = read_stream(target, f"/tasks/{quote(task_id)}/events", limit=1000)
    assert stream.ended, "the stream did not end after the task finished"
    items = stream.items()
    assert [e["seq"] for e in items] == list(range(1, len(items) + 1))
    assert items[-1]["state"] == "completed"
    assert sum(1 for e in items if e["kind"] == "progress") == 4


@pytest.mark.req("ALP-HTTP-011")
def test_an_unknown_task_stream_gets_404_with_task_not_found(target: Target) -> None:
    target.require("tasks")
    task_id = f"no-such-task-{uuid.uuid4().hex}"
    stream = read_stream(target, f"/tasks/{task_id}/events", limit=1)
    assert stream.status == 404
    response = json.loads(stream.body)
    assert response["id"] is None
    assert response["error"]["code"] == -32001
    assert response["error"]["data"]["name"] == "task_not_found"
    assert response["error"]["data"]["task_id"] == task_id


# -- ALP-HTTP-013: authentication of streams ------------------------------------------------


@pytest.mark.req("ALP-HTTP-013")
def test_streams_need_the_same_credentials_as_the_methods(
    target: Target, card: dict[str, Any]
) -> None:
    schemes = {scheme.get("type") for scheme in card.get("security", [])}
    if not schemes or "none" in schemes:
        pytest.skip("the target accepts unauthenticated callers (no scheme to enforce)")
    assert target.rpc("agent/ping").get("error", {}).get("code") == -32021
    for path in ("/events?topic=%3E", f"/tasks/{uuid.uuid4().hex}/events"):
        try:
            stream = read_stream(target, path, limit=1, timeout=3)
        except TimeoutError:
            pytest.fail(f"GET {path} without credentials was streamed")
        assert stream.status != 200, f"GET {path} without credentials was streamed"
