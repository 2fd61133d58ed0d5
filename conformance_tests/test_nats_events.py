"""NATS binding, units nats-events and nats-jetstream: event subjects, the JetStream
stream over them, durable commands.

Runs only with ``--nats URL``; the suite talks to the NATS server with nats-py directly.
Durable commands are optional (ALP-NATS-009, MAY): their tests are skipped when no
JetStream stream captures ``agentlink.agent.fixture.cmd``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from wire import Target

AGENT_RPC = "agentlink.agent.fixture.rpc"
AGENT_CMD = "agentlink.agent.fixture.cmd"
TICKS_SUBJECT = "agentlink.events.fixture.fixture.ticks"


@pytest.fixture(scope="module")
def nats_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--nats")
    if not url:
        pytest.skip("no --nats URL given: the NATS binding is not tested")
    return str(url)


def run(scenario: Callable[[Any], Awaitable[Any]], url: str, timeout: float = 30) -> Any:
    import nats

    async def main() -> Any:
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            return await scenario(nc)
        finally:
            await nc.close()

    return asyncio.run(asyncio.wait_for(main(), timeout))


def encode(frame: Any) -> bytes:
    return json.dumps(frame).encode()


async def request(nc: Any, frame: Any, timeout: float = 10) -> dict[str, Any]:
    msg = await nc.request(AGENT_RPC, encode(frame), timeout=timeout)
    response: dict[str, Any] = json.loads(msg.data)
    return response


async def publish_tick(nc: Any, target: Target, n: int) -> dict[str, Any]:
    frame = target.frame("events/publish", {"topic": "fixture.ticks", "data": {"n": n}})
    response = await request(nc, frame)
    event: dict[str, Any] = response["result"]["event"]
    return event


# -- nats-events --------------------------------------------------------------------------


@pytest.mark.req("ALP-NATS-006")
def test_events_are_published_on_their_subject(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        sub = await nc.subscribe(TICKS_SUBJECT)
        await nc.flush()
        published = [await publish_tick(nc, target, n) for n in (1, 2, 3)]
        for event in published:
            msg = await sub.next_msg(timeout=5)
            assert msg.subject == TICKS_SUBJECT
            assert json.loads(msg.data) == event
            assert (event["source"], event["topic"]) == ("fixture", "fixture.ticks")
        assert [e["seq"] for e in published] == [published[0]["seq"] + i for i in range(3)]
        await sub.unsubscribe()

    run(scenario, nats_url)


@pytest.mark.req("ALP-NATS-006")
def test_event_subjects_follow_the_topic(nats_url: str, target: Target) -> None:
    """An event on another topic goes to that topic's subject, not to the ticks' one."""
    topic = f"conf.t{uuid.uuid4().hex[:10]}.deep"

    async def scenario(nc: Any) -> None:
        ticks = await nc.subscribe(TICKS_SUBJECT)
        exact = await nc.subscribe(f"agentlink.events.fixture.{topic}")
        await nc.flush()
        frame = target.frame("events/publish", {"topic": topic, "data": {"x": 1}})
        response = await request(nc, frame)
        if "error" in response:
            pytest.skip("the agent refuses events on topics it does not declare")
        msg = await exact.next_msg(timeout=5)
        assert json.loads(msg.data) == response["result"]["event"]
        with pytest.raises(asyncio.TimeoutError):
            await ticks.next_msg(timeout=0.3)

    run(scenario, nats_url)


@pytest.mark.req("ALP-NATS-007")
def test_agent_id_is_one_token_so_wildcards_work(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        card = (await request(nc, target.frame("agent/card")))["result"]
        assert "." not in card["id"]
        sub = await nc.subscribe("agentlink.events.*.fixture.>")
        await nc.flush()
        event = await publish_tick(nc, target, 9)
        msg = await sub.next_msg(timeout=5)
        assert json.loads(msg.data) == event

    run(scenario, nats_url)


# -- nats-jetstream -----------------------------------------------------------------------


@pytest.mark.req("ALP-NATS-008")
def test_events_carry_their_msg_id(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        sub = await nc.subscribe(TICKS_SUBJECT)
        await nc.flush()
        event = await publish_tick(nc, target, 11)
        msg = await sub.next_msg(timeout=5)
        assert (msg.headers or {}).get("Nats-Msg-Id") == f"fixture/{event['seq']}"

    run(scenario, nats_url)


@pytest.mark.req("ALP-NATS-008")
def test_events_are_captured_by_a_jetstream_stream(nats_url: str) -> None:
    async def scenario(nc: Any) -> None:
        import nats.errors

        js = nc.jetstream(timeout=5)
        try:
            stream = await js.find_stream_name_by_subject(TICKS_SUBJECT)
        except nats.errors.Error as exc:
            raise AssertionError(f"no JetStream stream captures {TICKS_SUBJECT}") from exc
        info = await js.stream_info(stream)
        assert "agentlink.events.>" in info.config.subjects

    run(scenario, nats_url)


async def command_stream(nc: Any) -> str:
    """The JetStream stream over the fixture's command subject; skips when there is none."""
    import nats.errors

    js = nc.jetstream(timeout=5)
    try:
        return str(await js.find_stream_name_by_subject(AGENT_CMD))
    except nats.errors.Error:
        pytest.skip("no JetStream stream captures agentlink.agent.fixture.cmd: no durable commands")


async def durable(
    nc: Any, frame: dict[str, Any], key: str, msg_id: str | None = None
) -> tuple[int, Any]:
    """Publish a durable command; returns its stream sequence and a subscription on the
    subject named in ``Agentlink-Reply-To``."""
    js = nc.jetstream(timeout=5)
    reply_to = f"conf.replies.{uuid.uuid4().hex}"
    box = await nc.subscribe(reply_to)
    await nc.flush()
    ack = await js.publish(
        AGENT_CMD,
        encode(frame),
        headers={"Nats-Msg-Id": msg_id or key, "Agentlink-Reply-To": reply_to},
    )
    return int(ack.seq), box


@pytest.mark.req("ALP-NATS-009")
def test_a_durable_command_is_answered_on_agentlink_reply_to(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        await command_stream(nc)
        key = f"conf-cmd-{uuid.uuid4().hex}"
        frame = target.frame(
            "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, idempotency_key=key
        )
        _, box = await durable(nc, frame, key)
        msg = await box.next_msg(timeout=15)
        assert json.loads(msg.data) == {
            "jsonrpc": "2.0",
            "id": frame["id"],
            "result": {"output": {"sum": 3}},
        }

    run(scenario, nats_url)


async def consumers_past(nc: Any, stream: str, seq: int) -> bool:
    """Whether the stream's consumers have acknowledged message ``seq``."""
    js = nc.jetstream(timeout=5)
    consumers = await js.consumers_info(stream)
    try:
        await js.get_msg(stream, seq)
    except Exception:  # gone from a work-queue stream: acknowledged
        return True
    return bool(consumers) and all(c.ack_floor.stream_seq >= seq for c in consumers)


@pytest.mark.req("ALP-NATS-010")
def test_durable_commands_are_acknowledged_after_the_response(
    nats_url: str, target: Target
) -> None:
    async def scenario(nc: Any) -> None:
        stream = await command_stream(nc)
        key = f"conf-cmd-{uuid.uuid4().hex}"
        call = {"name": "slow", "arguments": {"ms": 800}}
        frame = target.frame("tools/call", call, idempotency_key=key)
        seq, box = await durable(nc, frame, key)
        reply = asyncio.ensure_future(box.next_msg(timeout=20))
        while not reply.done():
            assert not await consumers_past(nc, stream, seq), "acknowledged before answering"
            await asyncio.sleep(0.1)
        assert json.loads(reply.result().data)["result"] == {"output": {"slept_ms": 800}}
        for _ in range(50):
            if await consumers_past(nc, stream, seq):
                break
            await asyncio.sleep(0.1)
        assert await consumers_past(nc, stream, seq)

    run(scenario, nats_url, timeout=60)


async def actuations(nc: Any, target: Target) -> int:
    frame = target.frame("tools/call", {"name": "actuation_count", "arguments": {}})
    return int((await request(nc, frame))["result"]["output"]["count"])


@pytest.mark.req("ALP-NATS-010")
def test_a_redelivered_command_never_executes_twice(nats_url: str, target: Target) -> None:
    """The same ``stop`` command delivered three times (again under its key, which
    JetStream may drop as a duplicate, and as a copy that got past de-duplication): one
    actuation, and every response is the first one."""

    async def scenario(nc: Any) -> None:
        await command_stream(nc)
        before = await actuations(nc, target)
        key = f"conf-cmd-{uuid.uuid4().hex}"
        frame = target.frame("tools/call", {"name": "stop", "arguments": {}}, idempotency_key=key)
        _, box = await durable(nc, frame, key)
        first = json.loads((await box.next_msg(timeout=15)).data)
        assert first["result"] == {"output": {"stopped": True}}
        await durable(nc, frame, key)
        _, copy = await durable(nc, frame, key, msg_id=f"{key}-copy")
        assert json.loads((await copy.next_msg(timeout=15)).data) == first
        await asyncio.sleep(0.2)
        assert await actuations(nc, target) == before + 1

    run(scenario, nats_url, timeout=60)
