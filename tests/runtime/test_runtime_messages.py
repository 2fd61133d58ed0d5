"""Messages: routing by performative and content type, schemas, and failing handlers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentlink.model import InternalError, InvalidParams, Message
from agentlink.runtime import Agent, MessageContext, Runtime

pytestmark = pytest.mark.anyio

ORDER = "application/vnd.agentlink.order+json"
ALARM = "application/vnd.agentlink.alarm+json"


class Order(BaseModel):
    part: str
    qty: int


def make_router() -> tuple[Agent, list[tuple[str, Any]]]:
    """An agent with one route of each specificity; each answers with its own name."""
    agent = Agent("mes", role="demand")
    seen: list[tuple[str, Any]] = []

    def route(name: str) -> Any:
        async def handler(message: Message, ctx: MessageContext) -> Message | None:
            seen.append((name, ctx.sender))
            if message.performative == "inform":
                return None  # an inform gets no reply
            return Message(performative="inform", content={"route": name})

        return handler

    # Declared least specific first: the order of declaration must not matter.
    agent.on_message()(route("any"))
    agent.on_message(content_type=ORDER)(route("order"))
    agent.on_message("request")(route("request"))
    agent.on_message("request", content_type=ORDER)(route("request+order"))
    return agent, seen


async def send(agent: Agent, to: str, message: Message) -> Message | None:
    return await agent.peer(to).send(message)


async def test_most_specific_route_wins() -> None:
    router, seen = make_router()
    client = Agent("erp", role="demand")
    cases = [
        (Message(performative="request", content_type=ORDER, content={}), "request+order"),
        (Message(performative="request", content_type=ALARM, content={}), "request"),
        (Message(performative="query", content_type=ORDER, content={}), "order"),
        (Message(performative="query", content_type=ALARM, content={}), "any"),
        (Message(performative="query", content_type="text/plain", content="?"), "any"),
    ]
    async with Runtime(agents=[router, client]):
        for message, expected in cases:
            reply = await send(client, "mes", message)
            assert reply is not None
            assert reply.performative == "inform"
            assert reply.content == {"route": expected}
        # An inform is routed the same way; its handler answers nothing.
        assert await send(client, "mes", Message(performative="inform", content_type=ORDER)) is None
    assert seen == [*((expected, "erp") for _, expected in cases), ("order", "erp")]


async def test_accepted_content_types_are_on_the_card() -> None:
    router, _ = make_router()
    # Routes without a content type take the default type too (ALP-CARD-006).
    assert router.card.accepts == sorted([ORDER, "application/json"])
    assert "messaging" in router.card.profiles
    assert "messaging" not in Agent("silent", role="demand").card.profiles


async def test_unknown_content_is_answered_not_understood() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    calls = 0

    @agent.on_message("request", content_type=ORDER)
    async def order(message: Message, ctx: MessageContext) -> None:
        nonlocal calls
        calls += 1

    async with Runtime(agents=[agent, client]):
        for message in [
            Message(performative="request", content_type=ALARM, content={"a": 1}),
            Message(performative="inform", content_type=ORDER, content={"part": "x"}),
        ]:
            reply = await send(client, "mes", message)
            assert reply is not None
            assert reply.performative == "not-understood"
            assert isinstance(reply.content["reason"], str)
        # A handler that answers nothing yields no reply.
        assert (
            await send(client, "mes", Message(performative="request", content_type=ORDER)) is None
        )
    assert calls == 1


async def test_agent_without_routes_answers_not_understood() -> None:
    agent = Agent("mute", role="perception")
    client = Agent("erp", role="demand")
    async with Runtime(agents=[agent, client]):
        reply = await send(client, "mute", Message(performative="request", content="hello"))
    assert reply is not None
    assert reply.performative == "not-understood"


async def test_schema_rejects_invalid_content_with_pointers_into_it() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    received: list[Any] = []

    @agent.on_message("request", content_type=ORDER, schema=Order)
    async def order(message: Message, ctx: MessageContext) -> Message:
        received.append(message.content)
        return Message(performative="agree", content={"qty": message.content["qty"]})

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidParams) as info:
            await send(
                client,
                "mes",
                Message(performative="request", content_type=ORDER, content={"qty": "ten"}),
            )
        assert info.value.code == -32602
        errors = info.value.data["errors"]
        assert all(e["pointer"].startswith("/message/content") for e in errors)
        assert sorted(e["pointer"] for e in errors) == ["/message/content", "/message/content/qty"]

        reply = await send(
            client,
            "mes",
            Message(performative="request", content_type=ORDER, content={"part": "p", "qty": 3}),
        )
    assert reply is not None
    assert (reply.performative, reply.content) == ("agree", {"qty": 3})
    assert received == [{"part": "p", "qty": 3}]


async def test_dict_schema_is_accepted_too() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")

    @agent.on_message("inform", schema={"type": "array", "items": {"type": "number"}})
    async def values(message: Message, ctx: MessageContext) -> None:
        return None

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidParams) as info:
            await send(client, "mes", Message(performative="inform", content=[1, "two", 3]))
        assert [e["pointer"] for e in info.value.data["errors"]] == ["/message/content/1"]
        assert await send(client, "mes", Message(performative="inform", content=[1, 2])) is None


async def test_raising_handler_is_an_error_and_the_runtime_keeps_serving() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")

    @agent.on_message("request")
    async def fragile(message: Message, ctx: MessageContext) -> Message:
        if message.content == "boom":
            raise ValueError("cannot parse order")
        return Message(performative="agree", content=message.content)

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InternalError) as info:
            await send(client, "mes", Message(performative="request", content="boom"))
        # No tool ran, so it is not a tool error; the text (which may hold secrets) stays home.
        assert info.value.message == "message handler failed: ValueError"
        assert "cannot parse order" not in info.value.message
        reply = await send(client, "mes", Message(performative="request", content="ok"))
    assert reply is not None
    assert (reply.performative, reply.content) == ("agree", "ok")


async def test_message_context_names_sender_and_conversation() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    contexts: list[MessageContext] = []

    @agent.on_message()
    async def anything(message: Message, ctx: MessageContext) -> None:
        contexts.append(ctx)

    async with Runtime(agents=[agent, client]):
        await client.peer("mes").send(Message(performative="inform"), conversation_id="conv-1")
    assert len(contexts) == 1
    assert contexts[0].sender == "erp"
    assert contexts[0].conversation_id == "conv-1"
    assert contexts[0].agent is agent


async def test_reply_to_an_inform_is_not_sent() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    informed: list[Any] = []

    @agent.on_message("inform")
    async def chatty(message: Message, ctx: MessageContext) -> Message:
        informed.append(message.content)
        return Message(performative="inform", content="thanks")

    async with Runtime(agents=[agent, client]):
        result = await client.peer("mes").request(
            "message/send", {"message": {"performative": "inform", "content": 1}}
        )
    assert result == {}
    assert informed == [1]


async def test_not_understood_is_never_answered() -> None:
    agent = Agent("mute", role="perception")
    client = Agent("erp", role="demand")
    async with Runtime(agents=[agent, client]):
        reply = await send(
            client, "mute", Message(performative="not-understood", content={"reason": "?"})
        )
    assert reply is None


async def test_interaction_protocol_without_conversation_is_invalid_params() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    handled: list[Any] = []

    @agent.on_message()
    async def anything(message: Message, ctx: MessageContext) -> None:
        handled.append(message)

    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidParams):
            await send(client, "mes", Message(performative="request", protocol="request"))
    assert handled == []


async def test_unknown_performative_is_invalid_params() -> None:
    agent = Agent("mes", role="demand")
    client = Agent("erp", role="demand")
    async with Runtime(agents=[agent, client]):
        with pytest.raises(InvalidParams) as info:
            await client.peer("mes").request(
                "message/send", {"message": {"performative": "shout", "content": 1}}
            )
    assert info.value.data["errors"][0]["pointer"].startswith("/message/performative")
