"""Industrial-data profile, units data-measurement, data-units and data-quality: the
``measure`` tool's output as a Measurement, UN/CEFACT units, quality, timestamps, and
measurements passed through the fixture (messages and the event log) unimproved."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from wire import Target, schema_errors

# UN/CEFACT Recommendation 20 common codes an industrial agent is likely to use (Rev. 17).
REC20 = frozenset(
    {
        "C62", "P1", "CEL", "KEL", "FAH", "RPM", "HTZ", "NU", "NEW", "KNM", "KWT", "WTT", "MAW",
        "KWH", "WHR", "MWH", "JOU", "KJO", "SEC", "MIN", "HUR", "DAY", "MTR", "MMT", "CMT",
        "KMT", "MTK", "MTQ", "LTR", "MLT", "KGM", "GRM", "TNE", "BAR", "MBR", "PAL", "KPA",
        "MPA", "AMP", "VLT", "OHM", "MTS", "KMH", "MQH", "MQS", "L2", "LPM", "KGS", "DD",
        "RAD", "LUX", "A86", "HJ", "E32", "H87", "NAR", "4H", "MC",
    }
)  # fmt: skip
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
RANK = {"good": 0, "uncertain": 1, "bad": 2}
IRDI = re.compile(r"^[0-9]{4}-[0-9]#[0-9A-Z]{2}-[0-9A-Z]{3}[0-9]{3}(#[0-9]{3})?$")


def measure(target: Target, asset_id: str) -> tuple[dict[str, Any], float, float]:
    """``measure``'s output, with the local times just before and after the call."""
    before = time.time()
    result = target.result("tools/call", {"name": "measure", "arguments": {"asset_id": asset_id}})
    after = time.time()
    assert set(result) == {"output"}, result
    output: dict[str, Any] = result["output"]
    return output, before, after


def at(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


@pytest.mark.req("ALP-DATA-001")
def test_measure_returns_a_measurement(target: Target) -> None:
    output, _, _ = measure(target, "fixture-asset-1")
    assert schema_errors("measurement", output) == []
    for member in ("value", "unit", "quality", "source_ts", "asset_id"):
        assert member in output, member
    assert output["value"] == 21.5
    assert output["quality"] == "good"
    assert output["asset_id"] == "fixture-asset-1"


@pytest.mark.req("ALP-DATA-002", "ALP-DATA-003")
def test_unit_is_a_rec20_code_and_the_value_is_in_it(target: Target) -> None:
    """The fixture reads 21.5 degrees Celsius: unit ``CEL`` (not a symbol such as ``°C``, not
    relabelled as ``KEL`` or ``FAH`` without converting the value)."""
    output, _, _ = measure(target, "fixture-asset-1")
    assert output["unit"] in REC20
    assert (output["value"], output["unit"]) == (21.5, "CEL")


@pytest.mark.req("ALP-DATA-004")
def test_source_ts_is_when_the_value_was_measured(target: Target) -> None:
    for _ in range(3):
        output, before, after = measure(target, "fixture-asset-1")
        assert RFC3339.match(output["source_ts"]), output["source_ts"]
        measured = at(output["source_ts"])
        assert before - 1.0 <= measured <= after + 0.1, (before, output["source_ts"], after)
        if output.get("server_ts") is not None:
            obtained = at(output["server_ts"])
            assert measured - 0.1 <= obtained <= after + 0.1
        time.sleep(0.05)
    first, _, _ = measure(target, "fixture-asset-1")
    time.sleep(0.3)
    second, _, _ = measure(target, "fixture-asset-1")
    assert at(second["source_ts"]) - at(first["source_ts"]) >= 0.25  # a new reading each time


@pytest.mark.req("ALP-DATA-005")
def test_good_and_uncertain_measurements_have_a_value(target: Target) -> None:
    for asset in ("fixture-asset-1", f"conf-asset-{uuid.uuid4().hex[:6]}"):
        output, _, _ = measure(target, asset)
        assert output["asset_id"] == asset
        if output["quality"] in ("good", "uncertain"):
            assert output["value"] is not None


def bad_reading() -> dict[str, Any]:
    return {
        "value": None,
        "unit": "CEL",
        "quality": "bad",
        "source_ts": "2026-03-01T08:00:00.250Z",
        "asset_id": "fixture-asset-1",
    }


def uncertain_reading() -> dict[str, Any]:
    return {
        "value": 80.25,
        "unit": "P1",
        "quality": "uncertain",
        "source_ts": "2026-03-01T08:00:01Z",
        "server_ts": "2026-03-01T08:00:01.500Z",
        "asset_id": "fixture-asset-1",
    }


@pytest.mark.req("ALP-DATA-006", "ALP-DATA-007")
def test_measurements_passed_through_a_request_keep_their_quality(target: Target) -> None:
    """The fixture's answer to a ``request`` carries the request's content: a bad or
    uncertain measurement comes back exactly, never improved and never made valid."""
    for reading in (bad_reading(), uncertain_reading()):
        content = {"reading": reading, "readings": [reading, {**reading, "asset_id": "x"}]}
        message = {"performative": "request", "content": content}
        result = target.result("message/send", {"message": message})
        reply = result["reply"]
        assert reply["performative"] == "inform"
        assert reply["content"] == content
        assert RANK[reply["content"]["reading"]["quality"]] >= RANK[reading["quality"]]


@pytest.mark.req("ALP-DATA-007", "ALP-DATA-006")
def test_measurements_forwarded_through_the_event_log_keep_their_quality(target: Target) -> None:
    """The event the fixture appends (and returns) carries the measurement as published."""
    for reading in (bad_reading(), uncertain_reading()):
        event = target.result(
            "events/publish", {"topic": "fixture.ticks", "data": {"n": 1, "reading": reading}}
        )["event"]
        forwarded = event["data"]["reading"]
        assert forwarded == reading
        assert schema_errors("measurement", forwarded) == []


@pytest.mark.req("ALP-DATA-008")
def test_semantic_id_when_present_is_a_dictionary_id(target: Target) -> None:
    output, _, _ = measure(target, "fixture-asset-1")
    semantic_id = output.get("semantic_id")
    if semantic_id is not None:
        assert IRDI.match(semantic_id) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", semantic_id)


@pytest.mark.req("ALP-DATA-009")
def test_asset_id_is_one_of_the_card_assets(target: Target, card: dict[str, Any]) -> None:
    for asset in card.get("assets", []):
        output, _, _ = measure(target, asset)
        assert output["asset_id"] == asset
    assert card.get("assets")


@pytest.mark.req("ALP-DATA-010")
def test_measure_declares_a_measurement_output(card: dict[str, Any]) -> None:
    tool = next(t for t in card["tools"] if t["name"] == "measure")
    schema = tool.get("output_schema", {})
    if "$ref" in schema:
        assert schema["$ref"].endswith("measurement.json")
    else:
        assert {"value", "unit", "quality", "source_ts", "asset_id"} <= set(schema["required"])
