"""Agents of a small plant, served one group per OS process by the multi-process tests."""

from __future__ import annotations

from typing import Any

import anyio

from agentlink.model import Event, Measurement, Message
from agentlink.runtime import Agent, MessageContext, ToolContext, contract_net, lowest


def vision() -> list[Agent]:
    camera = Agent("cam-1", role="perception", capabilities=["vision.inspection"])

    @camera.tool
    async def inspect(part: str) -> Measurement:
        """Surface roughness of a part; deterministic from its name."""
        roughness = 0.5 + (sum(map(ord, part)) % 7) / 10
        return Measurement(
            value=roughness,
            unit="MMT",
            quality="good",
            source_ts="2026-01-05T08:00:00Z",
            asset_id=part,
        )

    @camera.tool
    async def announce(text: str) -> dict[str, int]:
        """Publish a note on the camera's event log."""
        event = await camera.publish("vision.note", {"text": text})
        return {"seq": event.seq}

    return [camera]


def mills() -> list[Agent]:
    agents = []
    for mill_id, speed in (("cnc-1", 1.0), ("cnc-2", 1.5)):
        mill = Agent(
            mill_id, role="execution", capabilities=["machining.milling"], assets=[mill_id]
        )
        state: dict[str, Any] = {"free_at": 0.0, "rpm": 6000, "speed": speed}

        def bind(mill: Agent, state: dict[str, Any]) -> None:
            @mill.on_message("cfp")
            async def bid(message: Message, ctx: MessageContext) -> Message:
                end = state["free_at"] + message.content["minutes"] / state["speed"]
                return Message(performative="propose", content={"end": end})

            @mill.on_message("accept-proposal")
            async def won(message: Message, ctx: MessageContext) -> Message:
                return Message(performative="inform", content={"mill": mill.id})

            @mill.on_message("reject-proposal")
            async def lost(message: Message, ctx: MessageContext) -> None:
                return None

            @mill.tool(safety="actuates", requires_approval=True, approvers=["role:decision"])
            async def set_speed(rpm: int) -> dict[str, int]:
                state["rpm"] = rpm
                return {"rpm": rpm}

            @mill.tool
            async def rpm() -> dict[str, int]:
                return {"rpm": state["rpm"]}

        bind(mill, state)
        agents.append(mill)
    return agents


def control() -> list[Agent]:
    planner = Agent("planner", role="decision", capabilities=["scheduling.dispatch"])
    kpi = Agent("kpi", role="evaluation", capabilities=["quality.scoring"])
    scores: list[dict[str, Any]] = []
    notes: list[str] = []
    arrived: list[anyio.Event] = [anyio.Event()]

    @kpi.on_event("vision.>")
    async def on_note(event: Event) -> None:
        notes.append(event.data["text"])
        arrived[0].set()
        arrived[0] = anyio.Event()

    @kpi.tool
    async def wait_notes(count: int) -> list[str]:
        """The camera notes heard so far, once there are at least ``count``."""
        with anyio.fail_after(20):
            while len(notes) < count:
                await arrived[0].wait()
        return notes

    @planner.tool
    async def dispatch(order: str, minutes: float, ctx: ToolContext) -> dict[str, Any]:
        """Award an order to the mill that finishes it first (contract net)."""
        mills = [card.id for card in await planner.discover(capability="machining.milling")]
        outcome = await contract_net(
            planner, mills, {"order": order, "minutes": minutes}, reply_by=5.0, select=lowest("end")
        )
        (winner,) = outcome.winners
        return {
            "winner": winner,
            "end": outcome.proposals[winner]["end"],
            "bids": len(outcome.proposals),
        }

    @planner.tool
    async def approve(agent_id: str, task_id: str) -> dict[str, str]:
        """Approve an actuation waiting on a mill."""
        task = await planner.peer(agent_id).approve(task_id, reason="within limits")
        return {"state": task.state}

    @kpi.tool
    async def score(order: str, roughness: float) -> dict[str, bool]:
        scores.append({"order": order, "pass": roughness < 1.0})
        return {"pass": roughness < 1.0}

    @kpi.tool
    async def report() -> dict[str, Any]:
        passed = sum(s["pass"] for s in scores)
        return {"orders": len(scores), "passed": passed}

    return [planner, kpi]
