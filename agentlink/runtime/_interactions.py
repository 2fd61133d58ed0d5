"""Request, query and subscribe: FIPA interaction protocols between two agents.

Each runs in its own conversation and follows the table of
:mod:`agentlink.core._interactions`; an answer the protocol does not allow raises
:class:`~agentlink.core._interactions.OutOfSequence`. Answers come either at once (the
participant handler's return value) or later, as messages in the same conversation that
the participant sends with :meth:`MessageContext.reply`::

    answer = await request(mes, "cnc-7", {"order": "ord-1"}, timeout=30)

    async with subscribe(kpi, "cam-1", {"topic": "defects"}) as notes:
        async for note in notes:
            ...
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from agentlink.core._interactions import QUERY, REQUEST, SUBSCRIBE, Interaction, InteractionSpec
from agentlink.model import DeadlineExceeded, InteractionProtocol, Message, UsageError

from ._peer import new_id

if TYPE_CHECKING:
    from ._agent import Agent
    from ._runtime import Conversation

__all__ = ["query", "request", "subscribe"]


def _runtime_of(agent: Agent) -> Any:
    if agent.runtime is None:
        raise UsageError(f"agent {agent.id!r} is not hosted by a running Runtime")
    return agent.runtime


async def _next(conversation: Conversation, participant: str, deadline: float) -> Message:
    """The next message from ``participant`` in the conversation, before ``deadline``."""
    while True:
        for i, (message, meta) in enumerate(conversation.inbox):
            if meta.get("sender") == participant:
                del conversation.inbox[i]
                return message
        left = deadline - time.time()
        if left <= 0:
            raise DeadlineExceeded(
                f"{participant!r} did not answer in time", data={"started": True}
            )
        with anyio.move_on_after(left):
            await conversation.arrived.wait()


async def _exchange(
    spec: InteractionSpec,
    initiator: Agent,
    participant: str,
    performative: str,
    content: Any,
    timeout: float,
    content_type: str,
) -> Message:
    runtime = _runtime_of(initiator)
    protocol: InteractionProtocol = spec.name  # type: ignore[assignment]
    conversation = runtime.open_conversation(initiator.id, new_id())
    machine = Interaction(spec, "initiator", conversation_id=conversation.conversation_id)
    deadline = time.time() + timeout
    try:
        message = Message(
            performative=performative,  # type: ignore[arg-type]
            content=content,
            content_type=content_type,
            protocol=protocol,
        )
        machine.send(performative)
        answer = await initiator.peer(participant).send(
            message, timeout=timeout, conversation_id=conversation.conversation_id
        )
        while True:
            if answer is None:
                answer = await _next(conversation, participant, deadline)
            machine.receive(answer.performative)
            if machine.finished:
                return answer
            answer = None
    finally:
        runtime.close_conversation(conversation)


async def request(
    initiator: Agent,
    participant: str,
    content: Any,
    *,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> Message:
    """FIPA Request: ask ``participant`` to do something and wait for the final answer.

    Returns the last message: ``inform`` (done), ``failure``, ``refuse`` or
    ``not-understood``. An ``agree`` in between is consumed.

    Raises:
        OutOfSequence: the participant answered with something the protocol forbids.
        DeadlineExceeded: no final answer within ``timeout`` seconds.
    """
    return await _exchange(
        REQUEST, initiator, participant, "request", content, timeout, content_type
    )


async def query(
    initiator: Agent,
    participant: str,
    content: Any,
    *,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> Message:
    """FIPA Query: ask ``participant`` for information; returns its final answer."""
    return await _exchange(QUERY, initiator, participant, "query", content, timeout, content_type)


@asynccontextmanager
async def subscribe(
    initiator: Agent,
    participant: str,
    content: Any,
    *,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> AsyncIterator[AsyncIterator[Message]]:
    """FIPA Subscribe: yields an iterator over the participant's ``inform`` messages.

    Leaving the block sends ``cancel``. The iterator ends when the participant refuses,
    answers not-understood or sends ``failure``.
    """
    runtime = _runtime_of(initiator)
    conversation = runtime.open_conversation(initiator.id, new_id())
    conversation_id = conversation.conversation_id
    machine = Interaction(SUBSCRIBE, "initiator", conversation_id=conversation_id)
    peer = initiator.peer(participant)
    machine.send("subscribe")
    first = await peer.send(
        Message(
            performative="subscribe",
            content=content,
            content_type=content_type,
            protocol="subscribe",
        ),
        timeout=timeout,
        conversation_id=conversation_id,
    )

    async def notifications() -> AsyncIterator[Message]:
        answer = first
        while True:
            if answer is None:
                answer = await _next(conversation, participant, float("inf"))
            machine.receive(answer.performative)
            if answer.performative == "inform":
                yield answer
            if machine.finished:
                return
            answer = None

    try:
        yield notifications()
    finally:
        with anyio.CancelScope(shield=True):
            if not machine.finished:
                machine.send("cancel")
                try:
                    await peer.send(
                        Message(performative="cancel", protocol="subscribe"),
                        timeout=1.0,
                        conversation_id=conversation_id,
                    )
                except Exception as exc:  # the participant may be gone already
                    runtime.report(exc, f"cancelling subscription {conversation_id}")
            runtime.close_conversation(conversation)
