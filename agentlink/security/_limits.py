"""Resource limits per caller (IEC 62443 FR7, resource availability).

A caller over a limit gets ``overloaded`` (-32026) with ``data.retry_after_ms`` and nothing
is executed; every other caller is served as before, because each caller has its own
budget. Strings longer than ``max_string`` get ``payload_too_large`` with ``data.kind``
``"string"``. Frame size and nesting depth are the dispatcher's limits (ALP-CORE-016..019);
:class:`Limits` can lower them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from agentlink.core._meta import pointer
from agentlink.model import Overloaded, PayloadTooLarge, UsageError

__all__ = ["Limits", "Rate", "RateLimiter", "check_strings"]

_BUCKETS_LIMIT: Final = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``requests`` per ``per`` seconds, bursts of up to ``burst``.

    Raises:
        UsageError: a rate or burst that is not positive.
    """

    requests: float
    per: float = 1.0
    burst: float | None = None

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per <= 0 or (self.burst is not None and self.burst < 1):
            raise UsageError("a rate needs positive requests and period, and a burst >= 1")

    @property
    def capacity(self) -> float:
        return self.requests if self.burst is None else self.burst

    @property
    def per_second(self) -> float:
        return self.requests / self.per


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one caller may use of one agent.

    Attributes:
        rate: requests per caller (a token bucket); None: no rate limit.
        caller_rates: agent id -> its own rate, instead of ``rate``.
        max_open_tasks: tasks a caller may have that have not ended.
        max_subscriptions: long polls (``tasks/subscribe``, ``events/subscribe``,
            ``registry/watch``, and the SSE streams built on them) a caller may hold at once.
        max_string: the longest string (in characters) anywhere in a request's params.
        max_bytes: the largest frame, in bytes (default: the dispatcher's 1 MiB).
        max_depth: the deepest JSON nesting (default: the dispatcher's 64).
    """

    rate: Rate | None = None
    caller_rates: Mapping[str, Rate] = field(default_factory=dict)
    max_open_tasks: int | None = None
    max_subscriptions: int | None = None
    max_string: int | None = None
    max_bytes: int | None = None
    max_depth: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_open_tasks", "max_subscriptions", "max_string", "max_bytes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.max_depth is not None and self.max_depth < 2:
            raise UsageError("max_depth must be at least 2")


def overloaded(what: str, retry_after_s: float) -> Overloaded:
    """The documented refusal of a caller over a limit."""
    return Overloaded(
        f"over the limit: {what}",
        data={"retry_after_ms": max(1, math.ceil(retry_after_s * 1000)), "limit": what},
    )


class RateLimiter:
    """Token buckets by caller; time is passed in (unix seconds)."""

    def __init__(self, rate: Rate | None, caller_rates: Mapping[str, Rate]) -> None:
        self.rate = rate
        self.caller_rates = dict(caller_rates)
        self._buckets: dict[str, list[float]] = {}  # caller -> [tokens, last time]

    def take(self, caller: str, now: float) -> None:
        """Use one request of ``caller``'s budget.

        Raises:
            Overloaded: the budget is spent; ``retry_after_ms`` says when one is back.
        """
        rate = self.caller_rates.get(caller, self.rate)
        if rate is None:
            return
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= _BUCKETS_LIMIT:
                self._forget_full(now)
            bucket = self._buckets[caller] = [rate.capacity, now]
        tokens = min(rate.capacity, bucket[0] + max(0.0, now - bucket[1]) * rate.per_second)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            raise overloaded(
                f"{rate.requests:g} requests per {rate.per:g} s", (1 - tokens) / rate.per_second
            )
        bucket[0] = tokens - 1

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold no information)."""
        keep: dict[str, list[float]] = {}
        for caller, bucket in self._buckets.items():
            rate = self.caller_rates.get(caller, self.rate)
            if rate is not None and bucket[0] + (now - bucket[1]) * rate.per_second < rate.capacity:
                keep[caller] = bucket
        self._buckets = keep


def check_strings(value: Any, limit: int) -> None:
    """Raise ``payload_too_large`` (``data.kind`` ``"string"``) for a string (or member
    name) longer than ``limit`` characters anywhere in ``value``."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if type(node) is str:
            if len(node) > limit:
                raise _too_long(limit, path)
        elif type(node) is dict:
            for key, child in node.items():
                if len(key) > limit:
                    raise _too_long(limit, path)
                stack.append((child, (*path, key)))
        elif type(node) is list:
            stack.extend((child, (*path, i)) for i, child in enumerate(node))


def _too_long(limit: int, path: tuple[str | int, ...]) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a string is longer than {limit} characters",
        data={"kind": "string", "limit": limit, "pointer": pointer(path)},
    )
