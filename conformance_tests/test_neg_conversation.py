"""Negotiation profile, unit neg-conversation: conversation ids and out-of-sequence messages."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from wire import Target, in_seconds

_USED: set[str] = set()


def conversation() -> str:
    """A conversation id never used before by this suite (the initiator's duty)."""
    conv = f"conf-conv-{uuid.uuid4().hex}"
    assert conv not in _USED
    _USED.add(conv)
    return conv


def send(target: Target, message: dict[str, Any], **meta: Any) -> dict[str, Any] | None:
    """``message/send`` that must succeed: the immediate reply, or None."""
    result = target.result("message/send", {"message": message}, **meta)
    reply: dict[str, Any] | None = result.get("reply")
    return reply


def cfp(cost: float = 5, **members: Any) -> dict[str, Any]:
    return {
        "performative": "cfp",
        "protocol": "contract-net",
        "content": {"task": "weld", "cost": cost},
        "reply_by": in_seconds(30),
        **members,
    }


def performative(reply: dict[str, Any] | None) -> str | None:
    return None if reply is None else str(reply["performative"])


@pytest.mark.req("ALP-NEG-001")
def test_protocol_message_without_conversation_id_is_invalid_params(target: Target) -> None:
    messages: list[dict[str, Any]] = [
        {"performative": "request", "protocol": "request", "content": {"a": 1}},
        {"performative": "query", "protocol": "query", "content": {"a": 1}},
        {"performative": "subscribe", "protocol": "subscribe", "content": {}},
        cfp(),
        {**cfp(), "protocol": "iterated-contract-net"},
        {"performative": "accept-proposal", "protocol": "contract-net", "content": {}},
    ]
    for message in messages:
        absent = target.error("message/send", {"message": message})
        assert absent["code"] == -32602, message
        assert absent["data"]["name"] == "invalid_params", message
        frame = target.frame("message/send", {"message": message})
        frame["params"]["_meta"]["conversation_id"] = None  # null is treated as absent
        null = target.post(json.dumps(frame).encode()).json()["error"]
        assert (null["code"], null["data"]["name"]) == (-32602, "invalid_params"), message


@pytest.mark.req("ALP-NEG-001")
def test_protocol_message_refused_for_lack_of_conversation_leaves_no_state(target: Target) -> None:
    """The cfp refused with invalid_params made no proposal: the conversation id used right
    after for an accept-proposal is unknown to the receiver."""
    conv = conversation()
    error = target.error("message/send", {"message": cfp()})
    assert (error["code"], error["data"]["name"]) == (-32602, "invalid_params")
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    assert performative(send(target, accept, conversation_id=conv)) == "not-understood"
    # The same messages with a conversation id are accepted.
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    reply = send(target, accept, conversation_id=conv)
    assert reply is not None
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}


@pytest.mark.req("ALP-NEG-002")
def test_each_conversation_gets_a_new_id(target: Target, fresh: Target) -> None:
    """Checked on the suite's own client as initiator: every conversation it opens has an id
    it never used before; the receiver keeps conversations apart by that id (a proposal made
    in one conversation cannot be accepted from another, nor by another sender)."""
    ids = [conversation() for _ in range(50)]
    assert len(set(ids)) == len(ids)
    first, second = conversation(), conversation()
    assert first != second
    assert performative(send(target, cfp(), conversation_id=first)) == "propose"
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    assert performative(send(target, accept, conversation_id=second)) == "not-understood"
    assert performative(send(fresh, accept, conversation_id=first)) == "not-understood"
    reply = send(target, accept, conversation_id=first)
    assert reply is not None
    assert reply["performative"] == "inform"


@pytest.mark.req("ALP-NEG-003")
def test_answers_in_an_unknown_conversation_are_out_of_sequence(target: Target) -> None:
    for name in ("agree", "refuse", "failure", "propose", "cancel"):
        for protocol in ("request", "contract-net"):
            message = {"performative": name, "protocol": protocol, "content": {"reason": "x"}}
            reply = send(target, message, conversation_id=conversation())
            assert performative(reply) == "not-understood", (name, protocol)
    for name in ("accept-proposal", "reject-proposal"):
        message = {"performative": name, "protocol": "contract-net", "content": {}}
        assert performative(send(target, message, conversation_id=conversation())) == (
            "not-understood"
        )


@pytest.mark.req("ALP-NEG-003")
def test_out_of_sequence_message_has_no_effect(target: Target) -> None:
    """Out-of-sequence messages in a conversation where the receiver proposed are answered
    ``not-understood`` and change nothing: the proposal still stands and can be accepted
    exactly once."""
    conv = conversation()
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    for name in ("agree", "refuse", "failure", "propose"):
        message = {"performative": name, "protocol": "contract-net", "content": {"reason": "x"}}
        assert performative(send(target, message, conversation_id=conv)) == "not-understood"
    accept = {"performative": "accept-proposal", "protocol": "contract-net", "content": {}}
    reply = send(target, accept, conversation_id=conv)
    assert reply is not None
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}
    # The conversation has ended: a second accept is out of sequence and does nothing.
    assert performative(send(target, accept, conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-003")
def test_out_of_sequence_not_understood_is_not_answered(target: Target) -> None:
    message = {"performative": "not-understood", "protocol": "contract-net", "content": {}}
    assert send(target, message, conversation_id=conversation()) is None
