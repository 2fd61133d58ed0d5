"""Every refusal, on every binding (in-process, HTTP, NATS): no token, an expired one, one
for another audience, a forged signature, a replayed token, a forged agent card, a tool the
policy does not grant, an approval by an agent not permitted to approve, and self-approval. Each is
answered with its documented error, recorded in the audit log, and executes nothing."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentlink.runtime import Agent, Runtime
from agentlink.security import (
    Allow,
    AuditLog,
    BearerScheme,
    Ed25519PrivateKey,
    HmacKey,
    Policy,
    SecurityConfig,
    mint_token,
    sign_card,
    verify_audit,
)
from agentlink.transport import HttpTransport, MemoryNetwork, MemoryTransport, NatsTransport
from tests.transport.nats_helpers import NatsServer

pytestmark = pytest.mark.anyio

KEY = HmacKey(b"line-1-shared-secret-0123", kid="line-1")
# cnc-7's own card key, and a key someone else made up under the same kid.
CNC7_KEY = Ed25519PrivateKey.generate(kid="cnc-7")
FORGED_KEY = Ed25519PrivateKey.generate(kid="cnc-7")
ISSUER = "plant-a"
_ids = itertools.count(1)

Send = Callable[[bytes, dict[str, str]], Awaitable[bytes]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Cell:
    """A secured cnc agent on one binding, a way to send it raw frames, and its audit log."""

    send: Send
    audit: Path
    effects: list[Any] = field(default_factory=list)
    registry: Send | None = None

    async def rpc(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        *,
        sender: str | None = None,
        to_registry: bool = False,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"protocol": "agentlink/0.1", "message_id": f"m-{next(_ids)}"}
        if sender is not None:
            meta["sender"] = sender
        frame = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        frame["params"] = {**params, "_meta": meta}
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        send = self.registry if to_registry and self.registry is not None else self.send
        reply: dict[str, Any] = orjson.loads(await send(orjson.dumps(frame), headers))
        assert reply["id"] == frame["id"]
        return reply

    async def call(self, tool: str, token: str | None, **arguments: Any) -> dict[str, Any]:
        return await self.rpc("tools/call", {"name": tool, "arguments": arguments}, token)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text("utf-8").splitlines()]


def token(subject: str, audience: str = "cnc", **claims: Any) -> str:
    return mint_token(KEY, subject=subject, audience=audience, issuer=ISSUER, claims=claims)


def cnc_agent(effects: list[Any]) -> Agent:
    cnc = Agent("cnc", role="execution")

    @cnc.tool(safety="actuates", idempotent=True)
    async def stop() -> dict[str, bool]:
        effects.append("stop")
        return {"stopped": True}

    @cnc.tool(safety="actuates", requires_approval=True)
    async def set_speed(rpm: int) -> dict[str, int]:
        effects.append(rpm)
        return {"rpm": rpm}

    @cnc.tool
    async def status() -> dict[str, int]:
        return {"effects": len(effects)}

    return cnc


def security(audit: Path) -> SecurityConfig:
    return SecurityConfig(
        keys={"cnc": KEY},
        card_keys={"cnc": [KEY], "cnc-7": [CNC7_KEY.public()]},
        require_signed_cards=True,
        bearer=BearerScheme(keys=[KEY], issuer=ISSUER),
        policy=Policy(
            rules=[
                Allow(callers=["*"], methods=["agent/ping", "tasks/*"], tools=["status"]),
                Allow(callers=["planner", "operator"], tools=["stop", "set_speed"]),
                Allow(callers=["qa", "planner"], approve=["set_*"]),
                # Commissioning registers the cells' machines (their cards bring signatures).
                Allow(callers=["commissioning"], methods=["registry/*"], register=["cnc-*"]),
            ]
        ),
        audit=AuditLog(audit),
    )


@asynccontextmanager
async def cell_on(binding: str, tmp_path: Path) -> AsyncIterator[Cell]:
    audit = tmp_path / "audit.jsonl"
    effects: list[Any] = []
    async with AsyncExitStack() as stack:
        if binding == "memory":
            network = MemoryNetwork()
            server: Any = MemoryTransport(network)
            client: Any = MemoryTransport(network)
            address = "cnc"
        elif binding == "http":
            server = HttpTransport()
            client = await stack.enter_async_context(HttpTransport(serve=False))
            address = ""
        else:
            nats = NatsServer(tmp_path / "js")
            nats.start()
            stack.callback(nats.stop)
            server = NatsTransport(nats.url)
            client = await stack.enter_async_context(NatsTransport(nats.url))
            address = "cnc"
        await stack.enter_async_context(
            Runtime([cnc_agent(effects)], transport=server, security=security(audit))
        )
        registry = "registry"
        if binding == "http":
            address = f"{server.url}/agents/cnc"
            registry = f"{server.url}/agents/registry"

        def sender_to(to: str) -> Send:
            async def send(frame: bytes, headers: dict[str, str]) -> bytes:
                reply: bytes = await client.request(to, frame, timeout=10, headers=headers)
                return reply

            return send

        yield Cell(sender_to(address), audit, effects, registry=sender_to(registry))


@pytest.fixture(params=["memory", "http", "nats"])
async def cell(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cell]:
    async with cell_on(request.param, tmp_path) as running:
        yield running


async def ended(cell: Cell, task_id: str) -> dict[str, Any]:
    """The task once it has ended, followed with long polls."""
    seq = 0
    while True:
        params = {"task_id": task_id, "after_seq": seq, "wait_ms": 5000}
        page = (await cell.rpc("tasks/subscribe", params, token("qa")))["result"]
        seq = page["task"]["seq"]
        if page["task"]["state"] in ("completed", "failed", "canceled", "rejected"):
            return dict(page["task"])


def refused(reply: dict[str, Any], code: int, name: str) -> dict[str, Any]:
    assert "error" in reply, reply
    assert (reply["error"]["code"], reply["error"]["data"]["name"]) == (code, name), reply
    return dict(reply["error"])


def recorded(cell: Cell, outcome: str, **match: Any) -> dict[str, Any]:
    found = [
        r
        for r in cell.records()
        if r["outcome"] == outcome and all(r.get(k) == v for k, v in match.items())
    ]
    assert found, f"no {outcome} record with {match} in {cell.records()}"
    return found[-1]


async def test_a_valid_token_is_served_and_recorded(cell: Cell) -> None:
    reply = await cell.call("stop", token("operator"))
    assert reply["result"] == {"output": {"stopped": True}}
    assert cell.effects == ["stop"]
    record = recorded(cell, "ok", method="tools/call", tool="stop")
    assert record["caller"] == "operator"
    assert record["authenticated"] is True
    assert record["actuates"] is True
    assert record["target"] == "cnc"
    assert verify_audit(cell.audit).ok


@pytest.mark.parametrize(
    ("credential", "why"),
    [
        (lambda: None, "no credentials"),
        (
            lambda: token("operator", exp=int(time.time()) - 600, iat=int(time.time()) - 900),
            "expired",
        ),
        (
            lambda: mint_token(KEY, subject="operator", audience="mes", issuer=ISSUER),
            "audience",
        ),
        (
            lambda: mint_token(
                HmacKey(b"not-the-line-1-secret-99"),
                subject="operator",
                audience="cnc",
                issuer=ISSUER,
            ),
            "signature",
        ),
    ],
    ids=["no-token", "expired", "other-audience", "wrong-signature"],
)
async def test_bad_credentials_are_unauthorized_recorded_and_act_not(
    cell: Cell, credential: Callable[[], str | None], why: str
) -> None:
    bearer = credential()
    error = refused(await cell.call("stop", bearer), -32021, "unauthorized")
    assert why in error["data"]["reason"]
    assert cell.effects == []
    record = recorded(cell, "unauthorized", method="tools/call", tool="stop")
    assert record["authenticated"] is False
    assert record["error_code"] == -32021
    if bearer is not None:
        assert bearer not in cell.audit.read_text("utf-8")
        assert bearer not in json.dumps(error)


async def test_a_replayed_token_commands_once(cell: Cell) -> None:
    bearer = token("operator")
    assert "result" in await cell.call("stop", bearer)
    error = refused(await cell.call("stop", bearer), -32021, "unauthorized")
    assert "replayed" in error["data"]["reason"]
    assert cell.effects == ["stop"]
    recorded(cell, "unauthorized", method="tools/call", tool="stop")
    # Reads may reuse a token.
    assert "result" in await cell.rpc("agent/ping", {}, bearer)


async def test_a_tool_the_policy_does_not_grant_is_forbidden(cell: Cell) -> None:
    error = refused(await cell.call("stop", token("camera")), -32022, "forbidden")
    assert "stop" in error["data"]["reason"]
    assert cell.effects == []
    record = recorded(cell, "forbidden", method="tools/call", tool="stop")
    assert (record["caller"], record["authenticated"]) == ("camera", True)
    assert "result" in await cell.call("status", token("camera"))


async def test_an_agent_not_permitted_to_approve_is_forbidden(cell: Cell) -> None:
    task = (await cell.call("set_speed", token("planner"), rpm=900))["result"]["task"]
    assert task["state"] == "input-required"
    params = {"task_id": task["id"], "decision": "approve"}
    refused(
        await cell.rpc("tasks/approve", params, token("operator"), sender="operator"),
        -32022,
        "forbidden",
    )
    snapshot = await cell.rpc("tasks/get", {"task_id": task["id"]}, token("planner"))
    assert snapshot["result"]["state"] == "input-required"
    assert snapshot["result"]["input_request"]["approved_by"] == []
    assert cell.effects == []
    record = recorded(cell, "forbidden", method="tasks/approve", caller="operator")
    assert record["kind"] == "approval"
    assert record["task_id"] == task["id"]
    # The permitted approver's approval counts, and the actuation is recorded.
    approved = await cell.rpc("tasks/approve", params, token("qa"), sender="qa")
    assert "result" in approved, approved
    assert (await ended(cell, task["id"]))["output"] == {"rpm": 900}
    assert cell.effects == [900]
    recorded(cell, "ok", method="tasks/approve", caller="qa", decision="approve")
    actuation = [r for r in cell.records() if r["kind"] == "actuation"]
    assert actuation[-1]["tool"] == "set_speed"
    assert actuation[-1]["approved_by"] == ["qa"]
    assert actuation[-1]["caller"] == "planner"
    assert verify_audit(cell.audit).ok


async def test_self_approval_is_forbidden(cell: Cell) -> None:
    """The planner may approve set points, but not its own."""
    task = (await cell.call("set_speed", token("planner"), rpm=7))["result"]["task"]
    params = {"task_id": task["id"], "decision": "approve"}
    error = refused(
        await cell.rpc("tasks/approve", params, token("planner"), sender="planner"),
        -32022,
        "forbidden",
    )
    assert "own" in error["message"]
    snapshot = await cell.rpc("tasks/get", {"task_id": task["id"]}, token("planner"))
    assert snapshot["result"]["input_request"]["approved_by"] == []
    assert cell.effects == []
    recorded(cell, "forbidden", method="tasks/approve", caller="planner", task_id=task["id"])


async def test_the_sender_must_be_the_tokens_subject(cell: Cell) -> None:
    error = refused(
        await cell.rpc("agent/ping", {}, token("operator"), sender="qa"), -32021, "unauthorized"
    )
    assert "_meta.sender" in error["data"]["reason"]


async def test_the_card_is_public(cell: Cell) -> None:
    card = await cell.rpc("agent/card", {}, None)
    assert card["result"]["security"] == [
        {"type": "bearer", "description": "", "algorithms": ["HS256"], "issuer": ISSUER}
    ]
    assert "security" in card["result"]["profiles"]


async def test_each_command_of_a_batch_may_carry_its_own_token(cell: Cell) -> None:
    frames = []
    for n in range(2):
        meta = {
            "protocol": "agentlink/0.1",
            "message_id": f"batch-{n}",
            "auth": token("operator"),
        }
        params = {"name": "stop", "arguments": {}, "_meta": meta}
        frames.append({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params})
    shared = {"Authorization": f"Bearer {token('operator')}"}
    replies = orjson.loads(await cell.send(orjson.dumps(frames), shared))
    assert sorted(r["id"] for r in replies if "result" in r) == [0, 1]
    assert cell.effects == ["stop", "stop"]
    # One token in the header for two commands: the second is a replay.
    for frame in frames:
        del frame["params"]["_meta"]["auth"]
        frame["params"]["_meta"]["message_id"] += "-again"
    replies = orjson.loads(await cell.send(orjson.dumps(frames), shared))
    assert ["result" in r for r in sorted(replies, key=lambda r: r["id"])] == [True, False]
    assert cell.effects == ["stop", "stop", "stop"]


async def test_a_forged_card_is_unauthorized_recorded_and_not_registered(cell: Cell) -> None:
    """Nobody registers as cnc-7 without cnc-7's key, not even a caller allowed to register
    cnc-7: the card's signature must verify under a key the registry trusts for cnc-7."""
    card = Agent("cnc-7", role="execution").card
    commissioning = token("commissioning", audience="registry")
    for forged in (sign_card(card, FORGED_KEY), card):  # a forged signature, and none at all
        reply = await cell.rpc(
            "registry/register",
            {"card": forged.to_wire(), "ttl_s": 30},
            commissioning,
            to_registry=True,
        )
        refused(reply, -32021, "unauthorized")
        recorded(cell, "unauthorized", method="registry/register", caller="commissioning")
        commissioning = token("commissioning", audience="registry")
    search = {"agent_id": "cnc-7"}
    found = await cell.rpc("registry/search", search, commissioning, to_registry=True)
    assert found["result"]["agents"] == []
    genuine = sign_card(card, CNC7_KEY).to_wire()
    registered = await cell.rpc(
        "registry/register",
        {"card": genuine, "ttl_s": 30},
        token("commissioning", audience="registry"),
        to_registry=True,
    )
    assert "result" in registered, registered
    found = await cell.rpc(
        "registry/search", search, token("commissioning", audience="registry"), to_registry=True
    )
    assert [a["signature"] for a in found["result"]["agents"]] == [genuine["signature"]]
