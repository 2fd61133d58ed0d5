"""Contract net and iterated contract net, run by an initiating agent.

The protocol logic is the sans-IO :class:`~agentlink.core._contract_net.ContractNet`;
this module sends the messages, gathers answers (immediate replies and later messages in
the same conversation) until the earliest ``reply_by``, and reports what happened::

    outcome = await contract_net(
        dispatcher_agent,
        ["cnc-1", "cnc-2", "cnc-3"],
        {"job": 3, "operation": 1, "machine": 2, "duration": 5},
        reply_by=0.5,
        select=lowest("end"),
    )

Participants answer ``cfp`` from an ``on_message("cfp")`` handler (propose, refuse or
not-understood) and ``accept-proposal`` with inform or failure, either at once (the
handler's return value) or later with a message in the conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from agentlink.core._contract_net import ContractNet, ContractNetOutcome
from agentlink.core._deadline import format_rfc3339
from agentlink.model import AgentlinkError, InteractionProtocol, Message, UsageError

from ._peer import new_id

if TYPE_CHECKING:
    from ._agent import Agent
    from ._runtime import Conversation

__all__ = ["Select", "contract_net", "lowest"]

#: Chooses winners from the proposals (participant -> proposal content).
Select = Callable[[Mapping[str, Any]], Sequence[str]]
#: Decides on another round: given the proposals and the round number, returns a revised
#: call for proposals, or None to award now.
Iterate = Callable[[Mapping[str, Any], int], Any]


def lowest(member: str, *, count: int = 1) -> Select:
    """A selector awarding the ``count`` proposals with the lowest ``content[member]``
    (ties broken by participant id, so the choice is deterministic)."""

    def select(proposals: Mapping[str, Any]) -> list[str]:
        ranked = sorted(
            (p for p in proposals.items() if isinstance(p[1], Mapping) and member in p[1]),
            key=lambda item: (item[1][member], item[0]),
        )
        return [participant for participant, _ in ranked[:count]]

    return select


async def contract_net(
    initiator: Agent,
    participants: Sequence[str],
    cfp: Any,
    *,
    reply_by: float = 1.0,
    select: Select | None = None,
    iterate: Iterate | None = None,
    result_timeout: float = 5.0,
    content_type: str = "application/json",
    max_rounds: int = 5,
) -> ContractNetOutcome:
    """Run a (possibly iterated) contract net as ``initiator`` and return its outcome.

    Args:
        participants: ids of the agents invited to bid.
        cfp: the content of the call for proposals.
        reply_by: seconds the participants have to answer each call.
        select: picks the winners from the proposals (default: ``lowest("cost")``).
        iterate: asked after each round; a non-None return is the next round's call.
        result_timeout: seconds the winners have to report inform or failure.
        max_rounds: bound on iterated rounds.
    """
    runtime = initiator.runtime
    if runtime is None:
        raise UsageError(f"agent {initiator.id!r} is not hosted by a running Runtime")
    choose = select if select is not None else lowest("cost")
    protocol: InteractionProtocol = (
        "iterated-contract-net" if iterate is not None else "contract-net"
    )
    conversation_id = new_id()
    machine = ContractNet(conversation_id, list(participants), time.time() + reply_by)
    conversation = runtime.open_conversation(initiator.id, conversation_id)
    try:
        invited = list(participants)
        call = cfp
        for round_number in range(1, max_rounds + 1):
            deadline = machine.reply_by
            message = Message(
                performative="cfp",
                content=call,
                content_type=content_type,
                protocol=protocol,
                reply_by=format_rfc3339(deadline),
            )
            machine.cfp_sent(time.time())
            await _broadcast(initiator, machine, conversation, invited, message, deadline)
            if iterate is None or round_number == max_rounds:
                break
            revised = iterate(machine.proposals(), round_number)
            if revised is None:
                break
            invited, rejected = machine.iterate(time.time() + reply_by)
            await _tell(initiator, conversation_id, rejected, "reject-proposal", protocol)
            call = revised
        proposals = machine.proposals()
        winners = [w for w in choose(proposals) if w in proposals]
        result_by = time.time() + result_timeout
        accept, reject = machine.award(winners, result_by=result_by)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_tell, initiator, conversation_id, reject, "reject-proposal", protocol)
            tg.start_soon(
                _gather_results, initiator, machine, conversation, accept, protocol, result_by
            )
        machine.close()
        return machine.outcome()
    finally:
        runtime.close_conversation(conversation)


async def _broadcast(
    initiator: Agent,
    machine: ContractNet,
    conversation: Conversation,
    invited: list[str],
    message: Message,
    deadline: float,
) -> None:
    """Send the call to everyone at once; collect answers until all are in or time is up."""
    conversation_id = conversation.conversation_id

    async def ask(participant: str) -> None:
        left = deadline - time.time()
        if left <= 0:
            return
        try:
            reply = await initiator.peer(participant).send(
                message, timeout=left, conversation_id=conversation_id
            )
        except AgentlinkError:
            return  # unreachable, failed or too slow: the participant stays silent
        if reply is not None:
            machine.on_message(participant, reply.performative, reply.content, time.time())
        conversation.notify()

    with anyio.move_on_after(max(0.0, deadline - time.time())):
        async with anyio.create_task_group() as tg:
            for participant in invited:
                tg.start_soon(ask, participant)
            tg.start_soon(_drain_until, machine, conversation, machine.collection_done)
            # The drain loop returns when collecting is over; the asks are bounded by time.


async def _gather_results(
    initiator: Agent,
    machine: ContractNet,
    conversation: Conversation,
    winners: list[str],
    protocol: str,
    result_by: float,
) -> None:
    async def award(participant: str) -> None:
        left = result_by - time.time()
        if left <= 0:
            return
        try:
            reply = await initiator.peer(participant).send(
                Message(performative="accept-proposal", protocol=protocol),  # type: ignore[arg-type]
                timeout=left,
                conversation_id=conversation.conversation_id,
            )
        except AgentlinkError as exc:
            machine.on_message(participant, "failure", {"error": str(exc)}, time.time())
        else:
            if reply is not None:
                machine.on_message(participant, reply.performative, reply.content, time.time())
        conversation.notify()

    with anyio.move_on_after(max(0.0, result_by - time.time())):
        async with anyio.create_task_group() as tg:
            for participant in winners:
                tg.start_soon(award, participant)
            tg.start_soon(_drain_until, machine, conversation, machine.results_done)


async def _drain_until(
    machine: ContractNet, conversation: Conversation, done: Callable[[float], bool]
) -> None:
    """Feed messages that arrive later in the conversation to the machine until ``done``."""
    while True:
        while conversation.inbox:
            message, meta = conversation.inbox.pop(0)
            sender = meta.get("sender") or "?"
            machine.on_message(sender, message.performative, message.content, time.time())
        if done(time.time()):
            return
        # Woken by a later message or by an immediate reply; the caller bounds the time.
        await conversation.arrived.wait()


async def _tell(
    initiator: Agent,
    conversation_id: str,
    participants: list[str],
    performative: str,
    protocol: str,
) -> None:
    """Tell participants something that needs no answer (reject-proposal, cancel)."""

    async def one(participant: str) -> None:
        try:
            await initiator.peer(participant).send(
                Message(performative=performative, protocol=protocol),  # type: ignore[arg-type]
                timeout=1.0,
                conversation_id=conversation_id,
            )
        except AgentlinkError:
            return

    async with anyio.create_task_group() as tg:
        for participant in participants:
            tg.start_soon(one, participant)
