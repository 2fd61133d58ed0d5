"""NATS binding, unit nats-rpc: request subjects, reply subjects, queue groups, the
registry's subject, notifications, size limits, bearer tokens.

Runs only with ``--nats URL`` (the NATS server where the target also serves the fixture
and its registry); the suite talks to it with nats-py directly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from wire import Target

AGENT_RPC = "agentlink.agent.fixture.rpc"
AGENT_GROUP = "agentlink.agent.fixture"
REGISTRY_RPC = "agentlink.registry.rpc"
REGISTRY_GROUP = "agentlink.registry"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def nats_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--nats")
    if not url:
        pytest.skip("no --nats URL given: the NATS binding is not tested")
    return str(url)


def run(scenario: Callable[[Any], Awaitable[Any]], url: str, timeout: float = 30) -> Any:
    """Run ``scenario(nc)`` on a fresh connection to ``url``; never longer than
    ``timeout`` seconds."""
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


async def request(nc: Any, subject: str, frame: Any, timeout: float = 10) -> dict[str, Any]:
    msg = await nc.request(subject, encode(frame), timeout=timeout)
    response: dict[str, Any] = json.loads(msg.data)
    return response


async def card_over_nats(nc: Any, target: Target, subject: str) -> dict[str, Any]:
    response = await request(nc, subject, target.frame("agent/card"))
    card: dict[str, Any] = response["result"]
    return card


@pytest.mark.req("ALP-NATS-001")
def test_requests_on_the_agent_subject_get_replies(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        card = await card_over_nats(nc, target, AGENT_RPC)
        assert card["id"] == "fixture"
        assert "nats" in {endpoint["binding"] for endpoint in card.get("endpoints", [])}
        ping = target.frame("agent/ping", id="conf-nats-1")
        response = await request(nc, AGENT_RPC, ping)
        assert response["id"] == "conf-nats-1"
        assert response["result"]["ok"] is True
        # The reply goes to the reply subject the request named, whatever it is.
        subject = f"conf.replies.{uuid.uuid4().hex}"
        box = await nc.subscribe(subject)
        call = target.frame("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}, id=7)
        await nc.publish(AGENT_RPC, encode(call), reply=subject)
        msg = await box.next_msg(timeout=10)
        assert json.loads(msg.data) == {"jsonrpc": "2.0", "id": 7, "result": {"output": {"sum": 5}}}
        await box.unsubscribe()

    run(scenario, nats_url)


async def queue_group_replies(
    nc: Any, target: Target, subject: str, group: str, count: int = 16
) -> dict[str, list[dict[str, Any]]]:
    """Join ``group`` on ``subject`` with a member that answers ``{"suite": true}``; send
    ``count`` pings; gather every reply to each."""
    inbox = f"conf.inbox.{uuid.uuid4().hex}"
    replies: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def on_reply(msg: Any) -> None:
        replies[msg.subject.rsplit(".", 1)[1]].append(json.loads(msg.data))

    async def member(msg: Any) -> None:
        frame = json.loads(msg.data)
        answer = {"jsonrpc": "2.0", "id": frame["id"], "result": {"suite": True}}
        await nc.publish(msg.reply, encode(answer))

    await nc.subscribe(f"{inbox}.*", cb=on_reply)
    ours = await nc.subscribe(subject, queue=group, cb=member)
    await nc.flush()
    for i in range(count):
        await nc.publish(subject, encode(target.frame("agent/ping", id=i)), reply=f"{inbox}.{i}")
    for _ in range(200):  # up to 10 s for a first reply to each
        if len(replies) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # time for any second reply to arrive
    await ours.unsubscribe()
    return {str(i): replies[str(i)] for i in range(count)}


@pytest.mark.req("ALP-NATS-002")
def test_the_agent_serves_in_its_queue_group(nats_url: str, target: Target) -> None:
    """A member of the queue group ``agentlink.agent.fixture`` joined by the suite shares
    the requests with the agent: each request gets exactly one reply, from one of them.
    (An agent subscribed outside the group would answer every request besides.)"""
    replies = run(lambda nc: queue_group_replies(nc, target, AGENT_RPC, AGENT_GROUP), nats_url)
    assert all(len(answers) == 1 for answers in replies.values()), replies
    from_agent = [a[0] for a in replies.values() if a[0].get("result", {}).get("ok") is True]
    assert from_agent, "the agent answered none of the requests"


@pytest.mark.req("ALP-NATS-005")
def test_the_registry_serves_its_own_subject_in_its_queue_group(
    nats_url: str, target: Target
) -> None:
    async def scenario(nc: Any) -> dict[str, Any]:
        card = await card_over_nats(nc, target, REGISTRY_RPC)
        assert card["id"] == "registry"
        search = await request(nc, REGISTRY_RPC, target.frame("registry/search", {}))
        assert isinstance(search["result"]["agents"], list)
        return await queue_group_replies(nc, target, REGISTRY_RPC, REGISTRY_GROUP)

    replies = run(scenario, nats_url)
    assert all(len(answers) == 1 for answers in replies.values()), replies
    assert any(a[0].get("result", {}).get("ok") is True for a in replies.values())


def publish_tick(target: Target, n: int, **members: Any) -> dict[str, Any]:
    return target.frame("events/publish", {"topic": "fixture.ticks", "data": {"n": n}}, **members)


def is_response(data: Any) -> bool:
    return isinstance(data, dict) and "jsonrpc" in data and ("result" in data or "error" in data)


@pytest.mark.req("ALP-NATS-003")
def test_nothing_is_sent_for_a_message_without_reply_subject(nats_url: str, target: Target) -> None:
    """A notification, and a request, published without a reply subject: both are received
    (their events are appended) and no response to either appears on any subject.
    Checked on the suite's own client too: it publishes notifications without a reply
    subject."""
    marker = int(time.time() * 1000) % 1_000_000_000

    async def scenario(nc: Any) -> None:
        watched: list[Any] = []

        async def watch(msg: Any) -> None:
            watched.append(msg)

        everything = await nc.subscribe(">", cb=watch)
        await nc.flush()
        notification = publish_tick(target, marker)
        del notification["id"]
        await nc.publish(AGENT_RPC, encode(notification))
        lost_id = f"conf-no-reply-{uuid.uuid4().hex}"
        await nc.publish(AGENT_RPC, encode(publish_tick(target, marker + 1, id=lost_id)))
        await asyncio.sleep(1.0)
        await everything.unsubscribe()
        ours = [m for m in watched if m.subject == AGENT_RPC and b"events/publish" in m.data]
        assert len(ours) == 2
        assert all(not m.reply for m in ours)
        for msg in watched:
            try:
                data = json.loads(msg.data)
            except ValueError:
                continue
            if is_response(data):
                assert data.get("id") not in (None, lost_id), (msg.subject, data)
        # Both were received and processed: their events are in the log.
        ticks: list[int] = []
        after = 0
        while True:
            params = {"topics": ["fixture.ticks"], "after_seq": after, "limit": 1000}
            page = await request(nc, AGENT_RPC, target.frame("events/subscribe", params))
            if not page["result"]["events"]:
                break
            ticks += [e["data"].get("n") for e in page["result"]["events"]]
            after = page["result"]["last_seq"]
        assert marker in ticks
        assert marker + 1 in ticks

    run(scenario, nats_url)


@pytest.mark.req("ALP-NATS-004")
def test_frame_sizes(nats_url: str, target: Target) -> None:
    """The server allows at least 1 MiB; a frame of 1 MiB is served; a larger one (when the
    server lets it through) is answered ``payload_too_large`` with ``"id": null``."""

    async def scenario(nc: Any) -> None:
        assert nc.max_payload >= MIB
        call = target.frame("tools/call", {"name": "echo", "arguments": {"text": ""}})
        padding = MIB - len(encode(call)) - 64
        call["params"]["arguments"]["text"] = "x" * padding
        assert len(encode(call)) <= MIB
        response = await request(nc, AGENT_RPC, call, timeout=20)
        assert response["result"]["output"]["text"] == "x" * padding
        if nc.max_payload <= MIB + 64:
            return  # nothing larger than the agent's limit can cross this server
        call["params"]["arguments"]["text"] = "x" * (MIB + 16)
        response = await request(nc, AGENT_RPC, call, timeout=20)
        assert response["id"] is None
        assert response["error"]["code"] == -32025
        assert response["error"]["data"]["name"] == "payload_too_large"
        assert response["error"]["data"]["kind"] == "bytes"
        assert response["error"]["data"]["limit"] <= 16 * MIB

    run(scenario, nats_url, timeout=60)


# -- bearer tokens ------------------------------------------------------------------------


def hs256(sub: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "agentlink-conformance",
        "aud": "fixture",
        "sub": sub,
        "iat": now,
        "exp": now + 600,
    }
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(b"agentlink-conformance-key", f"{head}.{body}".encode(), hashlib.sha256)
    return f"{head}.{body}.{b64(signature.digest())}"


@pytest.mark.req("ALP-NATS-011")
def test_bearer_token_in_meta_or_header(nats_url: str, target: Target) -> None:
    async def scenario(nc: Any) -> None:
        card = await card_over_nats(nc, target, AGENT_RPC)
        if not any(s.get("type") == "bearer" for s in card.get("security", [])):
            pytest.skip("the agent's card lists no bearer scheme")
        token = hs256("conf-operator")
        bare = await request(nc, AGENT_RPC, target.frame("agent/ping"))
        assert bare["error"]["code"] == -32021
        in_meta = await request(nc, AGENT_RPC, target.frame("agent/ping", auth=token))
        assert in_meta["result"]["ok"] is True
        msg = await nc.request(
            AGENT_RPC,
            encode(target.frame("agent/ping")),
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert json.loads(msg.data)["result"]["ok"] is True

    run(scenario, nats_url)
