from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.core._idempotency import (
    Begin,
    BeginKind,
    Entry,
    IdempotencyCache,
    Outcome,
    Scope,
    request_digest,
)
from agentlink.model import Duplicate, Overloaded, ToolExecutionError, UsageError

A: Scope = ("planner", "press-1", "tools/call", "k-1")
B: Scope = ("planner", "press-1", "tools/call", "k-2")
C: Scope = ("planner", "press-1", "tools/call", "k-3")
D1 = request_digest("tools/call", {"name": "set_speed", "arguments": {"rpm": 1200}})
D2 = request_digest("tools/call", {"name": "set_speed", "arguments": {"rpm": 1500}})
OK: Outcome = ("result", {"output": {"rpm": 1200}})


def test_digest_is_sha256_of_canonical_json() -> None:
    canonical = b'{"method":"tools/call","params":{"a":1,"b":{"x":[1,2],"y":null}}}'
    expected = hashlib.sha256(canonical).hexdigest()
    assert request_digest("tools/call", {"b": {"y": None, "x": [1, 2]}, "a": 1}) == expected


def test_digest_ignores_meta_but_not_the_method_or_number_types() -> None:
    params: dict[str, Any] = {"name": "add", "arguments": {"a": 1, "b": 2}}
    with_meta = {"_meta": {"message_id": "m-2", "sent_at": "2025-03-04T12:00:00Z"}, **params}
    assert request_digest("tools/call", with_meta) == request_digest("tools/call", params)
    assert "_meta" in with_meta  # the caller's params are not modified
    assert request_digest("message/send", params) != request_digest("tools/call", params)
    floats = {"name": "add", "arguments": {"a": 1.0, "b": 2}}
    assert request_digest("tools/call", floats) != request_digest("tools/call", params)


@pytest.mark.parametrize("params", [{"x": object()}, {"x": {1: "a"}}, {"x": {1, 2}}])
def test_digest_refuses_what_is_not_json(params: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        request_digest("tools/call", params)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=6), st.randoms())
def test_digest_does_not_depend_on_key_order(params: dict[str, Any], rnd: Any) -> None:
    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = [(k, shuffled(v)) for k, v in value.items()]
            rnd.shuffle(items)
            return dict(items)
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    assert request_digest("m", shuffled(params)) == request_digest("m", params)


def test_first_call_runs_and_a_retry_gets_the_stored_result() -> None:
    cache = IdempotencyCache(ttl=60.0)
    first = cache.begin(A, D1, 100.0)
    assert first.kind is BeginKind.NEW
    assert first.entry.scope == A
    assert first.entry.started_at == 100.0
    assert cache.in_flight == 1
    finished = cache.finish(A, OK, 101.0)
    assert finished is first.entry
    assert (finished.done, finished.outcome, finished.finished_at) == (True, OK, 101.0)
    again = cache.begin(A, D1, 102.0)
    assert again.kind is BeginKind.DONE
    assert again.entry is first.entry
    assert again.outcome == OK
    assert cache.in_flight == 0
    assert len(cache) == 1


def test_a_retry_while_running_waits_on_the_same_entry() -> None:
    cache = IdempotencyCache()
    first = cache.begin(A, D1, 100.0)
    second = cache.begin(A, D1, 100.5)
    assert second == Begin(BeginKind.IN_FLIGHT, first.entry)
    with pytest.raises(UsageError):
        _ = second.outcome
    second.entry.waiters.append("wake-me")
    entry = cache.finish(A, OK, 101.0)
    assert entry.waiters == ["wake-me"]
    assert entry.done


@pytest.mark.parametrize("finish_first", [False, True])
def test_same_key_with_a_different_request_is_duplicate(finish_first: bool) -> None:
    cache = IdempotencyCache()
    cache.begin(A, D1, 100.0)
    if finish_first:
        cache.finish(A, OK, 100.5)
    with pytest.raises(Duplicate) as info:
        cache.begin(A, D2, 101.0)
    assert info.value.code == -32027
    assert info.value.data == {"method": "tools/call", "idempotency_key": "k-1"}
    # The original entry is untouched.
    entry = cache.get(A)
    assert entry is not None
    assert entry.digest == D1


def test_scope_separates_senders_receivers_methods_and_keys() -> None:
    cache = IdempotencyCache()
    scopes: list[Scope] = [
        ("planner", "press-1", "tools/call", "k"),
        ("other", "press-1", "tools/call", "k"),
        ("planner", "press-2", "tools/call", "k"),
        ("planner", "press-1", "message/send", "k"),
        ("planner", "press-1", "tools/call", "k2"),
    ]
    assert [cache.begin(s, D1 if i % 2 else D2, 0.0).kind for i, s in enumerate(scopes)] == [
        BeginKind.NEW
    ] * 5


def test_errors_are_stored_like_results() -> None:
    cache = IdempotencyCache()
    cache.begin(A, D1, 0.0)
    error: Outcome = ("error", ToolExecutionError("jammed").to_wire())
    cache.finish(A, error, 1.0)
    assert cache.begin(A, D1, 2.0).outcome == error


def test_completed_entries_expire_after_their_ttl() -> None:
    cache = IdempotencyCache(ttl=10.0)
    cache.begin(A, D1, 0.0)
    cache.finish(A, OK, 5.0)
    assert cache.begin(A, D1, 14.999).kind is BeginKind.DONE
    assert cache.expire(14.999) == 0
    assert cache.expire(15.0) == 1
    assert cache.get(A) is None
    # Once expired the key is free, even for another request.
    assert cache.begin(A, D2, 15.0).kind is BeginKind.NEW


def test_begin_expires_lazily() -> None:
    cache = IdempotencyCache(ttl=10.0)
    cache.begin(A, D1, 0.0)
    cache.finish(A, OK, 0.0)
    assert cache.begin(A, D2, 10.0).kind is BeginKind.NEW


def test_in_flight_entries_do_not_expire() -> None:
    cache = IdempotencyCache(ttl=1.0)
    first = cache.begin(A, D1, 0.0)
    assert cache.expire(1e9) == 0
    assert cache.begin(A, D1, 1e9) == Begin(BeginKind.IN_FLIGHT, first.entry)


def test_least_recently_used_completed_entry_is_evicted() -> None:
    cache = IdempotencyCache(max_entries=2)
    for scope in (A, B):
        cache.begin(scope, D1, 0.0)
        cache.finish(scope, OK, 0.0)
    cache.begin(A, D1, 1.0)  # a hit: A is now the most recently used
    assert cache.begin(C, D1, 2.0).kind is BeginKind.NEW
    assert cache.get(B) is None
    assert cache.get(A) is not None
    assert len(cache) == 2


def test_in_flight_entries_are_never_evicted() -> None:
    cache = IdempotencyCache(max_entries=2)
    cache.begin(A, D1, 0.0)
    cache.begin(B, D1, 0.0)
    with pytest.raises(Overloaded) as info:
        cache.begin(C, D1, 0.0)
    assert info.value.data == {"in_flight": 2, "limit": 2}
    cache.finish(B, OK, 1.0)
    assert cache.begin(C, D1, 2.0).kind is BeginKind.NEW
    assert cache.get(B) is None
    entry = cache.get(A)
    assert entry is not None
    assert not entry.done


def test_abandon_lets_a_retry_run() -> None:
    cache = IdempotencyCache()
    first = cache.begin(A, D1, 0.0)
    gone = cache.abandon(A)
    assert gone is first.entry
    assert gone.abandoned
    assert not gone.done
    retry = cache.begin(A, D2, 1.0)  # nothing ran, so even another request may use the key
    assert retry.kind is BeginKind.NEW
    assert retry.entry is not first.entry
    assert cache.abandon(B) is None


def test_abandon_after_finish_is_a_usage_error() -> None:
    cache = IdempotencyCache()
    cache.begin(A, D1, 0.0)
    cache.finish(A, OK, 0.0)
    with pytest.raises(UsageError):
        cache.abandon(A)
    assert cache.begin(A, D1, 1.0).outcome == OK


def test_finish_needs_a_request_in_flight() -> None:
    cache = IdempotencyCache()
    with pytest.raises(UsageError):
        cache.finish(A, OK, 0.0)
    cache.begin(A, D1, 0.0)
    cache.finish(A, OK, 0.0)
    with pytest.raises(UsageError):
        cache.finish(A, OK, 0.0)


@pytest.mark.parametrize(
    "outcome", [("result",), ("error", "boom"), ("value", 1), ["result", 1], "result"]
)
def test_finish_refuses_malformed_outcomes(outcome: Any) -> None:
    cache = IdempotencyCache()
    cache.begin(A, D1, 0.0)
    with pytest.raises(UsageError):
        cache.finish(A, outcome, 0.0)
    entry = cache.get(A)
    assert entry is not None
    assert not entry.done


@pytest.mark.parametrize(("ttl", "max_entries"), [(0.0, 10), (-1.0, 10), (1.0, 0)])
def test_limits_must_be_positive(ttl: float, max_entries: int) -> None:
    with pytest.raises(UsageError):
        IdempotencyCache(ttl=ttl, max_entries=max_entries)


def test_the_expiry_queue_stays_bounded_under_eviction() -> None:
    cache = IdempotencyCache(ttl=1e6, max_entries=4)
    for i in range(1000):
        scope: Scope = ("s", "r", "m", f"k{i}")
        cache.begin(scope, D1, float(i))
        cache.finish(scope, OK, float(i))
    assert len(cache) == 4
    assert len(cache._expiry) <= 2 * 4 + 1
    assert cache.expire(1e6 + 996.0) == 1
    assert cache.expire(1e7) == 3
    assert len(cache) == 0


OP = st.tuples(
    st.sampled_from(["begin", "finish", "abandon", "expire"]),
    st.integers(0, 3),  # scope
    st.integers(0, 1),  # digest
    st.floats(0.0, 5.0),  # time step
)


@given(st.lists(OP, max_size=60), st.integers(1, 4))
def test_random_use_keeps_the_promises(ops: list[tuple[str, int, int, float]], size: int) -> None:
    cache = IdempotencyCache(ttl=8.0, max_entries=size)
    running: dict[Scope, Entry] = {}
    now = 0.0
    for op, s, d, step in ops:
        now += step
        scope: Scope = ("s", "r", "m", f"k{s}")
        digest = (D1, D2)[d]
        if op == "begin":
            held = cache.get(scope)
            live = held is not None and (not held.done or (held.finished_at or 0) + 8.0 > now)
            try:
                answer = cache.begin(scope, digest, now)
            except Duplicate:
                assert held is not None
                assert live
                assert held.digest != digest
                continue
            except Overloaded:
                assert len(running) == size
                continue
            if scope in running:
                assert answer == Begin(BeginKind.IN_FLIGHT, running[scope])
            elif answer.kind is BeginKind.DONE:
                assert answer.entry is held
                assert answer.outcome == ("result", answer.entry.digest)
            else:
                assert answer.kind is BeginKind.NEW
                running[scope] = answer.entry
        elif op == "finish" and scope in running:
            cache.finish(scope, ("result", running.pop(scope).digest), now)
        elif op == "abandon" and scope in running:
            assert cache.abandon(scope) is running.pop(scope)
        elif op == "expire":
            cache.expire(now)
        assert len(cache) <= size
        assert cache.in_flight == len(running)
        for held_scope, entry in running.items():
            assert cache.get(held_scope) is entry  # in-flight entries are never dropped
