"""Per-caller limits: token buckets, string lengths."""

from __future__ import annotations

import pytest

from agentlink.model import Overloaded, PayloadTooLarge, UsageError
from agentlink.security import Limits, Rate
from agentlink.security._limits import RateLimiter, check_strings


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    limiter = RateLimiter(Rate(2, per=1.0, burst=4), {})
    for _ in range(4):
        limiter.take("a", 100.0)
    with pytest.raises(Overloaded) as excinfo:
        limiter.take("a", 100.0)
    assert excinfo.value.data is not None
    assert excinfo.value.data["retry_after_ms"] == 500
    limiter.take("a", 100.5)  # one request back after half a second
    with pytest.raises(Overloaded):
        limiter.take("a", 100.5)


def test_each_caller_has_its_own_bucket() -> None:
    limiter = RateLimiter(Rate(1, per=60), {})
    limiter.take("flooder", 0.0)
    with pytest.raises(Overloaded):
        limiter.take("flooder", 1.0)
    limiter.take("other", 1.0)


def test_a_caller_may_have_a_rate_of_its_own() -> None:
    limiter = RateLimiter(None, {"conf-limited": Rate(5, per=3600)})
    for _ in range(100):
        limiter.take("anyone", 0.0)
    for _ in range(5):
        limiter.take("conf-limited", 0.0)
    with pytest.raises(Overloaded) as excinfo:
        limiter.take("conf-limited", 1.0)
    assert excinfo.value.data is not None
    assert excinfo.value.data["retry_after_ms"] > 600_000


def test_a_clock_going_back_refills_nothing() -> None:
    limiter = RateLimiter(Rate(1, per=10), {})
    limiter.take("a", 100.0)
    with pytest.raises(Overloaded):
        limiter.take("a", 50.0)


def test_strings_and_member_names_over_the_limit_are_found() -> None:
    check_strings({"a": ["short", {"b": "x" * 10}]}, 10)
    with pytest.raises(PayloadTooLarge) as excinfo:
        check_strings({"a": ["short", {"b": "x" * 11}]}, 10)
    assert excinfo.value.data == {"kind": "string", "limit": 10, "pointer": "/a/1/b"}
    with pytest.raises(PayloadTooLarge) as excinfo:
        check_strings({"k" * 11: 1}, 10)
    assert excinfo.value.data is not None
    assert excinfo.value.data["pointer"] == ""


def test_limits_are_checked_when_made() -> None:
    with pytest.raises(UsageError):
        Rate(0)
    with pytest.raises(UsageError):
        Rate(1, burst=0.5)
    with pytest.raises(UsageError):
        Limits(max_open_tasks=0)
    with pytest.raises(UsageError):
        Limits(max_depth=1)
