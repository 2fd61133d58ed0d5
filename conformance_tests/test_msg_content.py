"""Messaging profile, units msg-content and msg-conversation: content types, content that
cannot be interpreted, and answers that carry the conversation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from wire import Target, in_seconds

UNSUPPORTED = {"reason": "content type not supported"}


def conversation() -> str:
    return f"conf-conv-{uuid.uuid4().hex}"


def send(target: Target, message: dict[str, Any], **meta: Any) -> dict[str, Any]:
    result: dict[str, Any] = target.result("message/send", {"message": message}, **meta)
    return result


def cfp(cost: Any = 5, **members: Any) -> dict[str, Any]:
    return {
        "performative": "cfp",
        "protocol": "contract-net",
        "content": {"task": "drill", "cost": cost},
        "reply_by": in_seconds(30),
        **members,
    }


def accept() -> dict[str, Any]:
    return {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}


@pytest.mark.req("ALP-MSG-003")
def test_absent_content_type_means_application_json(target: Target) -> None:
    content = {"q": "temperature"}
    implicit = send(target, {"performative": "query", "content": content})["reply"]
    explicit = send(
        target, {"performative": "query", "content_type": "application/json", "content": content}
    )["reply"]
    assert implicit["performative"] == explicit["performative"] == "inform"
    assert implicit["content"] == explicit["content"] == content
    other = send(target, {"performative": "query", "content_type": "text/plain", "content": "q"})
    assert other["reply"]["performative"] == "not-understood"


@pytest.mark.req("ALP-MSG-004")
def test_unsupported_content_type_is_not_understood(target: Target) -> None:
    for performative in ("request", "query", "subscribe", "agree", "propose"):
        for content_type in ("text/plain", "application/xml", "application/json+x"):
            message = {"performative": performative, "content_type": content_type, "content": 1}
            reply = send(target, message, conversation_id=conversation())["reply"]
            assert reply["performative"] == "not-understood", (performative, content_type)
            assert reply["content"] == UNSUPPORTED


@pytest.mark.req("ALP-MSG-004")
def test_content_of_an_unsupported_type_is_not_acted_on(target: Target) -> None:
    """A cfp in ``text/plain`` is not proposed on: accepting afterwards is out of sequence."""
    conv = conversation()
    reply = send(target, cfp(content_type="text/plain"), conversation_id=conv)["reply"]
    assert reply["performative"] == "not-understood"
    assert reply["content"] == UNSUPPORTED
    after = send(target, accept(), conversation_id=conv)["reply"]
    assert after["performative"] == "not-understood"


@pytest.mark.req("ALP-MSG-005")
def test_accepted_content_types_are_never_refused(target: Target, card: dict[str, Any]) -> None:
    accepts = card.get("accepts", [])
    assert "application/json" in accepts
    for content_type in accepts:
        message = {"performative": "request", "content_type": content_type, "content": {"a": 1}}
        response = target.rpc("message/send", {"message": message})
        assert "error" not in response or response["error"]["code"] != -32005, response
        reply = response.get("result", {}).get("reply")
        assert reply is None or reply.get("content") != UNSUPPORTED, (content_type, reply)


@pytest.mark.req("ALP-MSG-006")
def test_content_that_cannot_be_interpreted_is_not_understood(target: Target) -> None:
    """The fixture understands a cfp only with an object content holding a number ``cost``;
    anything else is answered ``not-understood`` and leaves no proposal behind."""
    for content in ("cheap", {"task": "drill"}, {"task": "drill", "cost": "high"}, [5], None):
        conv = conversation()
        message = {**cfp(), "content": content}
        reply = send(target, message, conversation_id=conv)["reply"]
        assert reply["performative"] == "not-understood", content
        after = send(target, accept(), conversation_id=conv)["reply"]
        assert after["performative"] == "not-understood", content


@pytest.mark.req("ALP-MSG-007")
def test_refusals_and_not_understood_carry_a_reason(target: Target) -> None:
    replies = [
        send(target, cfp(content_type="text/plain"), conversation_id=conversation())["reply"],
        send(target, {**cfp(), "content": "x"}, conversation_id=conversation())["reply"],
        send(target, cfp(reply_by=in_seconds(-5)), conversation_id=conversation())["reply"],
        send(target, accept(), conversation_id=conversation())["reply"],
        send(
            target,
            {"performative": "subscribe", "protocol": "subscribe", "content": {}},
            conversation_id=conversation(),
        )["reply"],
    ]
    refusals = [r for r in replies if r["performative"] in ("not-understood", "refuse", "failure")]
    assert refusals
    for reply in refusals:
        assert isinstance(reply["content"], dict), reply
        assert isinstance(reply["content"].get("reason"), str), reply


@pytest.mark.req("ALP-MSG-008")
def test_answers_carry_the_conversation_and_in_reply_to(target: Target) -> None:
    """Checked on the suite's own client (the fixture never sends messages of its own): the
    suite's answer to the fixture's immediate ``propose`` carries the cfp's conversation id
    and, in ``in_reply_to``, the ``message_id`` of the request that carried the proposal;
    the fixture takes it as the answer to its proposal."""
    conv = conversation()
    frame = target.frame("message/send", {"message": cfp()}, conversation_id=conv)
    response = target.post(json.dumps(frame).encode()).json()
    assert response["result"]["reply"]["performative"] == "propose"
    answer = target.frame(
        "message/send",
        {"message": accept()},
        conversation_id=conv,
        in_reply_to=frame["params"]["_meta"]["message_id"],
    )
    meta = answer["params"]["_meta"]
    assert meta["conversation_id"] == conv
    assert meta["in_reply_to"] == frame["params"]["_meta"]["message_id"]
    assert meta["message_id"] != frame["params"]["_meta"]["message_id"]
    reply = target.post(json.dumps(answer).encode()).json()["result"]["reply"]
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}
