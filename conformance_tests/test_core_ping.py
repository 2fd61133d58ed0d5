"""Core profile, unit core-ping: liveness and clock, without side effects or waiting."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from wire import Target

TIMESTAMP = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def instant(timestamp: str) -> float:
    return datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", timestamp)).timestamp()


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


@pytest.mark.req("ALP-CORE-053")
def test_ping_answers_ok_true_and_the_current_time(target: Target) -> None:
    sent = time.time()
    result = target.result("agent/ping")
    received = time.time()
    assert result["ok"] is True
    assert isinstance(result["time"], str)
    assert TIMESTAMP.match(result["time"]), result["time"]
    assert sent - 5 <= instant(result["time"]) <= received + 5


@pytest.mark.req("ALP-CORE-053")
def test_ping_time_moves_forward(target: Target) -> None:
    first = instant(target.result("agent/ping")["time"])
    time.sleep(0.05)
    second = instant(target.result("agent/ping")["time"])
    assert second > first


@pytest.mark.req("ALP-CORE-053")
def test_ping_has_no_side_effect(target: Target) -> None:
    before = actuations(target)
    tasks_before = target.result("tasks/list", {"limit": 1000})["tasks"]
    for _ in range(10):
        target.result("agent/ping")
    assert actuations(target) == before
    tasks_after = target.result("tasks/list", {"limit": 1000})["tasks"]
    assert {t["id"] for t in tasks_after} == {t["id"] for t in tasks_before}


@pytest.mark.req("ALP-CORE-054")
def test_ping_does_not_wait_for_running_work(target: Target) -> None:
    def slow() -> dict[str, Any]:
        client = Target(target.url, sender=target.sender)
        try:
            return client.rpc("tools/call", {"name": "slow", "arguments": {"ms": 600}})
        finally:
            client.close()

    task = target.result("tools/call", {"name": "ask", "arguments": {"prompt": "p"}})["task"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(slow)
        time.sleep(0.1)
        started = time.monotonic()
        result = target.result("agent/ping")
        took = time.monotonic() - started
        assert running.result()["result"] == {"output": {"slept_ms": 600}}
    assert result["ok"] is True
    assert took < 0.3, f"ping took {took:.3f} s while other work was running"
    target.rpc("tasks/cancel", {"task_id": task["id"]})
