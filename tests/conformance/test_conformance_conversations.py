"""The fixture's message table without a runtime: rows, conversations, and their bound."""

from __future__ import annotations

from typing import Any

import pytest

from agentlink.conformance._messages import FixtureConversations
from agentlink.core._deadline import format_rfc3339
from agentlink.model import PERFORMATIVES, Message

NOW = 1_750_000_000.0
LATER = format_rfc3339(NOW + 10)


def msg(performative: str, content: Any = None, **members: Any) -> Message:
    return Message.model_validate({"performative": performative, "content": content, **members})


def answer(
    table: FixtureConversations,
    message: Message,
    conversation: str | None = "c-1",
    sender: str | None = "a",
    now: float = NOW,
) -> tuple[str, Any] | None:
    reply = table.answer(message, sender=sender, conversation_id=conversation, now=now)
    return None if reply is None else (reply.performative, reply.content)


def cfp(cost: Any = 3, **members: Any) -> Message:
    return msg("cfp", {"task": "t", "cost": cost}, reply_by=LATER, **members)


def test_every_performative_has_a_row() -> None:
    table = FixtureConversations()
    for performative in PERFORMATIVES:
        reply = table.answer(msg(performative), sender="a", conversation_id=None, now=NOW)
        assert reply is None or reply.performative in PERFORMATIVES


def test_the_reply_keeps_the_protocol() -> None:
    reply = FixtureConversations().answer(
        cfp(protocol="contract-net"), sender="a", conversation_id="c", now=NOW
    )
    assert reply is not None
    assert reply.protocol == "contract-net"


def test_a_cfp_at_its_reply_by_has_expired() -> None:
    table = FixtureConversations()
    assert answer(table, cfp(), now=NOW + 10) == ("refuse", {"reason": "expired"})
    assert answer(table, cfp(), now=NOW + 9.999) == ("propose", {"cost": 3})


def test_the_task_member_is_optional() -> None:
    table = FixtureConversations()
    assert answer(table, msg("cfp", {"cost": 0}, reply_by=LATER)) == ("propose", {"cost": 0})


def test_a_new_cfp_voids_the_earlier_proposal() -> None:
    table = FixtureConversations()
    assert answer(table, cfp()) == ("propose", {"cost": 3})
    assert table.proposed("a", "c-1")
    assert answer(table, msg("cfp", {"task": "t"}, reply_by=LATER)) is not None
    assert not table.proposed("a", "c-1")
    reply = answer(table, msg("accept-proposal"))
    assert reply is not None
    assert reply[0] == "not-understood"
    # A revised call that is proposed to again is awarded as usual.
    assert answer(table, cfp(2)) == ("propose", {"cost": 2})
    assert answer(table, cfp(1)) == ("propose", {"cost": 1})
    assert answer(table, msg("accept-proposal")) == ("inform", {"done": True})


def test_a_message_not_understood_changes_no_conversation() -> None:
    table = FixtureConversations()
    assert answer(table, cfp()) == ("propose", {"cost": 3})
    odd = msg("accept-proposal", "x", content_type="text/plain")
    assert answer(table, odd) == ("not-understood", {"reason": "content type not supported"})
    assert answer(table, msg("accept-proposal")) == ("inform", {"done": True})


def test_a_cfp_without_conversation_is_answered_but_not_remembered() -> None:
    table = FixtureConversations()
    assert answer(table, cfp(), conversation=None) == ("propose", {"cost": 3})
    assert not table.proposed("a", None)
    reply = answer(table, msg("accept-proposal"), conversation=None)
    assert reply is not None
    assert reply[0] == "not-understood"


@pytest.mark.parametrize("sender", [None, "a"])
def test_conversations_are_told_apart_by_sender(sender: str | None) -> None:
    table = FixtureConversations()
    assert answer(table, cfp(), sender=sender) == ("propose", {"cost": 3})
    other = "b" if sender is not None else "a"
    assert answer(table, msg("reject-proposal"), sender=other) is not None
    assert answer(table, msg("reject-proposal"), sender=sender) is None


def test_open_proposals_are_bounded() -> None:
    table = FixtureConversations(max_open=2)
    for conversation in ("c-1", "c-2", "c-3"):
        answer(table, cfp(), conversation=conversation)
    assert not table.proposed("a", "c-1")
    assert table.proposed("a", "c-2")
    assert table.proposed("a", "c-3")
