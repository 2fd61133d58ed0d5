"""The agents of the maintenance example outside the driver: machine cells (a machine and
its sensor gateway), maintenance crews, the stores, the shift supervisor and the KPI agent.

Every agent keeps its records per run (``baseline``, then ``maintained``); ``start_run``
resets what a run changes, so both runs start from the same plant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentlink.model import Forbidden, InvalidParams, Measurement, Message, TaskRejected
from agentlink.runtime import Agent, MessageContext, ToolContext

from ._maintenance_model import ACTIONS, QUANTITIES, STEP_MIN, Machine, step_time

__all__ = [
    "CREWS",
    "PARTS",
    "SUPERVISOR_ROLE",
    "crew",
    "kpi",
    "machine_cell",
    "stores",
    "supervisor",
]

SUPERVISOR_ROLE = "x-shift-supervisor"
#: Spare parts each maintenance action needs.
PARTS = {
    "replace-tool": "insert-CNMG120408",
    "service-coolant": "coolant-filter",
    "service-spindle": "spindle-bearing-kit",
}
#: Crews: steps each action takes them, and their cost per step.
CREWS: dict[str, dict[str, Any]] = {
    "crew-a": {
        "rate": 1.0,
        "steps": {
            "replace-tool": 4,
            "service-coolant": 8,
            "retune-drive": 8,
            "service-spindle": 10,
        },
    },
    "crew-b": {
        "rate": 1.4,
        "steps": {
            "replace-tool": 3,
            "service-coolant": 7,
            "retune-drive": 7,
            "service-spindle": 9,
        },
    },
}
LOCK_TIMEOUT = 30.0


# -- execution and perception: a machine and its sensor gateway --------------------------------


def machine_cell(seed: int, machine_id: str, drift: str, onset: int) -> list[Agent]:
    """A milling machine (execution) and the gateway that streams its telemetry
    (perception); they share the machine's physics, as a gateway reads the PLC."""
    machine = Agent(
        machine_id,
        role="execution",
        name=f"Milling machine {machine_id}",
        capabilities=["machining.milling"],
        assets=[machine_id],
    )
    for topic in ("failure", "repaired", "locked", "serviced", "released"):
        machine.emits(f"machine.{topic}")
    gateway = Agent(
        f"sensor-{machine_id}",
        role="perception",
        name=f"Sensor gateway of {machine_id}",
        description="Streams air and process temperature, speed, torque and tool wear.",
        capabilities=["sensing.machine-telemetry"],
        assets=[machine_id],
    )
    gateway.emits("machine.telemetry", description="One process's readings, with quality.")
    cell: dict[str, Any] = {"run": "", "plant": Machine(seed, machine_id, drift, onset)}
    records: dict[str, list[dict[str, Any]]] = {"lockouts": [], "services": [], "faults": []}

    async def note(topic: str, data: dict[str, Any]) -> None:
        await machine.publish(f"machine.{topic}", {"run": cell["run"], **data})

    @machine.tool
    async def start_run(run: str) -> dict[str, str]:
        """Simulation only: put the machine back to its initial state for a new run."""
        cell.update(run=run, plant=Machine(seed, machine_id, drift, onset))
        return {"machine": machine_id, "run": run}

    @machine.tool
    async def scenario() -> dict[str, Any]:
        """Simulation only: the drift injected into this machine and its onset step."""
        return {"machine": machine_id, "drift": drift, "onset": onset}

    @machine.tool
    async def run_process(step: int) -> dict[str, Any]:
        """Run the step's machining process, if the machine can, and stream its telemetry."""
        plant: Machine = cell["plant"]
        result = plant.run(step)
        if result["repaired"]:
            await note("repaired", {"step": step})
        readings: dict[str, Any] = {}
        if "values" in result:
            for name, (value, quality) in plant.read(step, result["values"]).items():
                readings[name] = Measurement(
                    value=value,
                    unit=QUANTITIES[name],
                    quality=quality,
                    source_ts=step_time(step),
                    asset_id=machine_id,
                    semantic_id=f"ai4i:{name}",
                ).to_wire()
                if quality != "good":
                    records["faults"].append(
                        {"run": cell["run"], "step": step, "channel": name, "quality": quality}
                    )
        if result["failures"]:
            await note(
                "failure",
                {"step": step, "modes": result["failures"], "repaired_at": plant.down_until},
            )
        await gateway.publish(
            "machine.telemetry",
            {
                "run": cell["run"],
                "machine": machine_id,
                "step": step,
                "state": plant.state,
                "faults": result["failures"],
                "readings": readings,
            },
        )
        return {"state": plant.state, "failures": result["failures"]}

    @machine.tool(safety="actuates", requires_approval=True, approvers=[f"role:{SUPERVISOR_ROLE}"])
    async def lock_out(work_order: str, step: int, ctx: ToolContext) -> dict[str, Any]:
        """Lock out and tag out the machine for a work order (once a supervisor approved);
        the machine stops until every lock is released."""
        plant: Machine = cell["plant"]
        was = plant.state
        holder = ctx.caller or "?"
        plant.locks[work_order] = holder
        approved = [] if ctx.task is None else list(ctx.task.record.approved_by)
        record = {
            "run": cell["run"],
            "work_order": work_order,
            "step": step,
            "crew": holder,
            "approved_by": approved,
        }
        records["lockouts"].append(record)
        if was != "locked":
            await note("locked", {"step": step, "work_order": work_order, "crew": holder})
        return record

    def held_by(work_order: str, ctx: ToolContext) -> None:
        holder = cell["plant"].locks.get(work_order)
        if holder is None or holder != ctx.caller:
            raise Forbidden(
                f"{ctx.caller!r} holds no lock on {machine_id} for {work_order}",
                data={"work_order": work_order},
            )

    @machine.tool(safety="actuates")
    async def service(
        work_order: str, actions: list[str], step: int, ctx: ToolContext
    ) -> dict[str, Any]:
        """Carry out maintenance actions; only the crew holding the work order's lock may."""
        held_by(work_order, ctx)
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise InvalidParams(f"unknown maintenance actions {unknown}; known: {ACTIONS}")
        cell["plant"].restore(actions)
        record = {"run": cell["run"], "work_order": work_order, "step": step, "actions": actions}
        records["services"].append(record)
        await note("serviced", {"step": step, "work_order": work_order, "actions": actions})
        return record

    @machine.tool(safety="actuates")
    async def release(work_order: str, step: int, ctx: ToolContext) -> dict[str, Any]:
        """Remove the work order's lock (only its holder may); the machine restarts once no
        lock is left."""
        held_by(work_order, ctx)
        plant: Machine = cell["plant"]
        del plant.locks[work_order]
        if not plant.locks:
            await note("released", {"step": step, "work_order": work_order})
        return {"work_order": work_order, "state": plant.state}

    @machine.tool
    async def records_of(run: str) -> dict[str, list[dict[str, Any]]]:
        """The run's lock-outs (with their approvers) and services."""
        return {k: [r for r in v if r["run"] == run] for k, v in records.items() if k != "faults"}

    @gateway.tool
    async def sensor_faults(run: str) -> list[dict[str, Any]]:
        """Simulation only: every reading of the run sent as bad or uncertain."""
        return [r for r in records["faults"] if r["run"] == run]

    return [machine, gateway]


# -- execution: crews and stores ------------------------------------------------------------


def crew(crew_id: str) -> Agent:
    """A maintenance crew: bids windows for work orders (iterated contract net), then
    locks out, services and releases the machine."""
    spec = CREWS[crew_id]
    agent = Agent(
        crew_id,
        role="execution",
        name=f"Maintenance {crew_id}",
        capabilities=["maintenance.mechanical"],
    )
    bookings: list[dict[str, Any]] = []
    offers: dict[str, dict[str, Any]] = {}

    def free(start: int, steps: int) -> bool:
        return all(start + steps <= b["start"] or start >= b["end"] for b in bookings)

    def offer(call: dict[str, Any]) -> dict[str, Any]:
        steps = sum(spec["steps"][a] for a in call["actions"])
        earliest, latest = int(call["earliest"]), int(call["latest"])
        starts = [s for s in range(earliest, latest + 1) if free(s, steps)]
        if "scoring" in call and starts:
            waste = float(call["scoring"]["waste_per_step"])
            # The caller's scoring: the less tool life thrown away, the better.
            start = max(starts) if waste > 0 else min(starts)
        else:
            start = earliest
            while not free(start, steps):
                start += 1
        return {
            "crew": crew_id,
            "start": start,
            "steps": steps,
            "price": round(spec["rate"] * steps, 2),
            "final": "scoring" in call,
        }

    @agent.on_message("cfp")
    async def on_cfp(message: Message, ctx: MessageContext) -> Message:
        proposal = offer(message.content)
        offers[str(ctx.conversation_id)] = {**proposal, "call": message.content}
        return Message(performative="propose", content=proposal, protocol=message.protocol)

    @agent.on_message("accept-proposal")
    async def on_accept(message: Message, ctx: MessageContext) -> Message:
        proposal = offers.pop(str(ctx.conversation_id))
        call = proposal["call"]
        if not free(proposal["start"], proposal["steps"]):
            return Message(performative="failure", content={"reason": "slot taken"})
        booking = {
            "work_order": call["work_order"],
            "machine": call["machine"],
            "actions": call["actions"],
            "start": proposal["start"],
            "end": proposal["start"] + proposal["steps"],
        }
        bookings.append(booking)
        return Message(performative="inform", content={"crew": crew_id, **booking})

    @agent.on_message("reject-proposal")
    async def on_reject(message: Message, ctx: MessageContext) -> None:
        offers.pop(str(ctx.conversation_id), None)

    @agent.tool
    async def start_run(run: str) -> dict[str, str]:
        """Simulation only: clear the crew's calendar for a new run."""
        bookings.clear()
        offers.clear()
        return {"crew": crew_id, "run": run}

    @agent.tool
    async def begin(work_order: str, machine: str, actions: list[str], step: int) -> dict[str, Any]:
        """Start a booked work order: draw the parts, lock out the machine (waits for the
        supervisor's approval), then carry out the actions. Without approval nothing is
        done: ``locked`` is null."""
        (stores_card,) = await agent.discover(capability="mro.stores")
        await agent.peer(stores_card.id).call("issue", work_order=work_order)
        handle = await agent.peer(machine).start_task("lock_out", work_order=work_order, step=step)
        (boss,) = await agent.discover(role=SUPERVISOR_ROLE)
        await agent.peer(boss.id).call(
            "authorize", machine=machine, task_id=handle.id, work_order=work_order, step=step
        )
        try:
            lock = await handle.result(timeout=LOCK_TIMEOUT)
        except TaskRejected:
            return {"work_order": work_order, "locked": None}
        await agent.peer(machine).call("service", work_order=work_order, actions=actions, step=step)
        return {"work_order": work_order, "locked": lock}

    @agent.tool
    async def finish(work_order: str, machine: str, step: int) -> dict[str, Any]:
        """End a work order: release the machine's lock."""
        result: dict[str, Any] = await agent.peer(machine).call(
            "release", work_order=work_order, step=step
        )
        return result

    return agent


def stores() -> Agent:
    """The spare-parts stores: takes requests and issues parts to crews."""
    agent = Agent(
        "stores",
        role="execution",
        name="MRO stores",
        capabilities=["mro.stores"],
    )
    agent.emits("stores.requested")
    agent.emits("stores.issued")
    ledger: dict[str, dict[str, Any]] = {}
    state = {"run": ""}

    @agent.tool
    async def start_run(run: str) -> dict[str, str]:
        """Simulation only: a new run starts with an empty ledger."""
        state["run"] = run
        ledger.clear()
        return {"stores": agent.id, "run": run}

    @agent.tool
    async def request(
        work_order: str, machine: str, part: str, quantity: int, need_by: int
    ) -> dict[str, Any]:
        """Reserve spare parts for a work order."""
        if quantity < 1:
            raise InvalidParams("quantity must be at least 1")
        line = ledger.setdefault(work_order, {"machine": machine, "parts": {}, "issued": False})
        line["parts"][part] = line["parts"].get(part, 0) + quantity
        event = {"run": state["run"], "work_order": work_order, "part": part, "quantity": quantity}
        await agent.publish("stores.requested", {**event, "need_by": need_by})
        return {"work_order": work_order, "reserved": line["parts"]}

    @agent.tool
    async def issue(work_order: str) -> dict[str, Any]:
        """Hand a work order's reserved parts to the crew."""
        line = ledger.setdefault(work_order, {"machine": "", "parts": {}, "issued": False})
        line["issued"] = True
        await agent.publish(
            "stores.issued", {"run": state["run"], "work_order": work_order, **line}
        )
        return {"work_order": work_order, "parts": line["parts"]}

    @agent.tool
    async def status(work_order: str) -> dict[str, Any]:
        """What is reserved and issued for a work order."""
        line = ledger.get(work_order, {"parts": {}, "issued": False})
        return {"work_order": work_order, "parts": line["parts"], "issued": line["issued"]}

    return agent


# -- the shift supervisor -----------------------------------------------------------------------


def supervisor() -> Agent:
    """Approves lock-outs (IEC 62443 supervisor approval) after checking the request."""
    agent = Agent(
        "supervisor",
        role=SUPERVISOR_ROLE,
        name="Shift supervisor",
        description="Approves machine lock-outs for maintenance.",
        capabilities=["safety.lockout-approval"],
    )
    decisions: list[dict[str, Any]] = []

    @agent.tool
    async def authorize(machine: str, task_id: str, work_order: str, step: int) -> dict[str, Any]:
        """Check a lock-out request and approve or reject it."""
        handle = await agent.peer(machine).task(task_id)
        (stores_card,) = await agent.discover(capability="mro.stores")
        parts = await agent.peer(stores_card.id).call("status", work_order=work_order)
        if handle.task.tool != "lock_out" or handle.task.state != "input-required":
            verdict, reason = "reject", "not a lock-out waiting for approval"
        elif parts["parts"] and not parts["issued"]:
            verdict, reason = "reject", "the spare parts have not been drawn"
        else:
            verdict, reason = "approve", f"{work_order}: parts drawn, crew on site"
        if verdict == "approve":
            await agent.peer(machine).approve(task_id, reason=reason)
        else:
            await agent.peer(machine).reject(task_id, reason=reason)
        decision = {"machine": machine, "work_order": work_order, "step": step}
        decisions.append({**decision, "decision": verdict, "reason": reason})
        return decisions[-1]

    @agent.tool
    async def decisions_made() -> list[dict[str, Any]]:
        """Every lock-out decision, in order."""
        return decisions

    return agent


# -- evaluation ------------------------------------------------------------------------------------


def kpi() -> Agent:
    """Evaluates each run from the machines', stores' and planner's event logs."""
    agent = Agent(
        "kpi",
        role="evaluation",
        name="Maintenance KPIs",
        capabilities=["maintenance.kpi"],
    )
    cursors: dict[str, int] = {}
    events: dict[str, list[dict[str, Any]]] = {}

    async def follow(source: str, topics: list[str]) -> list[dict[str, Any]]:
        """Everything ``source`` published on ``topics`` so far (kept across runs)."""
        log = events.setdefault(source, [])
        while True:
            page = await agent.peer(source).request(
                "events/subscribe",
                {"topics": topics, "after_seq": cursors.get(source, 0), "limit": 100},
            )
            log.extend(e["data"] | {"topic": e["topic"]} for e in page["events"])
            cursors[source] = page["last_seq"]
            if not page["events"]:
                return log

    @agent.tool
    async def close_run(run: str, steps: int) -> dict[str, Any]:
        """Evaluate a finished run of ``steps`` steps."""
        machines = sorted(c.id for c in await agent.discover(capability="machining.milling"))
        (store,) = await agent.discover(capability="mro.stores")
        (planner,) = await agent.discover(capability="maintenance.planning")
        failures, planned, unplanned, stops = [], {}, {}, []
        for machine in machines:
            log = [e for e in await follow(machine, ["machine.>"]) if e["run"] == run]
            down, locked = _downtime(log, steps)
            unplanned[machine] = len(down) * STEP_MIN
            planned[machine] = len(locked - down) * STEP_MIN
            stops += [
                {"machine": machine, "from": a, "to": b, "kind": "unplanned"}
                for a, b in _stretches(down)
            ] + [
                {"machine": machine, "from": a, "to": b, "kind": "planned"}
                for a, b in _stretches(locked - down)
            ]
            failures += [
                {"machine": machine, "step": e["step"], "modes": e["modes"]}
                for e in log
                if e["topic"] == "machine.failure"
            ]
        parts: dict[str, int] = {}
        for e in await follow(store.id, ["stores.requested"]):
            if e["run"] == run:
                parts[e["part"]] = parts.get(e["part"], 0) + e["quantity"]
        predictions = [
            e for e in await follow(planner.id, ["maintenance.prediction"]) if e["run"] == run
        ]
        return {
            "run": run,
            "steps": steps,
            "failures": sorted(failures, key=lambda f: (f["step"], f["machine"])),
            "unplanned_min": unplanned,
            "planned_min": planned,
            "stops": stops,
            "parts": dict(sorted(parts.items())),
            "predictions": len(predictions),
            "predicted": _predicted(failures, predictions),
        }

    return agent


def _downtime(log: Iterable[dict[str, Any]], steps: int) -> tuple[set[int], set[int]]:
    """The steps a machine stood after a failure, and the steps it was locked out."""
    down: set[int] = set()
    locked: set[int] = set()
    since: int | None = None
    for event in log:
        if event["topic"] == "machine.failure":
            down.update(range(event["step"], min(event["repaired_at"], steps)))
        elif event["topic"] == "machine.locked":
            since = event["step"]
        elif event["topic"] == "machine.released" and since is not None:
            locked.update(range(since, event["step"]))
            since = None
    if since is not None:
        locked.update(range(since, steps))
    return down, locked


def _stretches(steps: set[int]) -> list[tuple[int, int]]:
    """Consecutive steps as ``[from, to)`` stretches, in order."""
    out: list[tuple[int, int]] = []
    for step in sorted(steps):
        if out and out[-1][1] == step:
            out[-1] = (out[-1][0], step + 1)
        else:
            out.append((step, step + 1))
    return out


# Failures whose repairs restore the same thing, and so end the same prediction episode.
_EPISODE = {"TWF": {"TWF", "OSF"}, "OSF": {"TWF", "OSF"}, "HDF": {"HDF"}, "PWF": {"PWF"}}


def _predicted(
    failures: list[dict[str, Any]], predictions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each failure a rule could foresee (not RNF): the first prediction of its mode
    on its machine since the last failure that ended the same episode, and the lead."""
    out = []
    for failure in sorted(failures, key=lambda f: (f["machine"], f["step"])):
        machine, step = failure["machine"], failure["step"]
        for mode in failure["modes"]:
            if mode not in _EPISODE:
                continue
            previous = max(
                (
                    f["step"]
                    for f in failures
                    if f["machine"] == machine
                    and f["step"] < step
                    and _EPISODE[mode] & set(f["modes"])
                ),
                default=-1,
            )
            hits = [
                p["step"]
                for p in predictions
                if p["machine"] == machine and p["mode"] == mode and previous < p["step"] < step
            ]
            out.append(
                {
                    "machine": machine,
                    "step": step,
                    "mode": mode,
                    "predicted_at": min(hits) if hits else None,
                    "lead_steps": step - min(hits) if hits else None,
                }
            )
    return out
