from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.core._contract_net import (
    ContractNet,
    ContractNetParticipant,
    Reply,
    Violation,
    earliest_reply_by,
)
from agentlink.core._interactions import OutOfSequence
from agentlink.model import (
    DeadlineExceeded,
    InvalidParams,
    Message,
    RemoteProtocolError,
    UsageError,
)

T0 = 1000.0
REPLY_BY = 1010.0


def started(*participants: str) -> ContractNet:
    net = ContractNet("conv-1", list(participants), REPLY_BY)
    net.cfp_sent(T0)
    return net


def phase_of(net: ContractNet) -> str:
    # A call, so that the type checker does not narrow the phase across actions.
    return net.phase


def test_a_well_behaved_contract_net() -> None:
    net = started("m1", "m2", "m3")
    assert net.collection_done(T0) is False
    assert net.on_reply("m2", "propose", {"cost": 7}, T0 + 1) == "accepted"
    assert not net.collection_done(T0 + 1)
    assert net.on_reply("m1", "propose", {"cost": 5}, T0 + 2) == "accepted"
    assert net.on_reply("m3", "propose", {"cost": 9}, T0 + 3) == "accepted"
    assert net.collection_done(T0 + 3)  # everyone answered before reply_by
    assert net.proposals() == {"m2": {"cost": 7}, "m1": {"cost": 5}, "m3": {"cost": 9}}
    assert net.award(["m1"], result_by=T0 + 60) == (["m1"], ["m2", "m3"])
    assert phase_of(net) == "awaiting-results"
    assert not net.results_done(T0 + 4)
    assert net.on_result("m1", "inform", {"done": True}, T0 + 30) == "accepted"
    assert phase_of(net) == "done"
    assert net.results_done(T0 + 30)
    out = net.outcome()
    assert out.finished
    assert out.rounds == 1
    assert out.winners == ("m1",)
    assert out.rejected == ("m2", "m3")
    assert out.results == {"m1": {"done": True}}
    assert out.failures == {}
    assert out.proposals == {"m2": {"cost": 7}, "m1": {"cost": 5}, "m3": {"cost": 9}}
    assert out.refused == out.not_understood == out.silent == ()
    assert out.late == out.unknown == ()
    assert out.violations == ()


def test_refuse_and_not_understood_are_answers() -> None:
    net = started("m1", "m2", "m3")
    assert net.on_reply("m1", "refuse", "busy", T0 + 1) == "accepted"
    assert net.on_reply("m2", "not-understood", None, T0 + 1) == "accepted"
    assert net.on_reply("m3", "propose", 4, T0 + 1) == "accepted"
    assert net.collection_done(T0 + 1)
    assert net.award(["m3"]) == (["m3"], [])
    out = net.outcome()
    assert out.refused == ("m1",)
    assert out.not_understood == ("m2",)
    assert out.violations == ()


def test_out_of_sequence_inform_is_a_violation_and_settles_the_turn() -> None:
    net = started("m1", "m2")
    assert net.on_reply("m1", "inform", {"done": True}, T0 + 1) == "violation"
    assert net.on_reply("m2", "propose", 3, T0 + 1) == "accepted"
    assert net.collection_done(T0 + 1)  # m1 is settled: no need to wait for reply_by
    assert net.proposals() == {"m2": 3}
    with pytest.raises(UsageError):
        net.award(["m1"])
    (violation,) = net.outcome().violations
    assert violation.participant == "m1"
    assert violation.performative == "inform"
    assert violation.round == 1
    assert violation.content == {"done": True}
    assert "out of sequence" in violation.reason
    # A proper answer after the wrong one does not count either.
    assert net.on_reply("m1", "propose", 1, T0 + 2) == "violation"
    assert net.proposals() == {"m2": 3}


@pytest.mark.parametrize(
    "act", ["agree", "failure", "accept-proposal", "cfp", "request", "subscribe", "x-custom"]
)
def test_a_wrong_act_to_a_call_is_a_violation(act: str) -> None:
    net = started("m1")
    assert net.on_reply("m1", act, None, T0 + 1) == "violation"
    assert net.outcome().violations[0].performative == act


def test_silence_keeps_collecting_until_reply_by() -> None:
    net = started("m1", "quiet")
    net.on_reply("m1", "propose", 2, T0 + 1)
    assert not net.collection_done(REPLY_BY - 0.001)
    assert net.collection_done(REPLY_BY)
    assert net.outcome().silent == ()  # not yet: the call is still open
    net.award(["m1"])
    assert net.outcome().silent == ("quiet",)


def test_a_reply_at_or_after_reply_by_is_late() -> None:
    net = started("m1", "m2", "m3")
    assert net.on_reply("m1", "propose", 1, REPLY_BY) == "late"
    assert net.on_reply("m2", "propose", 2, REPLY_BY - 0.5) == "accepted"
    assert net.proposals() == {"m2": 2}
    with pytest.raises(UsageError):
        net.award(["m1"])
    net.award(["m2"])
    # After the award a reply is late whatever its time stamp.
    assert net.on_reply("m3", "refuse", None, T0 + 2) == "late"
    out = net.outcome()
    assert [(r.participant, r.performative) for r in out.late] == [
        ("m1", "propose"),
        ("m3", "refuse"),
    ]
    assert out.silent == ()  # late is not silent
    assert out.refused == ()  # a late refusal is not an answer in time


def test_a_second_answer_is_a_violation() -> None:
    net = started("m1", "m2")
    net.on_reply("m1", "propose", 1, T0 + 1)
    assert net.on_reply("m1", "propose", 0, T0 + 2) == "violation"
    assert net.on_reply("m1", "refuse", None, T0 + 2) == "violation"
    assert net.proposals() == {"m1": 1}
    assert [v.reason for v in net.outcome().violations] == [
        "propose after proposed in round 1",
        "refuse after proposed in round 1",
    ]


def test_a_stranger_is_unknown() -> None:
    net = started("m1")
    assert net.on_reply("ghost", "propose", 1, T0 + 1) == "unknown"
    assert net.on_result("ghost", "inform", 1, T0 + 1) == "unknown"
    assert net.on_message("ghost", "failure", 1, T0 + 1) == "unknown"
    assert net.proposals() == {}
    assert [r.participant for r in net.outcome().unknown] == ["ghost"] * 3


def test_a_reply_before_the_call_is_a_violation() -> None:
    net = ContractNet("conv-1", ["m1"], REPLY_BY)
    assert not net.collection_done(T0)
    assert net.on_reply("m1", "propose", 1, T0) == "violation"
    net.cfp_sent(T0)
    # The early reply settled nothing: m1 can still answer the call it now has.
    assert net.on_reply("m1", "propose", 1, T0 + 1) == "accepted"


def test_propose_then_failure() -> None:
    net = started("m1", "m2")
    net.on_reply("m1", "propose", 1, T0 + 1)
    net.on_reply("m2", "propose", 2, T0 + 1)
    net.award(["m1", "m2"])
    assert net.on_message("m1", "failure", {"reason": "jammed"}, T0 + 5) == "accepted"
    assert net.on_message("m2", "inform", {"done": True}, T0 + 6) == "accepted"
    out = net.outcome()
    assert out.finished
    assert out.failures == {"m1": {"reason": "jammed"}}
    assert out.results == {"m2": {"done": True}}


def test_propose_then_silence_is_detected_by_the_result_deadline() -> None:
    net = started("m1", "m2")
    net.on_reply("m1", "propose", 1, T0 + 1)
    net.on_reply("m2", "propose", 2, T0 + 1)
    net.award(["m1", "m2"], result_by=T0 + 100)
    net.on_result("m2", "inform", "ok", T0 + 50)
    assert net.phase == "awaiting-results"
    assert not net.results_done(T0 + 99.9)
    assert net.results_done(T0 + 100)
    assert net.outcome().silent == ()  # provisional until the protocol is over
    net.close()
    out = net.outcome()
    assert out.finished
    assert out.silent == ("m1",)
    assert out.results == {"m2": "ok"}
    # A result after the close, or after result_by, is late.
    assert net.on_result("m1", "inform", "finally", T0 + 101) == "late"
    assert net.outcome().silent == ()


def test_a_result_after_result_by_is_late() -> None:
    net = started("m1")
    net.on_reply("m1", "propose", 1, T0 + 1)
    net.award(["m1"], result_by=T0 + 5)
    assert net.on_result("m1", "inform", "ok", T0 + 5) == "late"
    assert net.phase == "done"
    out = net.outcome()
    assert out.results == {}
    assert out.silent == ()
    assert [r.performative for r in out.late] == ["inform"]


def test_results_from_losers_twice_or_with_the_wrong_act_are_violations() -> None:
    net = started("win", "lose", "other")
    net.on_reply("win", "propose", 1, T0 + 1)
    net.on_reply("lose", "propose", 2, T0 + 1)
    net.on_reply("other", "propose", 3, T0 + 1)
    net.award(["win", "other"])
    assert net.on_message("lose", "inform", "me too", T0 + 2) == "violation"
    assert net.on_result("lose", "inform", "me too", T0 + 2) == "violation"
    assert net.on_result("win", "inform", "ok", T0 + 3) == "accepted"
    assert net.on_result("win", "inform", "again", T0 + 4) == "violation"
    assert net.on_message("other", "propose", 9, T0 + 4) == "violation"
    assert net.phase == "done"  # "other" is settled by its wrong act
    out = net.outcome()
    assert out.results == {"win": "ok"}
    assert out.silent == ()
    assert [(v.participant, v.performative) for v in out.violations] == [
        ("lose", "inform"),
        ("lose", "inform"),
        ("win", "inform"),
        ("other", "propose"),
    ]


def test_a_winner_reporting_before_the_award_is_a_violation() -> None:
    net = started("m1")
    net.on_reply("m1", "propose", 1, T0 + 1)
    assert net.on_message("m1", "inform", "done already", T0 + 2) == "violation"
    assert net.on_result("m1", "inform", "done already", T0 + 2) == "violation"


def test_award_nobody_rejects_every_proposer() -> None:
    net = started("m1", "m2", "m3")
    net.on_reply("m1", "propose", 1, T0 + 1)
    net.on_reply("m2", "refuse", None, T0 + 1)
    net.on_reply("m3", "propose", 1, T0 + 1)
    assert net.award([]) == ([], ["m1", "m3"])
    assert net.phase == "done"
    assert net.results_done(T0 + 2)
    assert net.outcome().finished


def test_usage_errors() -> None:
    with pytest.raises(UsageError):
        ContractNet("c", ["m1", "m1"], REPLY_BY)
    net = ContractNet("c", ["m1", "m2"], REPLY_BY)
    with pytest.raises(UsageError):
        net.award([])
    with pytest.raises(UsageError):
        net.cfp_sent(REPLY_BY)  # nobody could answer in time
    net.cfp_sent(T0)
    with pytest.raises(UsageError):
        net.cfp_sent(T0)
    net.on_reply("m1", "propose", 1, T0 + 1)
    with pytest.raises(UsageError):
        net.award(["m1", "m1"])
    with pytest.raises(UsageError):
        net.award(["m2"])
    with pytest.raises(UsageError):
        net.iterate(REPLY_BY + 10, ["m1", "m1"])
    net.award(["m1"])
    with pytest.raises(UsageError):
        net.award(["m1"])
    with pytest.raises(UsageError):
        net.iterate(REPLY_BY + 10)


def test_no_participants_is_done_at_once() -> None:
    net = started()
    assert net.collection_done(T0)
    assert net.award([]) == ([], [])
    assert net.outcome().finished


def test_iterated_contract_net_recalls_the_proposers() -> None:
    net = started("m1", "m2", "m3", "m4")
    net.on_reply("m1", "propose", 10, T0 + 1)
    net.on_reply("m2", "propose", 12, T0 + 1)
    net.on_reply("m3", "refuse", None, T0 + 1)
    assert net.iterate(REPLY_BY + 20) == (["m1", "m2"], [])
    assert net.round == 2
    assert net.phase == "idle"
    assert net.participants == ("m1", "m2")
    assert net.reply_by == REPLY_BY + 20
    assert net.proposals() == {}
    # A straggler of round 1 is late; a round-1 proposer answering before the new call
    # is sent is out of sequence.
    assert net.on_reply("m4", "propose", 11, T0 + 2) == "late"
    assert net.on_reply("m1", "propose", 9, T0 + 2) == "violation"
    net.cfp_sent(T0 + 3)
    assert net.on_reply("m1", "propose", 9, T0 + 4) == "accepted"
    assert net.on_reply("m2", "refuse", None, T0 + 4) == "accepted"
    assert net.on_reply("m3", "propose", 1, T0 + 4) == "violation"  # answered round 1 already
    assert net.collection_done(T0 + 4)
    assert net.award(["m1"]) == (["m1"], [])
    net.on_result("m1", "inform", "ok", T0 + 5)
    out = net.outcome()
    assert out.rounds == 2
    assert out.proposals == {"m1": 9}
    assert out.winners == ("m1",)
    assert out.refused == ("m2", "m3")
    assert out.silent == ()
    assert [r.participant for r in out.late] == ["m4"]


def test_iterate_with_a_subset_rejects_the_other_proposers() -> None:
    net = started("m1", "m2", "m3")
    for name in ("m1", "m2", "m3"):
        net.on_reply(name, "propose", 1, T0 + 1)
    assert net.iterate(REPLY_BY + 5, ["m3", "new"]) == (["m3", "new"], ["m1", "m2"])
    net.cfp_sent(T0 + 2)
    assert net.on_reply("new", "propose", 0, T0 + 3) == "accepted"
    assert net.on_reply("m1", "propose", 0, T0 + 3) == "violation"
    net.close()
    out = net.outcome()
    assert out.rejected == ("m1", "m2")
    assert out.silent == ("m3",)  # did not answer the second call
    assert out.winners == ()


def test_earliest_reply_by_over_messages_and_dicts() -> None:
    messages: list[Message | dict[str, Any]] = [
        Message(performative="cfp", reply_by="1970-01-01T00:16:50Z"),
        {"performative": "cfp", "reply_by": "1970-01-01T00:16:40.5Z"},
        Message(performative="cfp"),
        {"performative": "cfp"},
    ]
    assert earliest_reply_by(messages) == 1000.5
    assert earliest_reply_by([Message(performative="cfp")]) is None
    assert earliest_reply_by([]) is None
    with pytest.raises(InvalidParams):
        earliest_reply_by([{"reply_by": "soon"}])


# -- the participant side -----------------------------------------------------------------


def test_participant_happy_path() -> None:
    side = ContractNetParticipant(conversation_id="conv-1")
    assert side.receive("cfp", reply_by=REPLY_BY) == "cfp-received"
    assert side.reply_by == REPLY_BY
    assert side.send("propose", now=T0) == "proposed"
    assert side.receive("accept-proposal") == "awarded"
    assert side.send("inform") == "done"
    assert side.finished
    assert side.rounds == 1


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ([("recv", "cfp"), ("send", "refuse")], "refused"),
        ([("recv", "cfp"), ("send", "not-understood")], "not-understood"),
        ([("recv", "cfp"), ("send", "propose"), ("recv", "reject-proposal")], "rejected"),
        (
            [
                ("recv", "cfp"),
                ("send", "propose"),
                ("recv", "accept-proposal"),
                ("send", "failure"),
            ],
            "failed",
        ),
        ([("recv", "cfp"), ("send", "propose"), ("recv", "cancel")], "canceled"),
        ([("recv", "cfp"), ("send", "propose"), ("recv", "cfp")], "cfp-received"),
    ],
)
def test_participant_paths(steps: list[tuple[str, str]], state: str) -> None:
    side = ContractNetParticipant()
    for direction, act in steps:
        (side.receive if direction == "recv" else side.send)(act)
    assert side.state == state


@pytest.mark.parametrize(
    ("before", "act"),
    [
        ([], "accept-proposal"),
        ([], "reject-proposal"),
        (["cfp"], "accept-proposal"),
        (["cfp"], "cfp"),
        (["cfp", "propose", "accept-proposal"], "reject-proposal"),
        (["cfp", "propose", "accept-proposal"], "accept-proposal"),
        (["cfp", "refuse"], "accept-proposal"),
        (["cfp"], "inform"),
    ],
)
def test_participant_raises_on_out_of_sequence_input(before: list[str], act: str) -> None:
    side = ContractNetParticipant(conversation_id="conv-9")
    for step in before:
        if step in ("cfp", "accept-proposal", "reject-proposal"):
            side.receive(step)
        else:
            side.send(step)
    state = side.state
    with pytest.raises(OutOfSequence) as info:
        side.receive(act)
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.code == -32004
    assert info.value.data["conversation_id"] == "conv-9"
    assert info.value.data["performative"] == act
    assert side.state == state


@pytest.mark.parametrize(
    ("before", "act"),
    [([], "propose"), ([], "inform"), (["cfp"], "inform"), (["cfp"], "cfp")],
)
def test_participant_cannot_send_out_of_turn(before: list[str], act: str) -> None:
    side = ContractNetParticipant()
    for step in before:
        side.receive(step)
    with pytest.raises(UsageError):
        side.send(act)


def test_participant_cannot_answer_after_reply_by() -> None:
    side = ContractNetParticipant()
    side.receive("cfp", reply_by=REPLY_BY)
    with pytest.raises(DeadlineExceeded):
        side.send("propose", now=REPLY_BY)
    assert side.state == "cfp-received"
    assert side.send("refuse", now=REPLY_BY - 1) == "refused"


# -- properties ---------------------------------------------------------------------------

BEHAVIOURS = ["propose", "refuse", "not-understood", "inform", "agree", "silent", "late", "twice"]


def play(behaviour: dict[str, str], order: list[str], award_all: bool) -> Any:
    net = started(*behaviour)
    timely = [p for p in order if behaviour[p] not in ("silent", "late")]
    for i, name in enumerate(timely):
        act = behaviour[name]
        now = T0 + 1 + i * 0.001
        if act == "twice":
            net.on_reply(name, "propose", name, now)
            net.on_reply(name, "refuse", name, now)
        else:
            net.on_reply(name, act, name, now)
    net.on_reply("stranger", "propose", None, T0 + 2)
    for name in order:
        if behaviour[name] == "late":
            net.on_reply(name, "propose", name, REPLY_BY + 1)
    winners = sorted(net.proposals()) if award_all else []
    net.award(winners, result_by=REPLY_BY + 100)
    for name in winners:
        net.on_result(name, "inform", name, REPLY_BY + 2)
    return net.outcome()


@given(
    st.dictionaries(
        st.sampled_from([f"m{i}" for i in range(8)]),
        st.sampled_from(BEHAVIOURS),
        max_size=8,
    ),
    st.randoms(),
    st.booleans(),
)
def test_random_reply_orders_give_one_consistent_outcome(
    behaviour: dict[str, str], rnd: Any, award_all: bool
) -> None:
    order = list(behaviour)
    rnd.shuffle(order)
    out = play(behaviour, order, award_all)
    # Order does not matter.
    again = play(behaviour, sorted(order), award_all)
    assert {k: v for k, v in vars_of(out).items() if k not in ("late", "violations")} == {
        k: v for k, v in vars_of(again).items() if k not in ("late", "violations")
    }
    # Each invited participant lands in exactly one place.
    violators = {v.participant for v in out.violations} - set(out.proposals)
    late = {r.participant for r in out.late}
    buckets = [set(out.proposals), set(out.refused), set(out.not_understood), set(out.silent)]
    buckets += [violators, late]
    assert sum(len(b) for b in buckets) == len(behaviour)
    assert set().union(*buckets) == set(behaviour)
    for name, act in behaviour.items():
        expected = {
            "propose": out.proposals,
            "twice": out.proposals,
            "refuse": out.refused,
            "not-understood": out.not_understood,
            "silent": out.silent,
            "late": late,
            "inform": violators,
            "agree": violators,
        }[act]
        assert name in expected
    assert [r.participant for r in out.unknown] == ["stranger"]
    assert set(out.winners) <= set(out.proposals)
    assert set(out.results) == set(out.winners)
    assert set(out.rejected) == set(out.proposals) - set(out.winners)
    assert out.finished


def vars_of(outcome: Any) -> dict[str, Any]:
    return {name: getattr(outcome, name) for name in outcome.__slots__}


def test_reply_and_violation_records_are_values() -> None:
    assert Reply("m1", "propose", 1, 2.0, 1) == Reply("m1", "propose", 1, 2.0, 1)
    assert Violation("m1", "inform", "why", 2.0, 1) == Violation("m1", "inform", "why", 2.0, 1)
