"""Job shop: the ft06 benchmark dispatched by contract net over six machine agents.

Fisher and Thompson's 6x6 instance (optimum makespan 55) on a simulated shop, with every
role taking part:

- demand ``mes`` releases the six jobs as production orders with due dates;
- execution ``machine-0`` .. ``machine-5``, one per ft06 machine (capabilities
  ``machining.m0`` .. ``machining.m5``), bid from their own timelines, book what they win
  and publish ``shop.op-started`` / ``shop.op-finished`` as the shop runs;
- decision ``dispatcher`` first rehearses priority rules on its model of the shop and
  keeps the best, then dispatches for real: each Giffler-Thompson step is an iterated
  contract net. The first call lists the schedulable operations; each machine proposes
  start and end for those it can run, or refuses. The dispatcher applies the
  Giffler-Thompson rule and the priority rule to the proposals and calls again for the
  chosen operation only; its machine proposes it again and is awarded it
  (accept-proposal), and informs with the booking;
- perception ``shop-monitor`` follows the machines' event logs and reports the shop's
  state;
- evaluation ``kpi`` scores the run: makespan against the optimum, tardiness per job
  against its due date, and the contract nets' message counts.

The schedule the shop runs is the one awarded by the contract nets: the rehearsal only
chooses the rule. Run it with ``agentlink demo job-shop``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel
from pydantic import BaseModel

from agentlink.model import Measurement, Message, ToolExecutionError
from agentlink.runtime import Agent, MessageContext, ToolContext, contract_net

from ._dispatching import (
    FT06,
    FT06_OPTIMUM,
    Bid,
    Jobs,
    Operation,
    Rule,
    gt_choice,
    parse_orlib,
    rehearse,
    rules,
)
from ._scenario import DRIVER, Example, ExampleFailed, Outcome, Progress, Settings
from ._svg import Bar, gantt

__all__ = ["EXAMPLE", "FT06", "FT06_OPTIMUM", "Order", "OrderStep"]

#: Seconds machines have to answer a call, and winners to confirm an award. Answers are
#: immediate; the bound only matters when a process stalls, and then the run fails loudly
#: rather than quietly dispatching without a machine.
REPLY_BY = 30.0
#: Rehearsal passes of the randomised rule (the plain rules always run).
PASSES = {False: 1000, True: 300}
#: Shift start: simulated minute 0.
SHIFT_START = "2026-01-05T06:00:00Z"
TOPICS = ("shop.op-started", "shop.op-finished")


class OrderStep(BaseModel):
    """One operation of an order: ``duration`` minutes on ft06 machine ``machine``."""

    step: int
    machine: int
    duration: int


class Order(BaseModel):
    """A production order: one ft06 job with its due date (minutes after shift start)."""

    id: str
    job: int
    due: int
    operations: list[OrderStep]


def _orders(settings: Settings) -> list[Order]:
    """The six ft06 jobs as orders; due dates from the seed (1.2 to 2 times the work)."""
    rng = random.Random(settings.seed)
    orders = []
    for route in parse_orlib(FT06):
        job = route[0].job
        work = sum(op.duration for op in route)
        orders.append(
            Order(
                id=f"PO-{1001 + job}",
                job=job,
                due=round(work * rng.uniform(1.2, 2.0)),
                operations=[
                    OrderStep(step=o.step, machine=o.machine, duration=o.duration) for o in route
                ],
            )
        )
    return orders


def _clock(minute: int) -> str:
    hours, minutes = divmod(6 * 60 + minute, 60)
    return f"2026-01-05T{hours:02d}:{minutes:02d}:00Z"


# -- execution: one agent per machine ------------------------------------------------------


def _machine(number: int) -> Agent:
    capability = f"machining.m{number}"
    machine = Agent(
        f"machine-{number}",
        role="execution",
        capabilities=[capability],
        assets=[f"ft06-m{number}"],
        description=f"Runs the ft06 operations routed to machine {number}.",
    )
    for topic in TOPICS:
        machine.emits(topic)
    free_at = [0]
    booked: list[dict[str, int]] = []
    pending: dict[str, list[dict[str, int]]] = {}
    published = {"started": 0, "finished": 0}

    @machine.on_message("cfp")
    async def bid(message: Message, ctx: MessageContext) -> Message:
        mine = [op for op in message.content["operations"] if op["capability"] == capability]
        if not mine:
            return Message(performative="refuse", content={"reason": f"no {capability} work"})
        bids = []
        for op in mine:
            start = max(op["ready"], free_at[0])
            bids.append(
                {
                    "job": op["job"],
                    "step": op["step"],
                    "machine": number,
                    "start": start,
                    "end": start + op["duration"],
                }
            )
        pending[ctx.conversation_id or ""] = bids
        return Message(performative="propose", content={"bids": bids})

    @machine.on_message("accept-proposal")
    async def award(message: Message, ctx: MessageContext) -> Message:
        bids = pending.pop(ctx.conversation_id or "", [])
        if len(bids) != 1 or bids[0]["start"] < free_at[0]:
            return Message(performative="failure", content={"reason": "no single bid to book"})
        free_at[0] = bids[0]["end"]
        booked.append(bids[0])
        return Message(performative="inform", content=bids[0])

    @machine.on_message("reject-proposal")
    async def rejected(message: Message, ctx: MessageContext) -> None:
        pending.pop(ctx.conversation_id or "", None)

    @machine.tool
    async def run_until(minute: int) -> dict[str, int]:
        """Run the booked operations up to ``minute``: publish their starts and ends."""
        # At one minute an operation ends before the next one starts.
        moments = sorted(
            [(op["end"], 0, "finished", op) for op in booked]
            + [(op["start"], 1, "started", op) for op in booked],
            key=lambda m: (m[0], m[1]),
        )
        due_now = [m for m in moments if m[0] <= minute]
        for at, _, kind, op in due_now[published["started"] + published["finished"] :]:
            await machine.publish(f"shop.op-{kind}", {**op, "at": at})
            published[kind] += 1
        return dict(published)

    @machine.tool
    async def timeline() -> list[dict[str, int]]:
        """The booked operations, in booking order."""
        return list(booked)

    return machine


# -- decision: the dispatcher --------------------------------------------------------------


def _dispatcher(settings: Settings) -> Agent:
    dispatcher = Agent(
        "dispatcher",
        role="decision",
        capabilities=["scheduling.dispatch", "scheduling.job-shop"],
        description="Dispatches released orders to machines by contract net.",
    )
    orders: dict[int, Order] = {}
    stats = dict.fromkeys(
        (
            "contract_nets",
            "rounds",
            "cfps",
            "proposals",
            "refusals",
            "awards",
            "informs",
            "rejections",
            "messages",
        ),
        0,
    )

    @dispatcher.tool
    async def release(order: Order) -> dict[str, Any]:
        """Accept a production order for dispatching."""
        orders[order.job] = order
        return {"order": order.id, "released": len(orders)}

    @dispatcher.tool
    async def protocol_stats() -> dict[str, int]:
        """Messages of the contract nets so far, by kind."""
        return dict(stats)

    @dispatcher.tool(task=True)
    async def dispatch(ctx: ToolContext) -> dict[str, Any]:
        """Choose a priority rule by rehearsal, then award every operation by contract net."""
        routes = [
            [Operation(o.job, s.step, s.machine, s.duration) for s in o.operations]
            for o in (orders[j] for j in sorted(orders))
        ]
        due = [orders[j].due for j in sorted(orders)]
        tried: list[tuple[int, int, int, Rule]] = []
        for rule in rules(routes, seed=settings.seed, passes=PASSES[settings.fast]):
            plan = rehearse(routes, due, rule)
            ends = {b.job: b.end for b in plan}
            tardiness = sum(max(0, ends[j] - due[j]) for j in ends)
            tried.append((max(b.end for b in plan), tardiness, len(tried), rule))
            await anyio.lowlevel.checkpoint()
        best = min(tried, key=lambda t: t[:3])
        rule = best[3]
        cards = await dispatcher.discover(capability="machining")
        machines = sorted(card.id for card in cards)
        jobs = Jobs(routes, due)
        awarded: list[Bid] = []
        total = sum(len(r) for r in routes)
        while not jobs.done:
            bid = await _award_next(dispatcher, machines, jobs, rule, stats)
            jobs.book(bid)
            awarded.append(bid)
            note = f"J{bid.job}.{bid.step} to M{bid.machine} [{bid.start}, {bid.end})"
            await ctx.progress(len(awarded) / total, note)
        plain = [t for t in tried if not t[3].noise]
        noisy = min((t for t in tried if t[3].noise), key=lambda t: t[:3], default=None)
        return {
            "rule": rule.name,
            "rehearsal": [
                {"rule": t[3].name, "makespan": t[0], "tardiness": t[1]}
                for t in [*plain, *([noisy] if noisy else [])]
            ],
            "passes": len(tried),
            "operations": [
                {"job": b.job, "step": b.step, "machine": b.machine, "start": b.start, "end": b.end}
                for b in awarded
            ],
        }

    return dispatcher


async def _award_next(
    dispatcher: Agent, machines: list[str], jobs: Jobs, rule: Rule, stats: dict[str, int]
) -> Bid:
    """One Giffler-Thompson step as an iterated contract net; returns the booking."""
    calls = [
        {
            "job": op.job,
            "step": op.step,
            "capability": f"machining.m{op.machine}",
            "duration": op.duration,
            "ready": jobs.ready[op.job],
        }
        for op in jobs.schedulable()
    ]
    chosen: list[Bid] = []
    second_round: list[str] = []

    def narrow(proposals: Mapping[str, Any], round_number: int) -> Any:
        bids = [Bid(**b) for p in proposals.values() for b in p["bids"]]
        chosen.append(gt_choice(bids, rule, jobs))
        second_round.extend(m for m in machines if m in proposals)
        stats["proposals"] += len(proposals)
        stats["refusals"] += len(machines) - len(proposals)
        return {
            "operations": [
                c for c in calls if (c["job"], c["step"]) == (chosen[0].job, chosen[0].step)
            ]
        }

    def select(proposals: Mapping[str, Any]) -> list[str]:
        # The machine that proposed the chosen operation again wins it.
        wanted = (chosen[0].job, chosen[0].step) if chosen else None
        return [
            machine
            for machine, proposal in proposals.items()
            if any((b["job"], b["step"]) == wanted for b in proposal["bids"])
        ][:1]

    outcome = await contract_net(
        dispatcher,
        machines,
        {"operations": calls},
        reply_by=REPLY_BY,
        select=select,
        iterate=narrow,
        max_rounds=2,
        result_timeout=REPLY_BY,
    )
    results = list(outcome.results.values())
    if outcome.silent or outcome.violations or outcome.failures or len(results) != 1:
        raise ToolExecutionError(
            "a contract net failed",
            data={
                "silent": list(outcome.silent),
                "failures": dict(outcome.failures),
                "violations": [v.reason for v in outcome.violations],
            },
        )
    booked = Bid(**results[0])
    if chosen and (booked.job, booked.step) != (chosen[0].job, chosen[0].step):
        raise ToolExecutionError("the winner booked another operation", data=results[0])
    stats["contract_nets"] += 1
    stats["rounds"] += outcome.rounds
    stats["cfps"] += len(machines) + len(second_round)
    stats["proposals"] += len(outcome.proposals)
    stats["refusals"] += len(second_round) - len(outcome.proposals)
    stats["awards"] += len(outcome.winners)
    stats["informs"] += len(outcome.results)
    stats["rejections"] += len(outcome.rejected)
    stats["messages"] = sum(
        stats[k] for k in ("cfps", "proposals", "refusals", "awards", "informs", "rejections")
    )
    return booked


# -- perception and evaluation ---------------------------------------------------------------


def _monitor() -> Agent:
    monitor = Agent(
        "shop-monitor",
        role="perception",
        capabilities=["shop-floor.tracking"],
        description="Tracks the shop from the machines' events.",
    )
    seen: dict[str, int] = {}
    running: dict[int, dict[str, int]] = {}
    finished: list[dict[str, int]] = []
    clock = [0]

    @monitor.tool
    async def shop_state() -> dict[str, Any]:
        """The shop as the machines' events tell it: what runs, what is done, utilisation."""
        cards = await monitor.discover(capability="machining")
        for machine in sorted(card.id for card in cards):
            while True:
                page = await monitor.peer(machine).request(
                    "events/subscribe",
                    {"topics": ["shop.>"], "after_seq": seen.get(machine, 0), "limit": 100},
                )
                for event in page["events"]:
                    op = event["data"]
                    clock[0] = max(clock[0], op["at"])
                    if event["topic"] == "shop.op-started":
                        running[op["machine"]] = op
                    else:
                        running.pop(op["machine"], None)
                        finished.append(
                            {k: op[k] for k in ("job", "step", "machine", "start", "end")}
                        )
                seen[machine] = page["last_seq"]
                if not page["events"]:
                    break
        busy: dict[int, int] = {}
        for op in finished:
            busy[op["machine"]] = busy.get(op["machine"], 0) + op["end"] - op["start"]
        return {
            "minute": clock[0],
            "running": [running[m] for m in sorted(running)],
            "finished": sorted(finished, key=lambda o: (o["job"], o["step"])),
            "events": sum(seen.values()),
            "utilisation": {
                f"machine-{m}": Measurement(
                    value=round(100 * busy[m] / clock[0], 1) if clock[0] else 0.0,
                    unit="P1",
                    quality="good",
                    source_ts=_clock(clock[0]),
                    asset_id=f"ft06-m{m}",
                ).model_dump(mode="json", exclude_none=True)
                for m in sorted(busy)
            },
        }

    return monitor


def _kpi() -> Agent:
    kpi = Agent(
        "kpi",
        role="evaluation",
        capabilities=["scheduling.scoring"],
        description="Scores a run: makespan, tardiness, protocol load.",
    )

    @kpi.tool
    async def evaluate() -> dict[str, Any]:
        """Makespan against the ft06 optimum, tardiness per order, contract-net messages."""
        (monitor,) = await kpi.discover(role="perception")
        (dispatcher,) = await kpi.discover(role="decision")
        (mes,) = await kpi.discover(role="demand")
        state = await kpi.peer(monitor.id).call("shop_state")
        orders = [Order.model_validate(o) for o in await kpi.peer(mes.id).call("orders")]
        stats = await kpi.peer(dispatcher.id).call("protocol_stats")
        ops = state["finished"]
        makespan = max((op["end"] for op in ops), default=0)
        jobs = []
        for order in orders:
            ends = [op["end"] for op in ops if op["job"] == order.job]
            completion = max(ends, default=0)
            jobs.append(
                {
                    "job": order.job,
                    "order": order.id,
                    "due": order.due,
                    "completion": completion,
                    "tardiness": max(0, completion - order.due),
                    "operations": len(ends),
                }
            )
        return {
            "makespan": makespan,
            "optimum": FT06_OPTIMUM,
            "gap_percent": round(100 * (makespan - FT06_OPTIMUM) / FT06_OPTIMUM, 2),
            "jobs": jobs,
            "total_tardiness": sum(j["tardiness"] for j in jobs),
            "operations": ops,
            "events": state["events"],
            "utilisation": {m: u["value"] for m, u in state["utilisation"].items()},
            "stats": stats,
        }

    return kpi


# -- the example -----------------------------------------------------------------------------


def build(settings: Settings) -> dict[str, list[Agent]]:
    """The agents: the MES drives; machines, dispatcher and monitoring are groups."""
    orders = _orders(settings)
    mes = Agent(
        "mes",
        role="demand",
        capabilities=["orders.release"],
        description="Releases production orders with due dates.",
    )

    @mes.tool(name="orders")
    async def list_orders() -> list[Order]:
        """The production orders, as released."""
        return orders

    return {
        DRIVER: [mes],
        "machines": [_machine(n) for n in range(6)],
        "dispatcher": [_dispatcher(settings)],
        "monitoring": [_monitor(), _kpi()],
    }


async def drive(agents: Mapping[str, Agent], settings: Settings, progress: Progress) -> Outcome:
    """Release the orders, dispatch them by contract net, run the shop, score the run."""
    mes = agents["mes"]
    orders = _orders(settings)
    (dispatcher,) = await mes.discover(role="decision")
    (monitor,) = await mes.discover(role="perception")
    (kpi,) = await mes.discover(role="evaluation")
    machines = {
        int(capability.removeprefix("machining.m")): card.id
        for card in await mes.discover(capability="machining")
        for capability in card.capabilities
        if capability.startswith("machining.m")
    }
    progress.start(len(orders), "releasing orders")
    for order in orders:
        await mes.peer(dispatcher.id).call("release", order=order.model_dump())
        progress.advance(note=order.id)

    total = sum(len(order.operations) for order in orders)
    progress.start(total, "dispatching by contract net")
    handle = await mes.peer(dispatcher.id).start_task("dispatch")
    shown = 0
    async for event in handle.events():
        if event.progress is not None and event.progress.fraction is not None:
            done = round(event.progress.fraction * total)
            progress.advance(done - shown, event.progress.message)
            shown = done
    plan = await handle.result()

    progress.start(total, "running the shop")
    awarded = plan["operations"]
    finished = 0
    for minute in sorted({op["start"] for op in awarded} | {op["end"] for op in awarded}):
        for number in sorted(
            {op["machine"] for op in awarded if minute in (op["start"], op["end"])}
        ):
            await mes.peer(machines[number]).call("run_until", minute=minute)
        state = await mes.peer(monitor.id).call("shop_state")
        progress.advance(len(state["finished"]) - finished, f"minute {minute}")
        finished = len(state["finished"])

    progress.start(1, "evaluating")
    report = await mes.peer(kpi.id).call("evaluate")
    progress.advance()
    if report["operations"] != sorted(awarded, key=lambda o: (o["job"], o["step"])):
        raise ExampleFailed("the shop ran another schedule than the one awarded")
    return _outcome(settings, orders, plan, report)


def _outcome(
    settings: Settings, orders: list[Order], plan: dict[str, Any], report: dict[str, Any]
) -> Outcome:
    stats = report["stats"]
    makespan, gap = report["makespan"], report["gap_percent"]
    headline = (
        f"ft06 makespan {makespan} (optimum {FT06_OPTIMUM}, gap {gap:.1f} %) from "
        f"{stats['contract_nets']} contract nets and {stats['messages']} messages; "
        f"total tardiness {report['total_tardiness']} min"
    )
    routes = {o.job: " ".join(f"m{s.machine}" for s in o.operations) for o in orders}
    rows: list[tuple[str, ...]] = [
        (
            f"J{j['job']}",
            j["order"],
            routes[j["job"]],
            str(j["due"]),
            str(j["completion"]),
            str(j["tardiness"]),
        )
        for j in report["jobs"]
    ]
    bars = [
        Bar(op["machine"], op["start"], op["end"], op["job"], f"J{op['job']}")
        for op in report["operations"]
    ]
    chart = gantt(
        bars,
        lanes=[f"machine-{m}" for m in range(6)],
        groups=[f"J{o.job} {o.id}" for o in orders],
        title=f"ft06 by contract net: makespan {makespan} (optimum {FT06_OPTIMUM})",
    )
    data = {
        "example": "job-shop",
        "instance": "ft06",
        "seed": settings.seed,
        "fast": settings.fast,
        "makespan": makespan,
        "optimum": FT06_OPTIMUM,
        "gap_percent": gap,
        "rule": plan["rule"],
        "rehearsal_passes": plan["passes"],
        "rehearsal": plan["rehearsal"],
        "operations": report["operations"],
        "jobs": report["jobs"],
        "total_tardiness": report["total_tardiness"],
        "utilisation_percent": report["utilisation"],
        "events": report["events"],
        "stats": stats,
    }
    return Outcome(
        name="job-shop",
        seed=settings.seed,
        headline=headline,
        columns=("job", "order", "route", "due (min)", "completion (min)", "tardiness (min)"),
        rows=rows,
        data=data,
        artifacts={"gantt.svg": chart},
    )


#: ft06 dispatched by contract net.
EXAMPLE = Example(
    name="job-shop",
    title="Job shop: ft06 dispatched by contract net",
    build=build,
    drive=drive,
)
