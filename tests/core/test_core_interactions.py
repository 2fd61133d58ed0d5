from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlink.core._contract_net import CONTRACT_NET
from agentlink.core._interactions import (
    QUERY,
    REQUEST,
    SUBSCRIBE,
    Interaction,
    InteractionSpec,
    OutOfSequence,
    Side,
)
from agentlink.model import PERFORMATIVES, RemoteProtocolError, UnsupportedOperation, UsageError

SPECS = [REQUEST, QUERY, SUBSCRIBE, CONTRACT_NET]
SIDES: tuple[Side, Side] = ("initiator", "participant")


def states_of(spec: InteractionSpec) -> list[str]:
    found = {spec.initial} | {s for (s, _, _) in spec.table} | set(spec.table.values())
    return sorted(found)


def reachable(spec: InteractionSpec) -> set[str]:
    seen, todo = {spec.initial}, [spec.initial]
    while todo:
        state = todo.pop()
        for (source, _, _), target in spec.table.items():
            if source == state and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_tables_are_well_formed(spec: InteractionSpec) -> None:
    assert {p for (_, _, p) in spec.table} <= set(PERFORMATIVES)
    assert reachable(spec) == set(states_of(spec))
    assert spec.final <= set(states_of(spec))
    for state in spec.final:
        # Over means nobody may start anything new; at most stragglers are tolerated.
        assert not spec.allowed(state, "initiator")
        assert spec.allowed(state, "participant") <= {"agree", "inform", "failure"}
    for state in set(states_of(spec)) - spec.final:
        assert spec.allowed(state, "initiator") | spec.allowed(state, "participant")


CASES = [(spec, state) for spec in SPECS for state in states_of(spec)]


@pytest.mark.parametrize(("spec", "state"), CASES, ids=[f"{c[0].name}-{c[1]}" for c in CASES])
def test_every_performative_in_every_state_from_both_sides(
    spec: InteractionSpec, state: str
) -> None:
    for side, performative in itertools.product(SIDES, PERFORMATIVES):
        target = spec.table.get((state, side, performative))
        sender = Interaction(spec, side, conversation_id="c-1")
        sender.state = state
        receiver = Interaction(spec, "participant" if side == "initiator" else "initiator")
        receiver.state = state
        if target is not None:
            assert sender.send(performative) == target
            assert receiver.receive(performative) == target
            assert sender.history == receiver.history == [(side, performative)]
            continue
        with pytest.raises(UsageError):
            sender.send(performative)
        with pytest.raises(OutOfSequence) as info:
            receiver.receive(performative)
        assert info.value.data["state"] == state
        assert info.value.data["protocol"] == spec.name
        assert info.value.data["expected"] == sorted(spec.allowed(state, side))
        assert (sender.state, receiver.state) == (state, state)
        assert sender.history == receiver.history == []


def test_out_of_sequence_is_a_remote_protocol_error_with_a_wire_code() -> None:
    side = Interaction(REQUEST, "initiator", conversation_id="c-7")
    side.send("request")
    with pytest.raises(OutOfSequence) as info:
        side.receive("propose")
    error = info.value
    assert isinstance(error, RemoteProtocolError)
    assert isinstance(error, UnsupportedOperation)
    assert error.to_wire() == {
        "code": -32004,
        "message": "request: 'propose' from the participant is out of sequence "
        "in state 'requested'",
        "data": {
            "name": "unsupported_operation",
            "protocol": "request",
            "state": "requested",
            "performative": "propose",
            "expected": ["agree", "failure", "inform", "not-understood", "refuse"],
            "conversation_id": "c-7",
        },
    }


def test_request_with_agreement() -> None:
    initiator = Interaction(REQUEST, "initiator")
    participant = Interaction(REQUEST, "participant")
    for who, act in [("i", "request"), ("p", "agree"), ("p", "inform")]:
        if who == "i":
            initiator.send(act)
            participant.receive(act)
        else:
            participant.send(act)
            initiator.receive(act)
    assert initiator.state == participant.state == "done"
    assert initiator.finished
    assert initiator.history == [
        ("initiator", "request"),
        ("participant", "agree"),
        ("participant", "inform"),
    ]


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        (["inform"], "done"),
        (["failure"], "failed"),
        (["refuse"], "refused"),
        (["not-understood"], "not-understood"),
        (["agree", "failure"], "failed"),
    ],
)
def test_request_outcomes(replies: list[str], state: str) -> None:
    side = Interaction(REQUEST, "initiator")
    side.send("request")
    for reply in replies:
        side.receive(reply)
    assert side.state == state
    assert side.finished


def test_request_refuses_a_second_answer() -> None:
    side = Interaction(REQUEST, "initiator")
    side.send("request")
    side.receive("agree")
    with pytest.raises(OutOfSequence):
        side.receive("agree")
    with pytest.raises(OutOfSequence):
        side.receive("refuse")
    side.receive("inform")
    with pytest.raises(OutOfSequence):
        side.receive("inform")


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        (["inform"], "answered"),
        (["refuse"], "refused"),
        (["failure"], "failed"),
        (["not-understood"], "not-understood"),
        (["agree", "inform"], "answered"),
    ],
)
def test_query_outcomes(replies: list[str], state: str) -> None:
    side = Interaction(QUERY, "initiator")
    assert side.can_send() == {"query"}
    side.send("query")
    assert side.can_send() == frozenset()
    for reply in replies:
        side.receive(reply)
    assert side.state == state


def test_subscription_streams_until_canceled_and_tolerates_stragglers() -> None:
    side = Interaction(SUBSCRIBE, "initiator")
    side.send("subscribe")
    assert side.receive("agree") == "active"
    for _ in range(3):
        assert side.receive("inform") == "active"
    assert side.can_send() == {"cancel"}
    assert side.send("cancel") == "canceled"
    assert side.finished
    assert side.receive("inform") == "canceled"  # sent before the cancel arrived
    with pytest.raises(UsageError):
        side.send("cancel")
    with pytest.raises(OutOfSequence):
        side.receive("propose")


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        (["inform"], "active"),
        (["refuse"], "refused"),
        (["not-understood"], "not-understood"),
        (["agree", "failure"], "failed"),
    ],
)
def test_subscribe_outcomes(replies: list[str], state: str) -> None:
    side = Interaction(SUBSCRIBE, "participant")
    side.receive("subscribe")
    for reply in replies:
        side.send(reply)
    assert side.state == state
    assert side.expects() == SUBSCRIBE.allowed(state, "initiator")


def test_the_participant_cannot_cancel_a_subscription() -> None:
    side = Interaction(SUBSCRIBE, "participant")
    side.receive("subscribe")
    with pytest.raises(UsageError):
        side.send("cancel")


def test_side_must_be_known() -> None:
    with pytest.raises(UsageError):
        Interaction(REQUEST, "observer")  # type: ignore[arg-type]


@given(
    st.sampled_from(SPECS),
    st.lists(st.tuples(st.sampled_from(SIDES), st.sampled_from(PERFORMATIVES)), max_size=30),
)
def test_random_traffic_follows_the_table(
    spec: InteractionSpec, traffic: list[tuple[Side, str]]
) -> None:
    me = Interaction(spec, "initiator")
    accepted: list[tuple[Side, str]] = []
    for who, act in traffic:
        before = me.state
        try:
            if who == "initiator":
                me.send(act)
            else:
                me.receive(act)
        except (UsageError, OutOfSequence):
            assert me.state == before
            assert (before, who, act) not in spec.table
            continue
        assert me.state == spec.table[(before, who, act)]
        accepted.append((who, act))
    assert me.history == accepted
    # Replaying the accepted messages on a fresh peer gives the same state.
    peer = Interaction(spec, "participant")
    for who, act in accepted:
        (peer.receive if who == "initiator" else peer.send)(act)
    assert peer.state == me.state
