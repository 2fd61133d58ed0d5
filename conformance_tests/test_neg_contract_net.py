"""Negotiation profile, units neg-contract-net and neg-iterated-contract-net: the fixture as
participant, and the suite's own client as initiator (collection window, accept and reject)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from wire import Target, in_seconds, rfc3339


def conversation() -> str:
    return f"conf-conv-{uuid.uuid4().hex}"


def send(target: Target, message: dict[str, Any], **meta: Any) -> dict[str, Any] | None:
    result = target.result("message/send", {"message": message}, **meta)
    reply: dict[str, Any] | None = result.get("reply")
    return reply


def performative(reply: dict[str, Any] | None) -> str | None:
    return None if reply is None else str(reply["performative"])


def cfp(cost: Any = 5, reply_by: str | None = "+30", protocol: str = "contract-net") -> dict:
    message: dict[str, Any] = {
        "performative": "cfp",
        "protocol": protocol,
        "content": {"task": "mill part 7", "cost": cost},
    }
    if reply_by is not None:
        message["reply_by"] = in_seconds(float(reply_by)) if reply_by[0] in "+-" else reply_by
    return message


def answer(name: str, protocol: str = "contract-net") -> dict[str, Any]:
    return {"performative": name, "protocol": protocol, "content": {}}


# -- the fixture as participant ---------------------------------------------------------


@pytest.mark.req("ALP-NEG-010")
def test_cfp_without_reply_by_is_not_understood(target: Target) -> None:
    for message in (cfp(reply_by=None), {**cfp(), "reply_by": None}):
        conv = conversation()
        assert performative(send(target, message, conversation_id=conv)) == "not-understood"
        reply = send(target, answer("accept-proposal"), conversation_id=conv)
        assert performative(reply) == "not-understood"


@pytest.mark.req("ALP-NEG-011")
def test_cfp_is_answered_once_before_its_reply_by(target: Target) -> None:
    reply_by = datetime.now(UTC) + timedelta(seconds=5)
    message = {**cfp(cost=12.5), "reply_by": rfc3339(reply_by)}
    reply = send(target, message, conversation_id=conversation())
    assert datetime.now(UTC) < reply_by
    assert reply is not None
    assert reply["performative"] in ("propose", "refuse", "not-understood")
    assert reply["performative"] == "propose"
    assert reply["content"] == {"cost": 12.5}


@pytest.mark.req("ALP-NEG-012")
def test_cfp_whose_reply_by_has_passed_is_refused(target: Target) -> None:
    for past in ("-1", "-3600", "2001-01-01T00:00:00Z", "2001-01-01T02:00:00+02:00"):
        conv = conversation()
        reply = send(target, cfp(reply_by=past), conversation_id=conv)
        assert reply is not None
        assert reply["performative"] == "refuse", past
        assert reply["content"] == {"reason": "expired"}
        after = send(target, answer("accept-proposal"), conversation_id=conv)
        assert performative(after) == "not-understood", past


@pytest.mark.req("ALP-NEG-016", "ALP-NEG-017")
def test_accepted_proposal_is_performed_once(target: Target) -> None:
    conv = conversation()
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    reply = send(target, answer("accept-proposal"), conversation_id=conv)
    assert reply is not None
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}
    for name in ("accept-proposal", "reject-proposal"):
        assert performative(send(target, answer(name), conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-016")
def test_rejected_proposal_is_never_performed(target: Target) -> None:
    conv = conversation()
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    assert send(target, answer("reject-proposal"), conversation_id=conv) is None
    reply = send(target, answer("accept-proposal"), conversation_id=conv)
    assert performative(reply) == "not-understood"


@pytest.mark.req("ALP-NEG-018")
def test_accept_or_reject_without_a_proposal_is_not_understood(
    target: Target, fresh: Target
) -> None:
    for name in ("accept-proposal", "reject-proposal"):
        reply = send(target, answer(name), conversation_id=conversation())
        assert performative(reply) == "not-understood", name
    # A proposal made to one sender is not one made to another sender of the same id.
    conv = conversation()
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    for name in ("accept-proposal", "reject-proposal"):
        assert performative(send(fresh, answer(name), conversation_id=conv)) == "not-understood"
    # ... and acting on neither left the real proposer's conversation as it was.
    reply = send(target, answer("accept-proposal"), conversation_id=conv)
    assert reply is not None
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}


@pytest.mark.req("ALP-NEG-018")
def test_accept_after_a_cfp_that_was_not_proposed_on(target: Target) -> None:
    for message in (cfp(cost="a lot"), cfp(reply_by="-5"), cfp(reply_by=None)):
        conv = conversation()
        assert performative(send(target, message, conversation_id=conv)) in (
            "refuse",
            "not-understood",
        )
        reply = send(target, answer("accept-proposal"), conversation_id=conv)
        assert performative(reply) == "not-understood"


@pytest.mark.req("ALP-NEG-021")
def test_cancel_ends_the_participants_part(target: Target) -> None:
    conv = conversation()
    assert performative(send(target, cfp(), conversation_id=conv)) == "propose"
    assert send(target, answer("cancel"), conversation_id=conv) is None
    for name in ("accept-proposal", "reject-proposal"):
        assert performative(send(target, answer(name), conversation_id=conv)) == "not-understood"


@pytest.mark.req("ALP-NEG-019", "ALP-NEG-020")
def test_iterated_cfp_voids_the_earlier_proposal(target: Target) -> None:
    conv = conversation()
    first = send(target, cfp(cost=9, protocol="iterated-contract-net"), conversation_id=conv)
    assert first is not None
    assert first["performative"] == "propose"
    assert first["content"] == {"cost": 9}
    second = send(target, cfp(cost=7, protocol="iterated-contract-net"), conversation_id=conv)
    assert second is not None
    assert second["performative"] == "propose"
    assert second["content"] == {"cost": 7}
    reply = send(target, answer("accept-proposal", "iterated-contract-net"), conversation_id=conv)
    assert reply is not None
    assert reply["performative"] == "inform"
    assert reply["content"] == {"done": True}
    again = send(target, answer("accept-proposal", "iterated-contract-net"), conversation_id=conv)
    assert performative(again) == "not-understood"


@pytest.mark.req("ALP-NEG-020")
def test_iterated_cfp_answered_as_a_fresh_cfp(target: Target) -> None:
    """A new cfp that the participant refuses (expired) or does not understand voids its
    earlier proposal: accepting that earlier proposal is then out of sequence."""
    lates = [
        cfp(reply_by="-5", protocol="iterated-contract-net"),
        cfp(cost="?", protocol="iterated-contract-net"),
    ]
    for late in lates:
        conv = conversation()
        first = send(target, cfp(protocol="iterated-contract-net"), conversation_id=conv)
        assert performative(first) == "propose"
        assert performative(send(target, late, conversation_id=conv)) in (
            "refuse",
            "not-understood",
        )
        reply = send(
            target, answer("accept-proposal", "iterated-contract-net"), conversation_id=conv
        )
        assert performative(reply) == "not-understood"


# -- the suite's own client as initiator ------------------------------------------------


@dataclass
class Call:
    """One cfp of a round and what became of it."""

    conversation_id: str
    reply_by: datetime
    cost: float
    message_id: str = ""
    proposal: dict[str, Any] | None = None
    received: datetime | None = None


@dataclass
class Initiator:
    """A contract-net initiator as the suite runs it: every cfp has a ``reply_by``; the
    collection window closes at the earliest ``reply_by`` of the round (or when every
    participant has answered); proposals received later are rejected, never accepted; each
    answer names the proposal it answers in ``in_reply_to``."""

    target: Target
    calls: list[Call] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def plan(self, cost: float, within_s: float) -> Call:
        call = Call(conversation(), datetime.now(UTC) + timedelta(seconds=within_s), cost)
        self.calls.append(call)
        return call

    @property
    def window_closes(self) -> datetime:
        return min(call.reply_by for call in self.calls)

    def _post(self, message: dict[str, Any], **meta: Any) -> dict[str, Any] | None:
        frame = self.target.frame("message/send", {"message": message}, **meta)
        self.sent.append(frame)
        response = self.target.post(json.dumps(frame).encode()).json()
        assert "error" not in response, response
        reply: dict[str, Any] | None = response["result"].get("reply")
        return reply

    def send_cfp(self, call: Call) -> None:
        message = {
            "performative": "cfp",
            "protocol": "contract-net",
            "content": {"task": "deburr", "cost": call.cost},
            "reply_by": rfc3339(call.reply_by),
        }
        reply = self._post(message, conversation_id=call.conversation_id)
        call.message_id = self.sent[-1]["params"]["_meta"]["message_id"]
        call.received = datetime.now(UTC)
        if reply is not None and reply["performative"] == "propose":
            call.proposal = reply

    def in_window(self, call: Call) -> bool:
        return call.received is not None and call.received <= self.window_closes

    def close(self) -> dict[str, dict[str, Any] | None]:
        """Accept the cheapest proposal received in the window, reject every other one."""
        proposers = [c for c in self.calls if c.proposal is not None]
        timely = [c for c in proposers if self.in_window(c)]
        chosen = min(timely, key=lambda c: c.proposal["content"]["cost"]) if timely else None
        answers = {}
        for call in proposers:
            name = "accept-proposal" if call is chosen else "reject-proposal"
            answers[call.conversation_id] = self._post(
                {"performative": name, "protocol": "contract-net", "content": {}},
                conversation_id=call.conversation_id,
                in_reply_to=call.message_id,
            )
        return answers


@pytest.mark.req("ALP-NEG-010", "ALP-NEG-013", "ALP-NEG-015")
def test_initiator_closes_the_window_at_the_earliest_reply_by(target: Target) -> None:
    """Checked on the suite's own client as initiator: a round of two cfps; the one with
    the earlier ``reply_by`` is answered at once, the other's proposal (cheaper) arrives
    after the window has closed and is rejected, never accepted; every proposer gets exactly
    one answer carrying ``in_reply_to``; the fixture performs the accepted work only."""
    initiator = Initiator(target)
    early = initiator.plan(cost=8, within_s=0.5)
    late = initiator.plan(cost=1, within_s=30)
    assert initiator.window_closes == early.reply_by
    initiator.send_cfp(early)
    time.sleep(max(0.0, (initiator.window_closes - datetime.now(UTC)).total_seconds()) + 0.1)
    initiator.send_cfp(late)  # delivered late: the proposal comes after the window
    assert early.proposal is not None
    assert late.proposal is not None
    assert initiator.in_window(early)
    assert not initiator.in_window(late)
    answers = initiator.close()
    accepted = answers[early.conversation_id]
    assert accepted is not None
    assert accepted["performative"] == "inform"
    assert accepted["content"] == {"done": True}
    assert answers[late.conversation_id] is None  # reject-proposal: the conversation ends
    cfps = [f for f in initiator.sent if f["params"]["message"]["performative"] == "cfp"]
    assert all(f["params"]["message"].get("reply_by") for f in cfps)
    answers_sent = [f for f in initiator.sent if f not in cfps]
    by_conv = {f["params"]["_meta"]["conversation_id"]: f for f in answers_sent}
    assert len(answers_sent) == len(by_conv) == 2
    assert by_conv[early.conversation_id]["params"]["message"]["performative"] == (
        "accept-proposal"
    )
    assert by_conv[late.conversation_id]["params"]["message"]["performative"] == ("reject-proposal")
    for call in (early, late):
        assert by_conv[call.conversation_id]["params"]["_meta"]["in_reply_to"] == call.message_id


@pytest.mark.req("ALP-NEG-014")
def test_initiator_rejects_a_late_proposal(target: Target) -> None:
    """Checked on the suite's own client as initiator: one participant of the round never
    answers, so the window closes at its ``reply_by``; the other participant's proposal
    arrives after that and is answered with ``reject-proposal``, which ends the
    conversation on the fixture's side too."""
    initiator = Initiator(target)
    initiator.plan(cost=2, within_s=0.2)  # an unreachable participant: never sent
    late = initiator.plan(cost=1, within_s=30)
    time.sleep(0.3)
    initiator.send_cfp(late)
    assert late.proposal is not None
    assert not initiator.in_window(late)
    answers = initiator.close()
    assert answers == {late.conversation_id: None}
    last = initiator.sent[-1]["params"]
    assert last["message"]["performative"] == "reject-proposal"
    assert last["_meta"]["in_reply_to"] == late.message_id
    reply = send(target, answer("accept-proposal"), conversation_id=late.conversation_id)
    assert performative(reply) == "not-understood"
