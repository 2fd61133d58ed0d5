"""Core profile, unit core-deadlines: refusal of expired requests, expiry during the work,
long polls that end before the deadline, propagation, clocks."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from wire import Target, check_error, in_seconds, propagate, rfc3339


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", timestamp))


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def publish_seq(target: Target) -> int:
    result = target.result(
        "events/publish", {"topic": "fixture.ticks", "data": {"n": uuid.uuid4().int % 10**9}}
    )
    return int(result["event"]["seq"])


def in_zone(seconds: float, hours: float) -> str:
    """A timestamp ``seconds`` from now, written with a UTC offset of ``hours``."""
    zone = timezone(timedelta(hours=hours))
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .astimezone(zone)
        .isoformat(timespec="milliseconds")
    )


# -- ALP-CORE-036: a deadline that has already passed ---------------------------------------


@pytest.mark.req("ALP-CORE-036")
@pytest.mark.parametrize(
    ("seconds", "hours"),
    [(-1, 0), (-3600, 0), (-2, 9), (-2, -5), (-86400 * 400, 0)],
    ids=["1s-ago", "1h-ago", "plus-09", "minus-05", "last-year"],
)
def test_an_expired_deadline_gets_deadline_exceeded_not_started(
    target: Target, seconds: float, hours: float
) -> None:
    deadline = in_zone(seconds, hours) if hours else in_seconds(seconds)
    details = check_error(
        target.error("agent/ping", deadline=deadline), "deadline_exceeded", started=False
    )
    assert instant(details["deadline"]) == instant(deadline)


@pytest.mark.req("ALP-CORE-036")
def test_a_future_deadline_in_another_time_zone_is_not_expired(target: Target) -> None:
    for hours in (-11, -5, 5.5, 14):
        deadline = in_zone(30, hours)
        assert target.result("agent/ping", deadline=deadline)["ok"] is True


@pytest.mark.req("ALP-CORE-036")
def test_an_expired_call_performs_no_side_effect(target: Target) -> None:
    before = actuations(target)
    response = target.call("stop", {}, deadline=in_seconds(-1))
    check_error(response.get("error"), "deadline_exceeded", started=False)
    assert actuations(target) == before
    first = publish_seq(target)
    params = {"topic": "fixture.ticks", "data": {"n": 7}}
    error = target.error("events/publish", params, deadline=in_seconds(-1))
    check_error(error, "deadline_exceeded", started=False)
    assert publish_seq(target) == first + 1


@pytest.mark.req("ALP-CORE-036")
def test_an_expired_task_creating_call_creates_no_task(target: Target) -> None:
    arguments = {"steps": 1, "step_ms": 0}
    response = target.call("long_task", arguments, deadline=in_seconds(-1))
    assert "result" not in response, "an expired call created a task"
    check_error(response["error"], "deadline_exceeded", started=False)


# -- ALP-CORE-037 / ALP-CORE-038: the deadline passes during the work -----------------------


def _slow_past_deadline(target: Target, budget: float, ms: int) -> tuple[dict[str, Any], float]:
    deadline_at = time.time() + budget
    deadline = rfc3339(datetime.fromtimestamp(deadline_at, UTC))
    response = target.call("slow", {"ms": ms}, deadline=deadline)
    late = time.time() - deadline_at
    return response, late


@pytest.mark.req("ALP-CORE-037")
def test_a_deadline_passing_during_the_work_gets_deadline_exceeded_started(
    target: Target,
) -> None:
    response, late = _slow_past_deadline(target, 0.3, 3000)
    assert "result" not in response, f"a result was sent after the deadline: {response}"
    check_error(response["error"], "deadline_exceeded", started=True)
    assert late < 2.0, f"answered {late:.2f} s after the deadline"


@pytest.mark.req("ALP-CORE-037")
def test_work_that_ends_before_the_deadline_succeeds(target: Target) -> None:
    result = target.result(
        "tools/call", {"name": "slow", "arguments": {"ms": 50}}, deadline=in_seconds(5)
    )
    assert result == {"output": {"slept_ms": 50}}


@pytest.mark.req("ALP-CORE-038")
def test_deadline_exceeded_comes_within_250_ms_of_the_deadline(target: Target) -> None:
    response, late = _slow_past_deadline(target, 0.3, 5000)
    check_error(response.get("error"), "deadline_exceeded", started=True)
    assert late <= 0.25, f"deadline_exceeded came {late * 1000:.0f} ms after the deadline"


# -- ALP-CORE-039 / ALP-CORE-040: deadlines propagated, never extended (caller rules) ----


@pytest.mark.req("ALP-CORE-039", "ALP-CORE-040")
def test_the_suite_propagates_deadlines_earlier_never_later(target: Target) -> None:
    """Caller rules, checked on the suite's own client acting as an intermediary: the
    request it sends while serving one with a deadline carries a deadline no later than the
    incoming one, earlier by a margin; the target accepts the propagated request."""
    incoming = target.meta(deadline=in_seconds(5))
    downstream = propagate(incoming)
    assert instant(downstream["deadline"]) <= instant(incoming["deadline"])
    assert instant(incoming["deadline"]) - instant(downstream["deadline"]) >= timedelta(
        milliseconds=10
    )
    assert propagate(target.meta()) == {}
    assert target.result("agent/ping", **downstream)["ok"] is True


# -- ALP-CORE-041: long polls end before the deadline -------------------------------------


@pytest.mark.req("ALP-CORE-041")
def test_an_events_long_poll_ends_with_its_result_before_the_deadline(target: Target) -> None:
    topic = f"conformance.quiet.t{uuid.uuid4().hex[:12]}"
    deadline_at = time.time() + 0.6
    deadline = rfc3339(datetime.fromtimestamp(deadline_at, UTC))
    params = {"topics": [topic], "after_seq": 0, "wait_ms": 10000}
    started = time.time()
    response = target.rpc("events/subscribe", params, deadline=deadline)
    ended = time.time()
    assert "error" not in response, response["error"]
    assert response["result"]["events"] == []
    assert ended <= deadline_at, f"answered {ended - deadline_at:.3f} s after the deadline"
    assert ended - started < 5


@pytest.mark.req("ALP-CORE-041")
def test_a_task_long_poll_ends_with_its_result_before_the_deadline(target: Target) -> None:
    created = target.result("tools/call", {"name": "ask", "arguments": {"prompt": "wait"}})
    task = target.wait_task(created["task"]["id"], until={"input-required"})
    deadline_at = time.time() + 0.6
    deadline = rfc3339(datetime.fromtimestamp(deadline_at, UTC))
    params = {"task_id": task["id"], "after_seq": task["seq"], "wait_ms": 10000}
    started = time.time()
    response = target.rpc("tasks/subscribe", params, deadline=deadline)
    ended = time.time()
    assert "error" not in response, response["error"]
    assert response["result"]["events"] == []
    assert response["result"]["task"]["id"] == task["id"]
    assert ended <= deadline_at, f"answered {ended - deadline_at:.3f} s after the deadline"
    assert ended - started < 5
    target.rpc("tasks/cancel", {"task_id": task["id"]})


# -- ALP-CORE-042: clocks ------------------------------------------------------------------


@pytest.mark.req("ALP-CORE-042")
def test_the_target_clock_is_within_100_ms_of_utc(target: Target) -> None:
    """Compared with this machine's clock (assumed synchronised), allowing for the round
    trip."""
    best = None
    for _ in range(5):
        sent = time.time()
        result = target.result("agent/ping")
        received = time.time()
        offset = instant(result["time"]).timestamp() - (sent + received) / 2
        slack = (received - sent) / 2
        if best is None or abs(offset) - slack < best:
            best = max(abs(offset) - slack, 0.0)
    assert best is not None
    assert best <= 0.1, f"the target's clock is off by {best * 1000:.0f} ms"
