"""The conformance fixture agent against protocol/SPEC.md, section Conformance fixture agent:
its card and tools as published there, each tool's behaviour, the message table row by
row, and the ``agentlink conformance fixture`` server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from agentlink.conformance import FIXTURE_ID, fixture_agent
from agentlink.core._deadline import format_rfc3339, parse_rfc3339
from agentlink.model import (
    DeadlineExceeded,
    Forbidden,
    InvalidParams,
    InvalidToolInput,
    Measurement,
    Message,
    Tool,
    ToolExecutionError,
    error_from_wire,
)
from agentlink.runtime import Agent, Runtime, contract_net

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "protocol" / "SPEC.md").read_text("utf-8")
SECTION = SPEC.split("\n## Conformance fixture agent\n", 1)[1].split("\n## ", 1)[0]
JSON_BLOCKS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", SECTION, re.S)]
PROTOCOL = "agentlink/0.1"

pytestmark = pytest.mark.anyio


def spec_card() -> dict[str, Any]:
    """The members the **Card.** paragraph names, with their values."""
    paragraph = SECTION.split("**Card.**", 1)[1].split("\n\n", 1)[0]
    members: dict[str, Any] = {}
    for name, value in re.findall(r"`([a-z_]+)`\s+`([^`]+)`", paragraph):
        members[name] = json.loads(value) if value.startswith("[") else value
    return members


# -- hosting ------------------------------------------------------------------------------


class Fixture:
    """A running fixture with a caller (``tester``) and an approver (``supervisor``)."""

    def __init__(self, rt: Runtime, tester: Agent, supervisor: Agent) -> None:
        self.rt = rt
        self.tester = tester
        self.supervisor = supervisor

    def peer(self, sender: str = "tester") -> Any:
        agent = self.tester if sender == "tester" else self.supervisor
        return agent.peer(FIXTURE_ID)

    async def raw(self, method: str, params: dict[str, Any], **meta: Any) -> Any:
        """A hand-built request (any ``_meta``), sent without a client-side timeout."""
        frame = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": method,
                "params": {
                    **params,
                    "_meta": {"protocol": PROTOCOL, "message_id": "raw-1", **meta},
                },
            }
        )
        reply = orjson.loads(await self.rt.transport.request(FIXTURE_ID, frame))
        if "error" in reply:
            raise error_from_wire(reply["error"])
        return reply["result"]

    async def count(self) -> int:
        result = await self.peer().call("actuation_count")
        count: int = result["count"]
        return count


@pytest.fixture
async def fx() -> AsyncIterator[Fixture]:
    tester = Agent("tester", role="decision")
    supervisor = Agent("supervisor", role="decision")
    async with Runtime(agents=[fixture_agent(), tester, supervisor]) as rt:
        yield Fixture(rt, tester, supervisor)


# -- card -----------------------------------------------------------------------------------


def test_card_is_the_one_the_specification_describes() -> None:
    card = fixture_agent().card
    wire = card.to_wire()
    described = spec_card()
    assert set(described) == {
        "id",
        "name",
        "role",
        "protocol_versions",
        "capabilities",
        "assets",
        "accepts",
        "tags",
        "profiles",
    }
    for member, value in described.items():
        assert wire[member] == value, member
    assert wire["events"] == [JSON_BLOCKS[0]]
    assert wire["security"] == []


def test_tools_are_the_json_of_the_specification() -> None:
    published = JSON_BLOCKS[1]
    tools = [t.to_wire() for t in fixture_agent().card.tools]
    # Every member not shown has its default.
    assert tools == [Tool.model_validate(t).to_wire() for t in published]
    for tool, given in zip(tools, published, strict=True):
        assert {k: tool[k] for k in given} == given


def test_tools_follow_the_behaviour_table() -> None:
    declared = {t.name: t for t in fixture_agent().card.tools}
    table = SECTION.split("**Tools.**", 1)[1].split("The fixture's `tools`", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", table, re.M)
    assert [name for name, _ in rows] == list(declared)
    for name, declaration in rows:
        tool = declared[name]
        assert (tool.safety == "actuates") == declaration.startswith("actuates"), name
        assert tool.idempotent == ("idempotent" in declaration), name
        assert tool.requires_approval == ("requires_approval" in declaration), name
        assert (tool.execution == "task") == ('"execution": "task"' in declaration), name


async def test_limits_are_the_fixed_ones(fx: Fixture) -> None:
    server = fx.rt.servers[FIXTURE_ID]
    assert server.dispatcher.max_bytes == 1 << 20
    assert server.dispatcher.max_depth == 64
    assert server.dispatcher.max_batch == 64
    assert server.idempotency.ttl >= 600
    # The event log starts empty; the fixture publishes nothing on its own.
    page = await fx.raw("events/subscribe", {"topics": [">"], "after_seq": 0, "wait_ms": 0})
    assert page == {"events": [], "last_seq": 0}


async def test_each_instance_has_its_own_counter(fx: Fixture) -> None:
    assert await fx.peer().call("stop") == {"stopped": True}
    assert await fx.count() == 1
    async with Runtime(agents=[fixture_agent(), Agent("other", role="decision")]) as rt:
        assert rt.servers[FIXTURE_ID].agent is not fx.rt.servers[FIXTURE_ID].agent
        other = rt.servers["other"].agent.peer(FIXTURE_ID)
        assert await other.call("actuation_count") == {"count": 0}


# -- tools --------------------------------------------------------------------------------


async def test_echo_returns_its_text_and_takes_nothing_else(fx: Fixture) -> None:
    assert await fx.peer().call("echo", text="héllo") == {"text": "héllo"}
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("echo", text="a", extra=1)
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("echo")


async def test_add_sums(fx: Fixture) -> None:
    assert await fx.peer().call("add", a=1, b=2.5) == {"sum": 3.5}
    assert await fx.peer().call("add", a=-2, b=2) == {"sum": 0}
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("add", a="1", b=2)


async def test_fail_always_fails_with_the_fixed_error(fx: Fixture) -> None:
    for arguments in ({}, {"anything": [1, 2]}):
        with pytest.raises(ToolExecutionError) as caught:
            await fx.peer().call("fail", arguments)
        assert caught.value.code == -32014
        assert caught.value.message == "fixture failure"
        assert caught.value.data == {"tool": "fail"}


async def test_slow_sleeps_then_answers(fx: Fixture) -> None:
    assert await fx.peer().call("slow", ms=20) == {"slept_ms": 20}
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("slow", ms=60001)


async def test_slow_answers_deadline_exceeded_soon_after_the_deadline(fx: Fixture) -> None:
    deadline = time.time() + 0.3
    with pytest.raises(DeadlineExceeded) as caught:
        await fx.raw(
            "tools/call",
            {"name": "slow", "arguments": {"ms": 5000}},
            deadline=format_rfc3339(deadline),
        )
    answered = time.time()
    assert caught.value.data["started"] is True
    assert deadline - 0.01 <= answered <= deadline + 0.25


async def test_long_task_reports_each_step_then_completes(fx: Fixture) -> None:
    handle = await fx.peer().start_task("long_task", steps=4, step_ms=1)
    assert handle.task.state == "submitted"
    events = [e async for e in handle.events(after_seq=0)]
    assert [e.state for e in events if e.kind == "state"] == ["submitted", "working", "completed"]
    progress = [e.progress.fraction for e in events if e.kind == "progress" and e.progress]
    assert progress == [0.25, 0.5, 0.75, 1.0]
    assert events[-1].output == {"steps": 4}


async def test_long_task_sends_no_progress_after_cancel(fx: Fixture) -> None:
    handle = await fx.peer().start_task("long_task", steps=100, step_ms=20)
    with anyio.fail_after(5):
        async for event in handle.events(after_seq=0):
            if event.kind == "progress":
                break
    canceled = await handle.cancel()
    assert canceled.state == "canceled"
    await anyio.sleep(0.1)  # five steps' time: a progress event would have come by now
    task = await handle.refresh()
    assert task.seq == canceled.seq
    assert task.state == "canceled"


async def test_ask_waits_for_an_answer(fx: Fixture) -> None:
    handle = await fx.peer().start_task("ask", prompt="Which colour?")
    with anyio.fail_after(5):
        async for event in handle.events(after_seq=0):
            if event.state == "input-required":
                break
    task = await handle.refresh()
    assert task.input_request is not None
    assert task.input_request.to_wire() == {
        "kind": "input",
        "prompt": "Which colour?",
        "input_schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
        },
        "approved_by": [],
    }
    with pytest.raises(InvalidParams):
        await handle.provide_input({"answer": 7})
    assert (await handle.provide_input({"answer": "blue"})).state == "working"
    assert await handle.result(timeout=5) == {"answer": "blue"}
    events = [e async for e in handle.events(after_seq=0)]
    assert [(e.kind, e.state) for e in events] == [
        ("state", "submitted"),
        ("state", "input-required"),
        ("state", "working"),
        ("state", "completed"),
    ]


async def test_actuate_waits_for_one_approval_by_another_agent(fx: Fixture) -> None:
    handle = await fx.peer().start_task("actuate", setpoint=42.5)
    request = handle.task.input_request
    assert handle.task.state == "input-required"
    assert request is not None
    assert (request.kind, request.approvals_needed, request.approved_by) == ("approval", 1, [])
    assert await fx.count() == 0
    with pytest.raises(Forbidden):
        await fx.peer().approve(handle.id)  # the requester may not approve itself
    assert await fx.count() == 0
    approved = await fx.peer("supervisor").approve(handle.id)
    assert approved.state in ("working", "completed")
    assert await handle.result(timeout=5) == {"applied": 42.5}
    assert await fx.count() == 1


async def test_actuate_repeated_with_its_key_actuates_once(fx: Fixture) -> None:
    first = await fx.peer().start_task("actuate", setpoint=1, idempotency_key="k-1")
    again = await fx.peer().start_task("actuate", setpoint=1, idempotency_key="k-1")
    assert again.id == first.id
    await fx.peer("supervisor").approve(first.id)
    assert await first.result(timeout=5) == {"applied": 1}
    await fx.peer().start_task("actuate", setpoint=1, idempotency_key="k-1")
    assert await fx.count() == 1


async def test_stop_never_waits_and_shares_the_counter(fx: Fixture) -> None:
    assert await fx.peer().call("stop") == {"stopped": True}
    assert await fx.count() == 1
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("stop", now=True)
    handle = await fx.peer().start_task("actuate", setpoint=3)
    await fx.peer("supervisor").approve(handle.id)
    await handle.result(timeout=5)
    assert await fx.count() == 2
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("actuation_count", extra=1)


async def test_measure_reads_a_measurement_taken_now(fx: Fixture) -> None:
    before = time.time()
    output = await fx.peer().call("measure", asset_id="fixture-asset-1")
    reading = Measurement.model_validate(output)
    assert set(output) == {"value", "unit", "quality", "source_ts", "asset_id"}
    assert (reading.value, reading.unit, reading.quality) == (21.5, "CEL", "good")
    assert reading.asset_id == "fixture-asset-1"
    assert before - 0.01 <= parse_rfc3339(reading.source_ts) <= time.time() + 0.01
    with pytest.raises(InvalidToolInput):
        await fx.peer().call("measure", asset_id="")


async def test_ticks_are_checked_against_their_schema(fx: Fixture) -> None:
    event = await fx.peer().publish("fixture.ticks", {"n": 1})
    assert (event["seq"], event["source"], event["data"]) == (1, FIXTURE_ID, {"n": 1})
    with pytest.raises(InvalidParams):
        await fx.peer().publish("fixture.ticks", {"n": "one"})


# -- messages -------------------------------------------------------------------------------


def msg(performative: str, content: Any = None, **members: Any) -> Message:
    return Message.model_validate({"performative": performative, "content": content, **members})


def reply_by(seconds: float) -> str:
    return format_rfc3339(time.time() + seconds)


async def send(
    fx: Fixture, message: Message, conversation: str | None = None, sender: str = "tester"
) -> tuple[str, Any] | None:
    reply = await fx.peer(sender).send(message, conversation_id=conversation)
    return None if reply is None else (reply.performative, reply.content)


NOT_SUPPORTED = ("not-understood", {"reason": "content type not supported"})


@pytest.mark.parametrize(
    "performative",
    ["request", "query", "inform", "cfp", "accept-proposal", "subscribe", "agree", "cancel"],
)
async def test_a_content_type_other_than_json_is_not_understood(
    fx: Fixture, performative: str
) -> None:
    message = msg(performative, "text", content_type="text/plain", reply_by=reply_by(5))
    assert await send(fx, message, "c-type") == NOT_SUPPORTED


async def test_request_and_query_are_answered_with_their_content(fx: Fixture) -> None:
    content = {"part": "P-1", "qty": [1, 2]}
    assert await send(fx, msg("request", content)) == ("inform", content)
    assert await send(fx, msg("query", content)) == ("inform", content)
    assert await send(fx, msg("query", "plain")) == ("inform", "plain")
    assert await send(fx, msg("request", content, protocol="request"), "c-req") == (
        "inform",
        content,
    )


@pytest.mark.parametrize(
    "message",
    [
        msg("cfp", {"task": "mill", "cost": 5}),  # no reply_by
        msg("cfp", {"task": "mill"}, reply_by=reply_by(5)),
        msg("cfp", {"task": "mill", "cost": "5"}, reply_by=reply_by(5)),
        msg("cfp", {"task": "mill", "cost": True}, reply_by=reply_by(5)),
        msg("cfp", [5], reply_by=reply_by(5)),
        # The content is checked before the time: an expired call without cost.
        msg("cfp", {"task": "mill"}, reply_by=reply_by(-5)),
    ],
    ids=["no-reply-by", "no-cost", "cost-string", "cost-bool", "not-object", "expired-no-cost"],
)
async def test_a_cfp_without_reply_by_or_cost_is_not_understood(
    fx: Fixture, message: Message
) -> None:
    answer = await send(fx, message, "c-bad")
    assert answer is not None
    assert answer[0] == "not-understood"


async def test_an_expired_cfp_is_refused(fx: Fixture) -> None:
    expired = msg("cfp", {"task": "mill", "cost": 5}, reply_by=reply_by(-1))
    assert await send(fx, expired, "c-exp") == ("refuse", {"reason": "expired"})
    # Refusing is no proposal: an accept-proposal there is not understood.
    assert (await send(fx, msg("accept-proposal"), "c-exp") or ("",))[0] == "not-understood"


@pytest.mark.parametrize("protocol", [None, "contract-net", "iterated-contract-net"])
async def test_a_proposal_accepted_is_done(fx: Fixture, protocol: str | None) -> None:
    cfp = msg("cfp", {"task": "mill", "cost": 12.5}, reply_by=reply_by(5), protocol=protocol)
    assert await send(fx, cfp, "c-acc") == ("propose", {"cost": 12.5})
    accept = msg("accept-proposal", {"cost": 12.5}, protocol=protocol)
    assert await send(fx, accept, "c-acc") == ("inform", {"done": True})
    # The conversation is over: a second award is not understood.
    again = await send(fx, accept, "c-acc")
    assert again is not None
    assert again[0] == "not-understood"


@pytest.mark.parametrize("ending", ["reject-proposal", "cancel"])
@pytest.mark.parametrize("protocol", [None, "contract-net"])
async def test_a_proposal_rejected_or_canceled_ends_quietly(
    fx: Fixture, ending: str, protocol: str | None
) -> None:
    cfp = msg("cfp", {"task": "mill", "cost": 1}, reply_by=reply_by(5), protocol=protocol)
    assert await send(fx, cfp, "c-end") == ("propose", {"cost": 1})
    assert await send(fx, msg(ending, protocol=protocol), "c-end") is None
    after = await send(fx, msg("accept-proposal", protocol=protocol), "c-end")
    assert after is not None
    assert after[0] == "not-understood"


async def test_awards_elsewhere_are_not_understood(fx: Fixture) -> None:
    cfp = msg("cfp", {"task": "mill", "cost": 1}, reply_by=reply_by(5))
    assert await send(fx, cfp, "c-mine") == ("propose", {"cost": 1})
    for performative in ("accept-proposal", "reject-proposal"):
        # Another conversation, no conversation, and the same id from another sender.
        for conversation, sender in (
            ("c-other", "tester"),
            (None, "tester"),
            ("c-mine", "supervisor"),
        ):
            answer = await send(fx, msg(performative), conversation, sender)
            assert answer is not None
            assert answer[0] == "not-understood", (performative, conversation, sender)
    # The proposal still stands in its own conversation.
    assert await send(fx, msg("accept-proposal"), "c-mine") == ("inform", {"done": True})


async def test_the_contract_net_of_the_runtime_awards_the_fixture(fx: Fixture) -> None:
    outcome = await contract_net(fx.tester, [FIXTURE_ID], {"task": "mill", "cost": 4})
    assert outcome.proposals == {FIXTURE_ID: {"cost": 4}}
    assert outcome.winners == (FIXTURE_ID,)
    assert outcome.results == {FIXTURE_ID: {"done": True}}
    assert outcome.violations == ()


async def test_subscribe_is_refused(fx: Fixture) -> None:
    assert await send(fx, msg("subscribe", {"topic": "x"})) == (
        "refuse",
        {"reason": "not supported"},
    )


@pytest.mark.parametrize("performative", ["inform", "not-understood"])
async def test_inform_and_not_understood_get_no_reply(fx: Fixture, performative: str) -> None:
    assert await send(fx, msg(performative, {"reason": "x"})) is None
    assert await send(fx, msg(performative, "x", content_type="text/plain")) == (
        NOT_SUPPORTED if performative == "inform" else None
    )


@pytest.mark.parametrize("performative", ["agree", "refuse", "failure", "propose", "cancel"])
async def test_answers_nobody_asked_for_are_not_understood(fx: Fixture, performative: str) -> None:
    answer = await send(fx, msg(performative, {"reason": "x"}), "c-odd")
    assert answer is not None
    assert answer[0] == "not-understood"
    assert isinstance(answer[1]["reason"], str)


@pytest.mark.parametrize("performative", ["inform", "not-understood"])
async def test_no_reply_to_inform_or_not_understood_in_an_unknown_contract_net(
    fx: Fixture, performative: str
) -> None:
    message = msg(performative, {"reason": "x"}, protocol="contract-net")
    assert await send(fx, message, "c-unknown") is None


async def test_a_protocol_without_conversation_is_invalid(fx: Fixture) -> None:
    with pytest.raises(InvalidParams):
        await send(fx, msg("cfp", {"cost": 1}, reply_by=reply_by(5), protocol="contract-net"))


# -- the command line server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[str]:
    """``agentlink conformance fixture`` in a process of its own; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentlink",
            "conformance",
            "fixture",
            "--http",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # another process: no event to wait on, so a bounded poll
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, "the fixture server exited"
            assert time.monotonic() < deadline, f"nothing listens on {port} after 20 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        text = output.decode(errors="replace")
        assert "Traceback" not in text, text


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_the_fixture_server_answers_at_its_root(served: str) -> None:
    with urllib.request.urlopen(f"{served}/.well-known/agentlink.json", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        card = json.loads(response.read())
    assert card["id"] == FIXTURE_ID
    assert card["profiles"] == spec_card()["profiles"]
    assert card["endpoints"] == [{"binding": "http", "url": f"{served}/agents/{FIXTURE_ID}"}]
    meta = {"protocol": PROTOCOL, "message_id": "m-1"}
    ping = post(
        f"{served}/rpc",
        {"jsonrpc": "2.0", "id": 1, "method": "agent/ping", "params": {"_meta": meta}},
    )
    assert ping["result"]["ok"] is True
    # The registry serves beside it, and the fixture registers itself there.
    search = {"jsonrpc": "2.0", "id": 2, "method": "registry/search", "params": {"_meta": meta}}
    deadline = time.monotonic() + 10
    while not (found := post(f"{served}/agents/registry/rpc", search)["result"]["agents"]):
        assert time.monotonic() < deadline, "the fixture did not register"
        time.sleep(0.05)
    assert [c["id"] for c in found] == [FIXTURE_ID]
