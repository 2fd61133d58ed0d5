"""Contract net and iterated contract net between real agents, with misbehaving bidders."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentlink.model import Message
from agentlink.runtime import Agent, MessageContext, Runtime
from agentlink.runtime._negotiation import contract_net, lowest

pytestmark = pytest.mark.anyio


def bidder(agent_id: str, cost: float, *, result: str = "inform") -> Agent:
    agent = Agent(agent_id, role="execution")

    @agent.on_message("cfp")
    async def on_cfp(message: Message, ctx: MessageContext) -> Message:
        return Message(performative="propose", content={"cost": cost}, protocol=message.protocol)

    @agent.on_message("accept-proposal")
    async def on_accept(message: Message, ctx: MessageContext) -> Message:
        if result == "silent":
            await anyio.sleep(3600)
        return Message(performative=result, content={"done": agent_id})

    @agent.on_message("reject-proposal")
    async def on_reject(message: Message, ctx: MessageContext) -> None:
        return None

    return agent


def scripted(agent_id: str, performative: str | None) -> Agent:
    """Answers every cfp with ``performative``; None means it never answers in time."""
    agent = Agent(agent_id, role="execution")

    @agent.on_message("cfp")
    async def on_cfp(message: Message, ctx: MessageContext) -> Message | None:
        if performative is None:
            await anyio.sleep(3600)
        assert performative is not None
        return Message(performative=performative, content={"cost": 0})  # type: ignore[arg-type]

    return agent


async def test_lowest_bid_wins_and_the_others_are_rejected() -> None:
    initiator = Agent("dispatcher", role="decision")
    agents = [initiator, bidder("cnc-1", 7.0), bidder("cnc-2", 3.0), bidder("cnc-3", 5.0)]
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            outcome = await contract_net(
                initiator, ["cnc-1", "cnc-2", "cnc-3"], {"job": 1}, reply_by=1.0
            )
    assert outcome.winners == ("cnc-2",)
    assert set(outcome.rejected) == {"cnc-1", "cnc-3"}
    assert outcome.results == {"cnc-2": {"done": "cnc-2"}}
    assert outcome.proposals == {
        "cnc-1": {"cost": 7.0},
        "cnc-2": {"cost": 3.0},
        "cnc-3": {"cost": 5.0},
    }
    assert outcome.violations == ()
    assert outcome.silent == ()


async def test_misbehaving_participants_are_recorded_and_do_not_block() -> None:
    initiator = Agent("dispatcher", role="decision")
    agents = [
        initiator,
        bidder("good", 4.0),
        scripted("refuser", "refuse"),
        Agent("no-cfp-handler", role="execution"),  # answers not-understood
        scripted("silent", None),
        scripted("out-of-sequence", "inform"),
    ]
    invited = ["good", "refuser", "no-cfp-handler", "silent", "out-of-sequence", "ghost"]
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            outcome = await contract_net(initiator, invited, {"job": 2}, reply_by=0.3)
    assert outcome.winners == ("good",)
    assert outcome.results == {"good": {"done": "good"}}
    assert outcome.refused == ("refuser",)
    assert outcome.not_understood == ("no-cfp-handler",)
    assert set(outcome.silent) == {"silent", "ghost"}
    assert [v.participant for v in outcome.violations] == ["out-of-sequence"]


@pytest.mark.parametrize("result", ["failure", "silent"])
async def test_winner_that_fails_or_goes_silent_after_the_award(result: str) -> None:
    initiator = Agent("dispatcher", role="decision")
    agents = [initiator, bidder("flaky", 1.0, result=result), bidder("steady", 2.0)]
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            outcome = await contract_net(
                initiator, ["flaky", "steady"], {"job": 3}, reply_by=1.0, result_timeout=0.3
            )
    assert outcome.winners == ("flaky",)
    assert outcome.results == {}
    if result == "failure":
        assert outcome.failures == {"flaky": {"done": "flaky"}}
    else:
        assert "flaky" in outcome.silent


async def test_iterated_contract_net_runs_a_second_round_with_the_proposers() -> None:
    initiator = Agent("dispatcher", role="decision")
    rounds: dict[str, list[Any]] = {"a": [], "b": []}

    def revising(agent_id: str, first: float, second: float) -> Agent:
        agent = Agent(agent_id, role="execution")

        @agent.on_message("cfp")
        async def on_cfp(message: Message, ctx: MessageContext) -> Message:
            rounds[agent_id].append(message.content)
            cost = first if len(rounds[agent_id]) == 1 else second
            return Message(performative="propose", content={"cost": cost})

        @agent.on_message("accept-proposal")
        async def on_accept(message: Message, ctx: MessageContext) -> Message:
            return Message(performative="inform", content={"by": agent_id})

        return agent

    def again(proposals: Any, round_number: int) -> Any:
        return {"job": 4, "round": 2} if round_number == 1 else None

    agents = [initiator, revising("a", 5.0, 4.0), revising("b", 6.0, 2.0)]
    async with Runtime(agents=agents):
        with anyio.fail_after(5):
            outcome = await contract_net(
                initiator, ["a", "b"], {"job": 4, "round": 1}, reply_by=1.0, iterate=again
            )
    assert outcome.rounds == 2
    assert rounds["b"] == [{"job": 4, "round": 1}, {"job": 4, "round": 2}]
    assert outcome.winners == ("b",)
    assert outcome.results == {"b": {"by": "b"}}


async def test_accept_without_a_proposal_is_answered_not_understood() -> None:
    initiator = Agent("dispatcher", role="decision")
    agents = [initiator, bidder("cnc-1", 1.0)]
    async with Runtime(agents=agents):
        reply = await initiator.peer("cnc-1").send(
            Message(performative="accept-proposal", protocol="contract-net"),
            conversation_id="conv-never-called",
        )
    assert reply is not None
    assert reply.performative == "not-understood"


def test_lowest_is_deterministic_on_ties() -> None:
    select = lowest("cost", count=2)
    assert select({"b": {"cost": 1}, "a": {"cost": 1}, "c": {"cost": 0}, "d": "junk"}) == ["c", "a"]
