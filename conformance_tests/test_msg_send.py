"""Messaging profile, unit msg-send: ``message/send``, immediate replies, informs and loops."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from wire import Target, schema_errors


def conversation() -> str:
    return f"conf-conv-{uuid.uuid4().hex}"


def send(target: Target, message: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """``message/send`` that must succeed: its result."""
    result: dict[str, Any] = target.result("message/send", {"message": message}, **meta)
    return result


def pointers(error: dict[str, Any]) -> list[str]:
    return sorted(entry["pointer"] for entry in error["data"]["errors"])


BAD_MESSAGES: list[tuple[dict[str, Any], list[str]]] = [
    ({"message": {"content": {"x": 1}}}, ["/message"]),  # missing: at the object lacking it
    ({"message": {"performative": "shout", "content": {"x": 1}}}, ["/message/performative"]),
    ({"message": {"performative": "REQUEST"}}, ["/message/performative"]),
    ({"message": {"performative": None}}, ["/message/performative"]),
    ({}, [""]),
]


@pytest.mark.req("ALP-MSG-001")
def test_message_without_a_known_performative_is_invalid_params(target: Target) -> None:
    for params, _ in BAD_MESSAGES:
        error = target.error("message/send", params)
        assert error["code"] == -32602, params
        assert error["data"]["name"] == "invalid_params", params


@pytest.mark.req("ALP-CORE-056")
def test_invalid_message_pointers(target: Target) -> None:
    for params, where in BAD_MESSAGES:
        error = target.error("message/send", params)
        assert error["code"] == -32602, params
        assert pointers(error) == where, params


@pytest.mark.req("ALP-MSG-001", "ALP-MSG-002")
def test_request_is_answered_at_once_in_reply(target: Target) -> None:
    content = {"action": "report", "n": 3}
    result = send(target, {"performative": "request", "content": content})
    assert set(result) == {"reply"}
    reply = result["reply"]
    assert schema_errors("message", reply) == []
    assert reply["performative"] == "inform"
    assert reply["content"] == content
    assert reply.get("content_type", "application/json") == "application/json"


@pytest.mark.req("ALP-MSG-002", "ALP-MSG-009")
def test_inform_gets_no_reply(target: Target) -> None:
    for content in ({"fact": "done"}, None, [1, 2], "text"):
        message: dict[str, Any] = {"performative": "inform", "content": content}
        result = send(target, message, conversation_id=conversation())
        assert result.get("reply") is None, result
        assert schema_errors("methods/message.send.result", result) == []


@pytest.mark.req("ALP-MSG-009")
def test_inform_not_understood_is_the_only_reply_allowed(target: Target) -> None:
    """An inform the receiver cannot handle may get ``not-understood``, never anything else."""
    message = {"performative": "inform", "content_type": "text/plain", "content": "done"}
    result = send(target, message, conversation_id=conversation())
    reply = result.get("reply")
    assert reply is None or reply["performative"] == "not-understood", reply


@pytest.mark.req("ALP-MSG-010")
def test_not_understood_is_never_answered(target: Target) -> None:
    messages: list[dict[str, Any]] = [
        {"performative": "not-understood", "content": {"reason": "what?"}},
        {"performative": "not-understood", "content_type": "text/plain", "content": "what?"},
        {"performative": "not-understood", "content": "not an object"},
        {"performative": "not-understood", "protocol": "contract-net", "content": {}},
        {"performative": "not-understood", "protocol": "request", "content": {"reason": "x"}},
    ]
    for message in messages:
        result = send(target, message, conversation_id=conversation())
        assert result.get("reply") is None, (message, result)


@pytest.mark.req("ALP-MSG-010")
def test_not_understood_in_a_live_conversation_is_not_answered(target: Target) -> None:
    """Even in a conversation where the receiver just proposed, a not-understood gets no
    message in return (no loop), and the conversation is not disturbed by it."""
    conv = conversation()
    cfp = {
        "performative": "cfp",
        "protocol": "contract-net",
        "content": {"task": "paint", "cost": 4},
        "reply_by": "2999-01-01T00:00:00Z",
    }
    assert send(target, cfp, conversation_id=conv)["reply"]["performative"] == "propose"
    result = send(
        target,
        {"performative": "not-understood", "protocol": "contract-net", "content": {"reason": "?"}},
        conversation_id=conv,
    )
    assert result.get("reply") is None
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    reply = send(target, accept, conversation_id=conv)["reply"]
    assert (reply["performative"], reply["content"]) == ("inform", {"done": True})


@pytest.mark.req("ALP-MSG-011")
def test_message_naming_an_unknown_protocol_is_not_acted_on(target: Target) -> None:
    """A protocol outside the ones the receiver implements: ``unsupported_operation``, a
    ``not-understood`` reply, or (the name is outside the schema's enumeration)
    ``invalid_params`` at ``/message/protocol``; never the normal answer (an ``inform``)."""
    message = {"performative": "request", "protocol": "x-auction", "content": {"lot": 1}}
    response = target.rpc("message/send", {"message": message}, conversation_id=conversation())
    if "error" in response:
        error = response["error"]
        assert (error["code"], error["data"]["name"]) in {
            (-32004, "unsupported_operation"),
            (-32602, "invalid_params"),
        }, error
        if error["code"] == -32004:
            assert error["data"]["method"] == "message/send"
        else:
            assert pointers(error) == ["/message/protocol"]
    else:
        reply = response["result"].get("reply")
        assert reply is not None
        assert reply["performative"] == "not-understood", reply
