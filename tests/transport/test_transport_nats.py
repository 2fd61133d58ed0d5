"""The NATS binding against a real nats-server: the contract, subjects, replicas, events,
durable commands across server restarts, and a runtime spread over two connections."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import nats
import orjson
import pytest
from nats.aio.msg import Msg

from agentlink.model import (
    AgentNotFound,
    ConnectError,
    InvalidParams,
    PayloadTooLarge,
    ReadError,
    TransportError,
    UsageError,
)
from agentlink.runtime import Agent, Runtime
from agentlink.testing import CHECKS, TransportPair
from agentlink.transport import NatsTransport, Origin, Transport
from agentlink.transport._nats_names import advertised_url, reply_key
from tests.transport.nats_helpers import NatsServer, free_port

pytestmark = pytest.mark.anyio

BOUND = 20.0  # seconds any test may take before it counts as a hang


def nats_pair(server: NatsServer) -> TransportPair:
    @asynccontextmanager
    async def pair() -> AsyncIterator[tuple[Transport, Transport]]:
        async with NatsTransport(server.url) as serving, NatsTransport(server.url) as calling:
            yield serving, calling

    return pair


async def echo(frame: bytes, origin: Origin) -> bytes:
    return frame


# -- the contract and the wire ---------------------------------------------------------


@pytest.mark.parametrize("check", sorted(CHECKS))
async def test_nats_passes_the_transport_contract(check: str, nats_server: NatsServer) -> None:
    with anyio.fail_after(BOUND):
        await CHECKS[check](nats_pair(nats_server))


async def test_request_to_an_unbound_agent_fails_at_once(nats_server: NatsServer) -> None:
    async with NatsTransport(nats_server.url) as transport:
        assert isinstance(transport, Transport)
        with anyio.fail_after(2), pytest.raises(AgentNotFound) as info:
            await transport.request("cnc-404", b"{}")
    assert info.value.data == {"agent_id": "cnc-404"}


async def test_agents_and_the_registry_answer_on_the_spec_subjects(
    nats_server: NatsServer,
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handler(frame: bytes, origin: Origin) -> bytes:
        seen.append((frame.decode(), dict(origin.headers)))
        return b'{"ok":' + frame + b"}"

    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url) as transport:
            url = await transport.bind("cnc-7", handler)
            await transport.bind("registry", handler)
            bare = await nats.connect(nats_server.url)
            try:
                agent = await bare.request(
                    "agentlink.agent.cnc-7.rpc", b"1", timeout=5, headers={"Authorization": "x"}
                )
                registry = await bare.request("agentlink.registry.rpc", b"2", timeout=5)
            finally:
                await bare.close()
    assert url == nats_server.url  # ALP-CARD-007: the endpoint is the server URL
    assert (agent.data, registry.data) == (b'{"ok":1}', b'{"ok":2}')
    assert seen == [("1", {"authorization": "x"}), ("2", {})]
    assert not agent.headers  # a reply never echoes the request's headers


async def test_a_notification_is_answered_with_nothing(nats_server: NatsServer) -> None:
    arrived = anyio.Event()

    async def handler(frame: bytes, origin: Origin) -> None:
        arrived.set()

    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url) as serving,
            NatsTransport(nats_server.url) as calling,
        ):
            await serving.bind("plc-1", handler)
            with pytest.raises(UsageError, match="notification"):
                await calling.request("plc-1", b"{}")
            arrived = anyio.Event()
            await calling.notify("plc-1", b"{}")
            await arrived.wait()


async def test_replicas_of_one_agent_share_its_requests(nats_server: NatsServer) -> None:
    served: Counter[str] = Counter()

    def replica(name: str) -> Any:
        async def handler(frame: bytes, origin: Origin) -> bytes:
            served[name] += 1
            return name.encode()

        return handler

    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url) as one,
            NatsTransport(nats_server.url) as two,
            NatsTransport(nats_server.url) as caller,
        ):
            await one.bind("cnc-1", replica("one"))
            await two.bind("cnc-1", replica("two"))
            replies: list[bytes] = []

            async def call() -> None:
                replies.append(await caller.request("cnc-1", b"{}"))

            async with anyio.create_task_group() as tg:
                for _ in range(60):
                    tg.start_soon(call)
    assert len(replies) == 60
    assert served["one"] + served["two"] == 60  # each request served once
    assert served["one"] > 0
    assert served["two"] > 0


async def test_frames_over_the_limits_are_payload_too_large(nats_server: NatsServer) -> None:
    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url, max_bytes=100) as serving,
            NatsTransport(nats_server.url) as calling,
        ):
            await serving.bind("cam-1", echo)
            reply = orjson.loads(await calling.request("cam-1", b'{"x":"' + b"y" * 200 + b'"}'))
            with pytest.raises(PayloadTooLarge) as info:
                await calling.request("cam-1", b"x" * (calling.max_payload + 1))
    assert reply["id"] is None
    assert reply["error"]["code"] == -32025
    assert reply["error"]["data"] == {
        "name": "payload_too_large",
        "kind": "bytes",
        "limit": 100,
        "size": 208,
    }
    assert info.value.data["limit"] == 1 << 20


async def test_a_killed_server_fails_the_waiting_caller_promptly(nats_server: NatsServer) -> None:
    started = anyio.Event()

    async def stuck(frame: bytes, origin: Origin) -> bytes:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url) as serving,
            NatsTransport(nats_server.url, reconnect_wait=0.1) as calling,
        ):
            await serving.bind("press-9", stuck)
            failures: list[Exception] = []

            async def kill_when_started() -> None:
                await started.wait()
                await nats_server.astop()

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_when_started)
                with anyio.fail_after(5):
                    try:
                        await calling.request("press-9", b"{}")
                    except ReadError as exc:
                        failures.append(exc)
            assert [str(f) for f in failures] == [
                "connection to NATS lost before the reply arrived"
            ]
            with anyio.fail_after(1), pytest.raises(ConnectError):
                await calling.request("press-9", b"{}")
            # Reconnection never stops: the same transports work again.
            await nats_server.arestart()
            await calling.wait_connected()
            await serving.wait_connected()
            await serving.bind("press-10", echo)
            assert await calling.request("press-10", b"{}") == b"{}"


async def test_no_server_is_a_connect_error() -> None:
    with anyio.fail_after(BOUND), pytest.raises(ConnectError):
        async with NatsTransport(f"nats://127.0.0.1:{free_port()}", connect_timeout=0.5):
            pass


def test_the_transport_needs_the_asyncio_backend() -> None:
    entering = NatsTransport("nats://127.0.0.1:1").__aenter__()
    with pytest.raises(UsageError, match="asyncio"):
        entering.send(None)


def test_advertised_urls_carry_no_credentials() -> None:
    assert advertised_url("nats://user:secret@10.0.0.2:4333") == "nats://10.0.0.2:4333"
    assert advertised_url("tls://nats.plant.local") == "tls://nats.plant.local:4222"


# -- events ----------------------------------------------------------------------------


async def test_events_reach_pattern_subscribers_on_another_connection(
    nats_server: NatsServer,
) -> None:
    received: dict[str, list[str]] = {"star": [], "tail": [], "all": [], "src": []}
    done = {name: anyio.Event() for name in received}

    def collector(name: str) -> Any:
        async def callback(payload: bytes) -> None:
            event = orjson.loads(payload)
            if event["data"] == "end":
                if event["source"] == "cam-2":  # the last event published
                    done[name].set()
            else:
                received[name].append(f"{event['source']}:{event['topic']}")

        return callback

    events = [
        ("cam-1", "line1.press3.temperature"),
        ("cam-1", "line1.press3.oil.temperature"),
        ("cam-2", "line1.oven.temperature"),
        ("cam-2", "line2.press1.temperature"),
    ]
    # The last event of each source matches every pattern: once a subscriber has it, it
    # has everything published before (NATS keeps one publisher's order).
    end = [("cam-1", "line1.end.temperature"), ("cam-2", "line1.end.temperature")]
    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url) as publisher,
            NatsTransport(nats_server.url) as subscriber,
        ):
            await subscriber.subscribe_events("line1.*.temperature", collector("star"))
            await subscriber.subscribe_events("line1.>", collector("tail"))
            everything = await subscriber.subscribe_events(">", collector("all"))
            await subscriber.subscribe_events(">", collector("src"), source="cam-2")
            for seq, (source, topic) in enumerate(events + end, 1):
                data = "end" if (source, topic) in end else None
                event = {"source": source, "topic": topic, "seq": seq, "data": data}
                await publisher.publish_event(
                    source, topic, orjson.dumps(event), msg_id=f"{source}/{seq}"
                )
            for name in received:
                await done[name].wait()
            await everything.aclose()
    assert received["star"] == ["cam-1:line1.press3.temperature", "cam-2:line1.oven.temperature"]
    assert received["tail"] == [
        "cam-1:line1.press3.temperature",
        "cam-1:line1.press3.oil.temperature",
        "cam-2:line1.oven.temperature",
    ]
    assert received["all"] == [f"{s}:{t}" for s, t in events]
    assert received["src"] == ["cam-2:line1.oven.temperature", "cam-2:line2.press1.temperature"]


async def test_event_names_are_checked(nats_server: NatsServer) -> None:
    async def ignore(payload: bytes) -> None:
        return None

    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url) as transport:
            with pytest.raises(UsageError, match="one subject token"):
                await transport.publish_event("line1.cam", "quality", b"{}")
            with pytest.raises(InvalidParams, match="malformed topic pattern"):
                await transport.subscribe_events("line1.>.x", ignore)


# -- durable commands ------------------------------------------------------------------


class CountingHandler:
    """A frame handler that counts its runs; it may wait for a release first."""

    def __init__(self, *, hold: bool = False) -> None:
        self.runs: list[bytes] = []
        self.started = anyio.Event()
        self.release = anyio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, frame: bytes, origin: Origin) -> bytes:
        self.runs.append(frame)
        self.started.set()
        await self.release.wait()
        return b'{"done":' + frame + b"}"


async def test_an_accepted_command_survives_a_server_restart(nats_server: NatsServer) -> None:
    handler = CountingHandler()
    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url, durable=True, reconnect_wait=0.1) as caller:
            await caller.submit_durable("press-1", b'{"job":1}', key="job-1")  # accepted
            await nats_server.arestart()  # before any agent has seen it
            replies: list[bytes] = []
            answered = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def wait_for_reply() -> None:
                    replies.append(await caller.durable_reply("press-1", "job-1"))
                    answered.set()

                tg.start_soon(wait_for_reply)
                async with NatsTransport(nats_server.url, durable=True) as agent:
                    await agent.bind("press-1", handler)
                    await answered.wait()
            assert replies == [b'{"done":{"job":1}}']
            # A repeat of the key is answered from the store: the handler does not run again.
            again = await caller.request_durable("press-1", b'{"job":1}', key="job-1")
    assert again == replies[0]
    assert handler.runs == [b'{"job":1}']


async def test_a_restart_while_the_handler_runs_neither_loses_nor_repeats(
    nats_server: NatsServer,
) -> None:
    handler = CountingHandler(hold=True)
    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url, durable=True, reconnect_wait=0.1) as agent,
            NatsTransport(nats_server.url, durable=True, reconnect_wait=0.1) as caller,
        ):
            await agent.bind("press-2", handler)
            replies: list[bytes] = []
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    reply = await caller.request_durable("press-2", b'{"job":2}', key="job-2")
                    replies.append(reply)

                tg.start_soon(call)
                await handler.started.wait()
                await nats_server.arestart()
                handler.release.set()  # its reply is stored once the server is back
            second = await caller.request_durable("press-2", b'{"job":2}', key="job-2")
    assert replies == [b'{"done":{"job":2}}']
    assert second == replies[0]
    assert handler.runs == [b'{"job":2}']


async def test_a_redelivered_command_is_answered_from_the_store(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first acknowledgement is lost (a fault injected into the agent's connection):
    JetStream redelivers the command, and the agent answers it without running it."""
    handler = CountingHandler()
    acks: list[str] = []
    acked_again = anyio.Event()
    real_ack = Msg.ack

    async def lossy_ack(msg: Msg) -> None:
        acks.append(msg.reply)
        if len(acks) == 1:
            return  # lost on the way
        await real_ack(msg)
        acked_again.set()

    monkeypatch.setattr(Msg, "ack", lossy_ack)
    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url, durable=True, ack_wait=1.0) as agent,
            NatsTransport(nats_server.url, durable=True) as caller,
        ):
            await agent.bind("press-3", handler)
            reply = await caller.request_durable("press-3", b'{"job":3}', key="job-3")
            await acked_again.wait()
    assert reply == b'{"done":{"job":3}}'
    assert len(acks) == 2
    assert handler.runs == [b'{"job":3}']


async def test_a_foreign_reply_subject_gets_the_stored_reply(nats_server: NatsServer) -> None:
    """Another implementation names its own reply subject (ALP-NATS-009)."""
    handler = CountingHandler()
    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url, durable=True) as agent:
            await agent.bind("press-4", handler)
            bare = await nats.connect(nats_server.url)
            try:
                inbox = await bare.subscribe("my.replies.1")
                js = bare.jetstream()
                ack = await js.publish(
                    "agentlink.agent.press-4.cmd",
                    b'{"job":4}',
                    headers={"Nats-Msg-Id": "job-4", "Agentlink-Reply-To": "my.replies.1"},
                )
                reply = await inbox.next_msg(timeout=10)
                stored = await (await js.key_value("AGENTLINK_REPLIES")).get(
                    reply_key("press-4", "job-4")
                )
            finally:
                await bare.close()
    assert ack.stream == "AGENTLINK_CMD_press-4"
    assert reply.data == stored.value == b'{"done":{"job":4}}'
    assert handler.runs == [b'{"job":4}']


async def test_durable_commands_need_the_option_and_plain_ids(nats_server: NatsServer) -> None:
    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url) as plain:
            with pytest.raises(UsageError, match="durable=True"):
                await plain.request_durable("press-1", b"{}", key="k")
        async with NatsTransport(nats_server.url, durable=True) as durable:
            with pytest.raises(UsageError, match="A-Za-z0-9_-"):
                await durable.request_durable("line1.press", b"{}", key="k")
            with pytest.raises(UsageError, match="idempotency key"):
                await durable.request_durable("press-1", b"{}", key=" padded ")


# -- a runtime over NATS ---------------------------------------------------------------


async def test_two_runtimes_talk_over_nats(nats_server: NatsServer) -> None:
    planner = Agent("planner", role="decision")
    press = Agent("press-5", role="execution", capabilities=["forming.pressing"])

    @planner.tool
    async def plan(job: str) -> dict[str, str]:
        return {"plan": f"press {job}"}

    @press.tool
    async def press_part(part: str) -> dict[str, str]:
        return {"pressed": part}

    with anyio.fail_after(BOUND):
        async with (
            Runtime([planner], transport=NatsTransport(nats_server.url)) as hub,
            Runtime([press], transport=NatsTransport(nats_server.url), registry="registry") as edge,
        ):
            # The edge runtime registered its agent in the hub's registry, over NATS.
            cards = await hub.discover(capability="forming.pressing")
            pressed = await hub.peer("press-5", sender="planner").call(
                "press_part", {"part": "P-1"}
            )
            planned = await edge.peer("planner", sender="press-5").call("plan", {"job": "J-1"})
    assert [card.id for card in cards] == ["press-5"]
    assert [e.model_dump() for e in cards[0].endpoints] == [
        {"binding": "nats", "url": nats_server.url}
    ]
    assert pressed == {"pressed": "P-1"}
    assert planned == {"plan": "press J-1"}


async def test_a_handler_crash_keeps_the_binding_serving(nats_server: NatsServer) -> None:
    async def crash(frame: bytes, origin: Origin) -> bytes:
        raise RuntimeError("bug")

    with anyio.fail_after(BOUND):
        async with (
            NatsTransport(nats_server.url) as serving,
            NatsTransport(nats_server.url) as calling,
        ):
            await serving.bind("bad-1", crash)
            with pytest.raises(TransportError, match="RuntimeError"):
                await calling.request("bad-1", b"{}")


async def test_events_are_kept_in_jetstream_across_a_restart(nats_server: NatsServer) -> None:
    """A durable transport keeps events in the stream AGENTLINK_EVENTS (ALP-NATS-008):
    each once (Nats-Msg-Id ``<source>/<seq>``), and still there after a broker restart."""
    with anyio.fail_after(BOUND):
        async with NatsTransport(nats_server.url, durable=True, reconnect_wait=0.1) as nats_:
            for seq in (1, 2, 3):
                event = orjson.dumps({"source": "vib-1", "topic": "pump.rms", "seq": seq})
                await nats_.publish_event("vib-1", "pump.rms", event, msg_id=f"vib-1/{seq}")
            # A repeat of the same event (a retry after a lost ack) is stored once.
            await nats_.publish_event("vib-1", "pump.rms", event, msg_id="vib-1/3")
        await nats_server.arestart()
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            info = await js.stream_info("AGENTLINK_EVENTS")
            assert info.state.messages == 3
            stored = [await js.get_msg("AGENTLINK_EVENTS", seq) for seq in (1, 2, 3)]
            assert [orjson.loads(m.data)["seq"] for m in stored] == [1, 2, 3]
            assert {m.subject for m in stored} == {"agentlink.events.vib-1.pump.rms"}
        finally:
            await nc.close()
