"""HTTP binding, unit http-card: the well-known card."""

from __future__ import annotations

import pytest
from wire import Target

PATH = "/.well-known/agentlink.json"


@pytest.mark.req("ALP-HTTP-008")
def test_the_well_known_card_is_json_with_status_200(target: Target) -> None:
    reply = target.http("GET", PATH)
    assert reply.status == 200
    media_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    assert media_type == "application/json", reply.headers
    assert reply.json() == target.result("agent/card")


@pytest.mark.req("ALP-HTTP-008")
def test_the_well_known_card_needs_no_json_rpc_envelope(target: Target) -> None:
    card = target.http("GET", PATH).json()
    assert "jsonrpc" not in card
    assert "result" not in card
    assert card["id"] == "fixture"


@pytest.mark.req("ALP-HTTP-008")
def test_the_well_known_card_is_stable_across_fetches(target: Target) -> None:
    first = target.http("GET", PATH).json()
    for _ in range(3):
        assert target.http("GET", PATH, headers={"Accept": "application/json"}).json() == first
