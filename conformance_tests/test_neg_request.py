"""Negotiation profile, units neg-request, neg-query and neg-subscribe: the request, query
and subscribe interaction protocols, on the participant's side (the fixture)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from wire import Target, in_seconds


def conversation() -> str:
    return f"conf-conv-{uuid.uuid4().hex}"


def send(target: Target, message: dict[str, Any], **meta: Any) -> dict[str, Any] | None:
    result = target.result("message/send", {"message": message}, **meta)
    reply: dict[str, Any] | None = result.get("reply")
    return reply


def performative(reply: dict[str, Any] | None) -> str | None:
    return None if reply is None else str(reply["performative"])


@pytest.mark.req("ALP-NEG-004")
def test_request_is_answered_with_exactly_one_allowed_performative(target: Target) -> None:
    """The fixture does the work at once: ``inform`` with the request's content."""
    for content in ({"action": "open", "valve": 3}, [1, 2, 3], "go", 7, None):
        conv = conversation()
        message = {"performative": "request", "protocol": "request", "content": content}
        reply = send(target, message, conversation_id=conv)
        assert reply is not None
        assert reply["performative"] in ("agree", "refuse", "not-understood", "inform", "failure")
        assert reply["performative"] == "inform"
        assert reply.get("content") == content


@pytest.mark.req("ALP-NEG-005", "ALP-NEG-004")
def test_request_done_at_once_ends_the_conversation(target: Target) -> None:
    """After its ``inform`` the participant has nothing left to do in the conversation: a
    later ``cancel`` there is out of sequence (no agreed work to cancel, no second answer)."""
    conv = conversation()
    message = {"performative": "request", "protocol": "request", "content": {"job": 1}}
    assert performative(send(target, message, conversation_id=conv)) == "inform"
    cancel = {"performative": "cancel", "protocol": "request", "content": {}}
    assert performative(send(target, cancel, conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-006")
def test_refused_or_not_understood_work_is_never_performed(target: Target) -> None:
    """A request not understood (unsupported content type) and a cfp refused (expired) lead
    to nothing: no later message in those conversations makes the participant act."""
    conv = conversation()
    message = {
        "performative": "request",
        "protocol": "request",
        "content_type": "text/plain",
        "content": "open valve",
    }
    assert performative(send(target, message, conversation_id=conv)) == "not-understood"
    cancel = {"performative": "cancel", "protocol": "request", "content": {}}
    assert performative(send(target, cancel, conversation_id=conv)) == "not-understood"
    conv = conversation()
    cfp = {
        "performative": "cfp",
        "protocol": "contract-net",
        "content": {"task": "cut", "cost": 2},
        "reply_by": in_seconds(-2),
    }
    assert performative(send(target, cfp, conversation_id=conv)) == "refuse"
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    assert performative(send(target, accept, conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-007")
def test_query_is_answered_with_inform_holding_the_answer(target: Target) -> None:
    for content in ({"what": "temperature", "asset": "press-3"}, "status?", [1]):
        message = {"performative": "query", "protocol": "query", "content": content}
        reply = send(target, message, conversation_id=conversation())
        assert reply is not None
        assert reply["performative"] == "inform"
        assert reply.get("content") == content


@pytest.mark.req("ALP-NEG-007")
def test_query_has_no_side_effect(target: Target) -> None:
    """A query whose content looks like a call for proposals creates no proposal, and asking
    twice gives the same answer."""
    conv = conversation()
    content = {"task": "weld", "cost": 3}
    message = {"performative": "query", "protocol": "query", "content": content}
    first = send(target, message, conversation_id=conv)
    second = send(target, message, conversation_id=conv)
    assert first == second
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    assert performative(send(target, accept, conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-008")
def test_subscribe_is_refused(target: Target) -> None:
    """The fixture answers ``subscribe`` with ``refuse`` (one of the allowed answers), so it
    never informs the subscriber afterwards."""
    message = {"performative": "subscribe", "protocol": "subscribe", "content": {"item": "x"}}
    reply = send(target, message, conversation_id=conversation())
    assert reply is not None
    assert reply["performative"] in ("agree", "refuse", "not-understood", "inform")
    assert reply["performative"] == "refuse"
    assert reply["content"] == {"reason": "not supported"}


@pytest.mark.req("ALP-NEG-009", "ALP-NEG-008")
def test_cancel_of_a_refused_subscription_is_out_of_sequence(target: Target) -> None:
    """No subscription exists after a ``refuse``: a ``cancel`` in that conversation is not a
    cancellation (no ``inform`` "canceled") but an out-of-sequence message."""
    conv = conversation()
    message = {"performative": "subscribe", "protocol": "subscribe", "content": {"item": "y"}}
    assert performative(send(target, message, conversation_id=conv)) == "refuse"
    cancel = {"performative": "cancel", "protocol": "subscribe", "content": {}}
    assert performative(send(target, cancel, conversation_id=conv)) == "not-understood"
