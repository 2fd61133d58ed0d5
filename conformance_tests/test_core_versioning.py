"""Core profile, unit core-versioning: version negotiation and forward compatibility."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from wire import PROTOCOL, Target, check_error

VERSION = re.compile(r"^agentlink/([0-9]+)\.([0-9]+)$")


def actuations(target: Target) -> int:
    result = target.result("tools/call", {"name": "actuation_count", "arguments": {}})
    return int(result["output"]["count"])


def send(target: Target, frame: Any) -> Any:
    return json.loads(target.post(json.dumps(frame).encode()).body)


def version_key(version: str) -> tuple[int, int]:
    match = VERSION.match(version)
    assert match, version
    return int(match.group(1)), int(match.group(2))


UNSUPPORTED = ["agentlink/9.9", "agentlink/0.2", "agentlink/1.0", "agentlink/0.10"]


@pytest.mark.req("ALP-CORE-025")
@pytest.mark.parametrize("version", UNSUPPORTED)
def test_an_unsupported_version_gets_version_unsupported_and_runs_nothing(
    target: Target, card: dict[str, Any], version: str
) -> None:
    if version in card["protocol_versions"]:
        pytest.skip(f"the target supports {version}")
    before = actuations(target)
    response = target.call("stop", {}, protocol=version)
    assert "result" not in response
    details = check_error(response["error"], "version_unsupported", requested=version)
    supported = details["supported"]
    assert isinstance(supported, list)
    assert PROTOCOL in supported
    assert sorted(supported) == sorted(card["protocol_versions"])
    assert actuations(target) == before


@pytest.mark.req("ALP-CORE-025")
def test_the_version_check_applies_to_every_method(target: Target) -> None:
    for method, params in (
        ("agent/ping", {}),
        ("agent/card", {}),
        ("tools/list", {}),
        ("tools/call", {"name": "echo", "arguments": {"text": "v"}}),
    ):
        error = target.error(method, params, protocol="agentlink/7.3")
        check_error(error, "version_unsupported", requested="agentlink/7.3")


@pytest.mark.req("ALP-CORE-025")
def test_agentlink_0_1_is_supported(target: Target) -> None:
    assert target.result("agent/ping", protocol="agentlink/0.1")["ok"] is True


@pytest.mark.req("ALP-CORE-026", "ALP-CORE-027")
def test_the_suite_sends_the_highest_version_the_card_lists(
    target: Target, card: dict[str, Any]
) -> None:
    """Caller rules, checked on the suite's own client: it sends a version the receiver's
    card lists, the highest of those it speaks itself."""
    sent = target.frame("agent/ping")["params"]["_meta"]["protocol"]
    assert sent in card["protocol_versions"]
    speaks = {PROTOCOL}  # the versions the suite's client speaks
    shared = speaks & set(card["protocol_versions"])
    assert sent == max(shared, key=version_key)


# -- ALP-CORE-028: unknown members are ignored ---------------------------------------------


@pytest.mark.req("ALP-CORE-028")
def test_unknown_params_members_are_ignored(target: Target) -> None:
    params = {"name": "echo", "arguments": {"text": "u"}, "x-future": {"a": [1, 2]}, "zz": None}
    assert target.result("tools/call", params) == {"output": {"text": "u"}}
    assert target.result("agent/ping", {"x-future": 1})["ok"] is True
    assert "tools" in target.result("tools/list", {"x-future": "page"})


@pytest.mark.req("ALP-CORE-028")
def test_unknown_meta_members_are_ignored(target: Target) -> None:
    frame = target.frame("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    frame["params"]["_meta"].update(
        {"x_priority": "high", "hops": 3, "routing": {"via": ["a", "b"]}, "future": None}
    )
    response = send(target, frame)
    assert response.get("result") == {"output": {"sum": 5}}, response


@pytest.mark.req("ALP-CORE-028")
def test_unknown_frame_members_are_ignored(target: Target) -> None:
    frame = target.frame("agent/ping")
    frame["x-hop-count"] = 2
    frame["extensions"] = {"a": 1}
    response = send(target, frame)
    assert response["id"] == frame["id"]
    assert response.get("result", {}).get("ok") is True, response


@pytest.mark.req("ALP-CORE-028")
def test_unknown_members_of_nested_protocol_objects_are_ignored(target: Target) -> None:
    message = {
        "performative": "query",
        "content_type": "application/json",
        "content": {"q": "temperature"},
        "x-priority": 5,
        "annotations": {"lang": "en"},
    }
    response = target.rpc("message/send", {"message": message})
    assert "error" not in response, response["error"]
    assert isinstance(response["result"], dict)
