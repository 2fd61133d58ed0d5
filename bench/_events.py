"""Event fan-out: one publisher, 100 subscribers, events delivered per second.

In process, an agent publishes on a Runtime whose 100 other agents each handle the topic
(``@agent.on_event("bench.>")``). Its floor awaits 100 handlers directly for each event
(the least any bus can do); its anchor gives each subscriber an anyio memory stream and a
task, the usual way to keep a slow subscriber from blocking the others.

Over NATS, the publisher and the 100 subscribers are hosted by two Runtimes on two
connections to one nats-server. Its floor is bare nats-py: 100 subscriptions on one
connection, publishing on another.

The publisher keeps at most ``WINDOW`` events ahead of the slowest delivery, as a
publisher that respects back-pressure would: a broker drops a subscriber connection that
falls too far behind, and a bounded mailbox drops events.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import orjson

from ._report import Group
from ._settings import Settings

__all__ = ["events"]

DATA: Final = {"asset_id": "pump-3", "rms_mm_s": 2.81, "quality": "good"}
TOPIC: Final = "bench.vibration"
WINDOW: Final = 200  # events published ahead of the deliveries
BATCH: Final = 50  # events published between two checks of the window
DEADLINE: Final = 120.0  # seconds a fan-out run may take before it fails


class Deliveries:
    """Counts deliveries; wakes the publisher when the count reaches what it waits for."""

    def __init__(self) -> None:
        self.count = 0
        self._target = 0
        self._reached: anyio.Event | None = None

    def add(self) -> None:
        self.count += 1
        if self._reached is not None and self.count >= self._target:
            self._reached.set()
            self._reached = None

    async def reach(self, target: int) -> None:
        if self.count >= target:
            return
        self._target = target
        self._reached = anyio.Event()
        await self._reached.wait()


async def _settle(
    publish: Callable[[], Awaitable[None]], deliveries: Deliveries, *, fan: int
) -> None:
    """Publish probes until one reaches every subscriber, then count from zero.

    A subscription is in place only once the broker has processed it; nats-py's ``flush``
    does not wait for that (its PING can overtake subscriptions still queued), so the first
    events of a run could otherwise miss some subscribers.
    """
    with anyio.fail_after(30):
        while True:
            before = deliveries.count
            await publish()
            with anyio.move_on_after(0.5):
                await deliveries.reach(before + fan)
                break
    await anyio.sleep(0.05)  # copies of earlier probes still on their way
    deliveries.count = 0


async def _fan_out(
    publish: Callable[[], Awaitable[None]], deliveries: Deliveries, *, events: int, fan: int
) -> float:
    """Publish ``events`` events, each delivered ``fan`` times; deliveries per second."""
    await _settle(publish, deliveries, fan=fan)
    start = time.perf_counter()
    with anyio.fail_after(DEADLINE):
        for sent in range(1, events + 1):
            await publish()
            if sent % BATCH == 0:
                await anyio.lowlevel.checkpoint()
                await deliveries.reach(max(0, sent - WINDOW) * fan)
        await deliveries.reach(events * fan)
    return events * fan / (time.perf_counter() - start)


async def _direct(events: int, fan: int) -> float:
    deliveries = Deliveries()
    event = {"topic": TOPIC, "source": "pub", "seq": 0, "data": DATA}

    async def handler(_: Any) -> None:
        deliveries.add()

    handlers = [handler] * fan

    async def publish() -> None:
        for h in handlers:
            await h(event)

    return await _fan_out(publish, deliveries, events=events, fan=fan)


async def _streams(events: int, fan: int) -> float:
    deliveries = Deliveries()
    event = {"topic": TOPIC, "source": "pub", "seq": 0, "data": DATA}
    senders = []
    async with anyio.create_task_group() as tg:
        for _ in range(fan):
            send, receive = anyio.create_memory_object_stream[Any](1024)
            senders.append(send)

            async def consume(receive: Any = receive) -> None:
                async with receive:
                    async for _ in receive:
                        deliveries.add()

            tg.start_soon(consume)

        async def publish() -> None:
            for send in senders:
                send.send_nowait(event)

        rate = await _fan_out(publish, deliveries, events=events, fan=fan)
        for send in senders:
            send.close()
    return rate


def _agents(fan: int, deliveries: Deliveries) -> tuple[Any, list[Any]]:
    from agentlink.runtime import Agent

    publisher = Agent("pub", role="perception")
    publisher.emits(TOPIC)
    subscribers = []
    for i in range(fan):
        agent = Agent(f"sub-{i:03d}", role="evaluation")

        @agent.on_event("bench.>")
        async def handle(event: Any) -> None:
            deliveries.add()

        subscribers.append(agent)
    return publisher, subscribers


async def _agentlink_inproc(events: int, fan: int) -> float:
    from agentlink.runtime import Runtime

    deliveries = Deliveries()
    publisher, subscribers = _agents(fan, deliveries)
    async with Runtime(agents=[publisher, *subscribers], registry=None) as runtime:

        async def publish() -> None:
            await publisher.publish(TOPIC, DATA)

        rate = await _fan_out(publish, deliveries, events=events, fan=fan)
        dropped = sum(s.dropped for s in runtime.bus.subscriptions)
    if dropped:
        raise RuntimeError(f"{dropped} events were dropped")
    return rate


async def _agentlink_nats(url: str, events: int, fan: int) -> float:
    from agentlink.runtime import Runtime
    from agentlink.transport import NatsTransport

    deliveries = Deliveries()
    publisher, subscribers = _agents(fan, deliveries)
    async with (
        Runtime(agents=subscribers, transport=NatsTransport(url), registry=None),
        Runtime(agents=[publisher], transport=NatsTransport(url), registry=None),
    ):

        async def publish() -> None:
            await publisher.publish(TOPIC, DATA)

        return await _fan_out(publish, deliveries, events=events, fan=fan)


async def _nats_py(url: str, events: int, fan: int) -> float:
    import nats

    deliveries = Deliveries()
    payload = orjson.dumps({"topic": TOPIC, "source": "pub", "seq": 0, "data": DATA})
    receiver = await nats.connect(url)
    sender = await nats.connect(url)
    try:

        async def handler(msg: Any) -> None:
            deliveries.add()

        for _ in range(fan):
            await receiver.subscribe("bench.events.>", cb=handler)
        await receiver.flush()

        async def publish() -> None:
            await sender.publish("bench.events.pub.vibration", payload)

        return await _fan_out(publish, deliveries, events=events, fan=fan)
    finally:
        with anyio.CancelScope(shield=True):
            await sender.close()
            await receiver.close()


async def events(group: Group, settings: Settings) -> None:
    fan = settings.subscribers
    n = settings.events
    rates: dict[str, float] = {}
    for round_ in range(settings.event_rounds):
        runs = [("direct", _direct), ("streams", _streams), ("agentlink", _agentlink_inproc)]
        for name, run in runs if round_ % 2 == 0 else runs[::-1]:
            rates[name] = max(rates.get(name, 0.0), await run(n, fan))
    unit = "deliveries/s"
    group.add("in-process direct await", rates["direct"], unit, better="higher")
    group.add("in-process memory streams", rates["streams"], unit, better="higher")
    group.add(
        "in-process agentlink",
        rates["agentlink"],
        unit,
        better="higher",
        floor="in-process direct await",
        anchor="in-process memory streams",
    )
    url = await settings.resources.nats_url()
    nats_rates: dict[str, float] = {}
    m = settings.nats_events
    for round_ in range(settings.event_rounds):
        order = ["nats-py", "agentlink"] if round_ % 2 == 0 else ["agentlink", "nats-py"]
        for name in order:
            run = _nats_py if name == "nats-py" else _agentlink_nats
            nats_rates[name] = max(nats_rates.get(name, 0.0), await run(url, m, fan))
    group.add("nats nats-py", nats_rates["nats-py"], unit, better="higher")
    group.add(
        "nats agentlink", nats_rates["agentlink"], unit, better="higher", floor="nats nats-py"
    )
    group.note = f"{fan} subscribers; best of {settings.event_rounds} runs of {n:,} events " + (
        f"in process, {m:,} over NATS"
    )
