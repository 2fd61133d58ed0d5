"""A five-role tour of agentlink on a small simulated cell (deterministic from a seed).

A demand agent releases orders; two execution agents (CNC mills) bid for each order by
contract net; the decision agent awards the earliest finish; the perception agent
inspects each finished part and publishes the result as an event; the evaluation agent
scores the run. A spindle-speed correction is an actuating command that needs approval
from the decision agent before the mill applies it.

Run it with ``agentlink demo`` (or ``python -m agentlink.examples.tour``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentlink.model import Event, Measurement, Message
from agentlink.runtime import Agent, MessageContext, Runtime, contract_net, lowest

__all__ = ["TourResult", "run_tour"]


@dataclass
class TourResult:
    """What the tour produced; every figure follows from the seed."""

    seed: int
    orders: int
    assignments: dict[str, str] = field(default_factory=dict)
    finish: dict[str, float] = field(default_factory=dict)
    inspected: dict[str, str] = field(default_factory=dict)
    speed_changes: list[int] = field(default_factory=list)
    makespan: float = 0.0
    yield_rate: float = 0.0
    agents: int = 0
    topology: dict[str, Any] = field(default_factory=dict, repr=False)
    topology_dot: str = field(default="", repr=False)

    def summary(self) -> dict[str, Any]:
        """The JSON result file's content."""
        return {
            "seed": self.seed,
            "orders": self.orders,
            "assignments": self.assignments,
            "finish": self.finish,
            "inspected": self.inspected,
            "speed_changes": self.speed_changes,
            "makespan": self.makespan,
            "yield": self.yield_rate,
            "agents": self.agents,
        }


def build_cell(
    seed: int, result: TourResult, scored: anyio.Event
) -> tuple[list[Agent], Agent, Agent]:
    rng = random.Random(seed)
    mills: dict[str, dict[str, Any]] = {
        "cnc-1": {"free_at": 0.0, "speed": rng.uniform(0.9, 1.1), "rpm": 6000},
        "cnc-2": {"free_at": 0.0, "speed": rng.uniform(0.9, 1.1), "rpm": 6000},
    }
    agents: list[Agent] = []
    for mill_id, state in mills.items():
        mill = Agent(
            mill_id, role="execution", capabilities=["machining.milling"], assets=[mill_id]
        )

        def bind(mill: Agent, state: dict[str, Any]) -> None:
            @mill.on_message("cfp")
            async def bid(message: Message, ctx: MessageContext) -> Message:
                end = state["free_at"] + message.content["minutes"] / state["speed"]
                return Message(performative="propose", content={"end": round(end, 2)})

            @mill.on_message("accept-proposal")
            async def run(message: Message, ctx: MessageContext) -> Message:
                return Message(performative="inform", content={"mill": mill.id})

            @mill.on_message("reject-proposal")
            async def rejected(message: Message, ctx: MessageContext) -> None:
                return None

            @mill.tool(safety="actuates", requires_approval=True, approvers=["role:decision"])
            async def set_spindle_speed(rpm: int) -> dict[str, int]:
                """Change the spindle speed (needs approval)."""
                state["rpm"] = rpm
                result.speed_changes.append(rpm)
                return {"rpm": rpm}

            @mill.tool
            async def commit(order: str, start: float, minutes: float) -> dict[str, float]:
                """Book an order on this mill."""
                state["free_at"] = max(state["free_at"], start) + minutes / state["speed"]
                return {"end": round(state["free_at"], 2)}

        bind(mill, state)
        agents.append(mill)

    camera = Agent("cam-1", role="perception", capabilities=["vision.defect-detection"])
    camera.emits("quality.inspection")

    @camera.tool
    async def inspect(order: str) -> Measurement:
        """Measure the surface roughness of a finished part."""
        roughness = round(rng.gauss(0.8, 0.15), 3)
        return Measurement(
            value=roughness,
            unit="MMT",
            quality="good",
            source_ts="2026-01-05T08:00:00Z",
            asset_id=order,
        )

    evaluation = Agent("kpi", role="evaluation", capabilities=["quality.scoring"])

    @evaluation.on_event("quality.>")
    async def score(event: Event) -> None:
        result.inspected[event.data["order"]] = event.data["verdict"]
        if len(result.inspected) == result.orders:
            scored.set()

    demand = Agent("mes", role="demand", capabilities=["orders.release"])
    planner = Agent("planner", role="decision", capabilities=["scheduling.dispatch"])
    agents += [camera, evaluation, demand, planner]
    return agents, demand, planner


async def run_tour(*, seed: int = 7, orders: int = 6) -> TourResult:
    """Run the tour and return its result."""
    result = TourResult(seed=seed, orders=orders)
    scored = anyio.Event()
    agents, demand, planner = build_cell(seed, result, scored)
    rng = random.Random(seed * 31)
    async with Runtime(agents=agents) as runtime:
        result.agents = len(agents)
        mills = [card.id for card in await planner.discover(capability="machining.milling")]
        camera = (await planner.discover(role="perception"))[0].id
        for n in range(orders):
            order = f"ord-{n + 1}"
            minutes = rng.randint(5, 20)
            outcome = await contract_net(
                planner,
                mills,
                {"order": order, "minutes": minutes},
                reply_by=2.0,
                select=lowest("end"),
            )
            (winner,) = outcome.winners
            booked = await planner.peer(winner).call(
                "commit", order=order, start=0.0, minutes=minutes
            )
            result.assignments[order] = winner
            result.finish[order] = booked["end"]
            reading = Measurement.model_validate(
                await demand.peer(camera).call("inspect", order=order)
            )
            smooth = isinstance(reading.value, float) and reading.value < 0.95
            verdict = "pass" if smooth else "fail"
            await demand.publish("quality.inspection", {"order": order, "verdict": verdict})
            if verdict == "fail":
                # A rough surface asks for a slower spindle: an actuation that needs approval.
                handle = await demand.peer(winner).start_task("set_spindle_speed", rpm=5400)
                await planner.peer(winner).approve(handle.id, reason=f"{order} too rough")
                await handle.result(timeout=5)
        with anyio.fail_after(5):
            await scored.wait()
        result.topology = runtime.topology.to_json()
        result.topology_dot = runtime.topology.to_dot()
    result.makespan = max(result.finish.values(), default=0.0)
    passed = sum(v == "pass" for v in result.inspected.values())
    result.yield_rate = passed / orders if orders else 0.0
    return result


def main(seed: int = 7) -> TourResult:
    return anyio.run(lambda: run_tour(seed=seed))


if __name__ == "__main__":
    print(main())
