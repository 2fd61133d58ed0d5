"""Tools profile, unit tools-list: ``tools/list`` and its pages."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from test_ping_card import schema_errors
from wire import Target, check_error


def pages(target: Target) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    for _ in range(100):
        page = target.result("tools/list", params)
        found.append(page)
        if page.get("next_cursor") is None:
            return found
        params = {"cursor": page["next_cursor"]}
    raise AssertionError("tools/list did not reach a last page within 100 pages")


@pytest.mark.req("ALP-TOOL-004")
def test_tools_list_returns_every_tool_over_its_pages(target: Target) -> None:
    listed = [tool for page in pages(target) for tool in page["tools"]]
    names = [tool["name"] for tool in listed]
    assert len(set(names)) == len(names), f"a tool is listed twice: {names}"
    card = target.result("agent/card")
    assert sorted(names) == sorted(tool["name"] for tool in card.get("tools", []))
    claimed = target.claimed or frozenset()
    needed = {"echo", "add", "fail", "slow", "actuation_count", "stop", "measure"}
    needed |= {"long_task", "ask"} if "tasks" in claimed else set()
    needed |= {"actuate"} if "safe-actuation" in claimed else set()
    assert needed <= set(names)


@pytest.mark.req("ALP-TOOL-004")
def test_every_page_validates_and_only_the_last_has_no_cursor(target: Target) -> None:
    found = pages(target)
    for page in found:
        assert schema_errors("methods/tools.list.result", page) == []
    for page in found[:-1]:
        assert isinstance(page.get("next_cursor"), str)
    assert found[-1].get("next_cursor") is None


@pytest.mark.req("ALP-TOOL-004")
def test_the_first_page_is_stable(target: Target) -> None:
    first = target.result("tools/list")
    again = target.result("tools/list", {"cursor": None})
    assert again["tools"] == first["tools"]


@pytest.mark.req("ALP-TOOL-005")
@pytest.mark.parametrize(
    "cursor",
    ["bogus", "0", "1", "MTA=", base64.b64encode(b'{"offset": 1}').decode(), "c" * 1024],
    ids=["word", "zero", "one", "base64-number", "base64-json", "max-length"],
)
def test_a_cursor_the_agent_did_not_issue_gets_invalid_params(target: Target, cursor: str) -> None:
    response = target.rpc("tools/list", {"cursor": cursor})
    assert "result" not in response, f"cursor {cursor!r} was accepted"
    check_error(response["error"], "invalid_params")


@pytest.mark.req("ALP-TOOL-005")
def test_a_tampered_cursor_gets_invalid_params(target: Target) -> None:
    found = pages(target)
    issued = [page["next_cursor"] for page in found[:-1]]
    if not issued:
        issued = ["page-2"]
    for cursor in issued:
        tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
        check_error(target.error("tools/list", {"cursor": tampered}), "invalid_params")
