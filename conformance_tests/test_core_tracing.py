"""Core profile, unit core-tracing: W3C trace context accepted and propagated."""

from __future__ import annotations

import re

import pytest
from wire import Target, propagate

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

VALID = {
    "sampled": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "not-sampled": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "all-flags": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
    "zero-trace-id": "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "zero-parent-id": "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "all-f": "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff",
}


@pytest.mark.req("ALP-CORE-052")
@pytest.mark.parametrize("traceparent", VALID.values(), ids=VALID.keys())
def test_any_traceparent_matching_the_pattern_is_accepted(target: Target, traceparent: str) -> None:
    assert target.result("agent/ping", traceparent=traceparent)["ok"] is True
    result = target.result(
        "tools/call", {"name": "echo", "arguments": {"text": "t"}}, traceparent=traceparent
    )
    assert result == {"output": {"text": "t"}}


@pytest.mark.req("ALP-CORE-050", "ALP-CORE-051")
def test_the_suite_propagates_the_trace_id_under_a_new_parent_id(target: Target) -> None:
    """Caller rules, checked on the suite's own client acting as an intermediary: the
    request it sends while serving one with a ``traceparent`` keeps the trace-id and
    carries a parent-id of its own; the target accepts it."""
    incoming = target.meta(traceparent=VALID["sampled"])
    downstream = propagate(incoming)["traceparent"]
    match = TRACEPARENT.match(downstream)
    assert match, downstream
    trace_id, parent_id, flags = match.groups()
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parent_id != "00f067aa0ba902b7"
    assert flags == "01"
    assert propagate(target.meta(traceparent=VALID["sampled"]))["traceparent"] != downstream
    assert target.result("agent/ping", traceparent=downstream)["ok"] is True
