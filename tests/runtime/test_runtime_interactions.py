"""FIPA request, query and subscribe between real agents, with answers now and later."""

from __future__ import annotations

import anyio
import pytest

from agentlink.core._interactions import OutOfSequence
from agentlink.model import DeadlineExceeded, Message
from agentlink.runtime import Agent, MessageContext, Runtime, query, request, subscribe

pytestmark = pytest.mark.anyio


def crane() -> tuple[Agent, list[str]]:
    """An execution agent that agrees at once and informs when the lift is done."""
    lifts: list[str] = []
    agent = Agent("crane-1", role="execution")

    @agent.on_message("request")
    async def lift(message: Message, ctx: MessageContext) -> Message:
        load = message.content["load"]
        if load == "too-heavy":
            return Message(performative="refuse", content={"reason": "over 5 t"})

        async def later() -> None:
            lifts.append(load)
            await ctx.reply(Message(performative="inform", content={"lifted": load}))

        assert agent.runtime is not None
        agent.runtime.spawn(later)
        return Message(performative="agree")

    @agent.on_message("query")
    async def status(message: Message, ctx: MessageContext) -> Message:
        return Message(performative="inform", content={"hook": "up", "lifts": len(lifts)})

    return agent, lifts


async def test_request_agree_then_inform_later() -> None:
    agent, lifts = crane()
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[agent, mes]):
        with anyio.fail_after(5):
            answer = await request(mes, "crane-1", {"load": "coil-7"})
    assert answer.performative == "inform"
    assert answer.content == {"lifted": "coil-7"}
    assert lifts == ["coil-7"]


async def test_request_refused() -> None:
    agent, lifts = crane()
    mes = Agent("mes", role="demand")
    async with Runtime(agents=[agent, mes]):
        answer = await request(mes, "crane-1", {"load": "too-heavy"})
    assert answer.performative == "refuse"
    assert lifts == []


async def test_query_is_answered_with_inform() -> None:
    agent, _ = crane()
    kpi = Agent("kpi", role="evaluation")
    async with Runtime(agents=[agent, kpi]):
        answer = await query(kpi, "crane-1", {"what": "status"})
    assert (answer.performative, answer.content) == ("inform", {"hook": "up", "lifts": 0})


async def test_request_answered_out_of_sequence_raises() -> None:
    rogue = Agent("rogue", role="execution")

    @rogue.on_message("request")
    async def wrong(message: Message, ctx: MessageContext) -> Message:
        return Message(performative="propose", content={"cost": 1})

    mes = Agent("mes", role="demand")
    async with Runtime(agents=[rogue, mes]):
        with pytest.raises(OutOfSequence):
            await request(mes, "rogue", {"load": "x"})


async def test_agree_without_inform_times_out() -> None:
    lazy = Agent("lazy", role="execution")

    @lazy.on_message("request")
    async def agree(message: Message, ctx: MessageContext) -> Message:
        return Message(performative="agree")

    mes = Agent("mes", role="demand")
    async with Runtime(agents=[lazy, mes]):
        with anyio.fail_after(5), pytest.raises(DeadlineExceeded):
            await request(mes, "lazy", {}, timeout=0.2)


async def test_subscribe_receives_notifications_until_cancel() -> None:
    sensor = Agent("vib-1", role="perception")
    subscribers: list[MessageContext] = []
    canceled = anyio.Event()

    @sensor.on_message("subscribe")
    async def on_subscribe(message: Message, ctx: MessageContext) -> Message:
        subscribers.append(ctx)
        return Message(performative="agree")

    @sensor.on_message("cancel")
    async def on_cancel(message: Message, ctx: MessageContext) -> None:
        canceled.set()

    kpi = Agent("kpi", role="evaluation")
    got = []
    async with Runtime(agents=[sensor, kpi]) as rt:

        async def notify() -> None:
            for rms in (1.5, 2.5, 7.1):
                await subscribers[0].reply(Message(performative="inform", content={"rms": rms}))

        with anyio.fail_after(5):
            async with subscribe(kpi, "vib-1", {"signal": "rms"}) as notes:
                rt.spawn(notify)
                async for note in notes:
                    got.append(note.content["rms"])
                    if len(got) == 3:
                        break
            await canceled.wait()
    assert got == [1.5, 2.5, 7.1]


async def test_subscription_refused_yields_nothing() -> None:
    sensor = Agent("vib-1", role="perception")

    @sensor.on_message("subscribe")
    async def no(message: Message, ctx: MessageContext) -> Message:
        return Message(performative="refuse")

    kpi = Agent("kpi", role="evaluation")
    async with Runtime(agents=[sensor, kpi]), subscribe(kpi, "vib-1", {}) as notes:
        assert [n async for n in notes] == []
