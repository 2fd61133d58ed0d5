"""A secured runtime end to end: agents call each other with minted tokens in-process and
across processes' bindings; identities, roles from cards, approvals, registrations and
limits are enforced."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentlink.model import (
    Forbidden,
    Overloaded,
    PayloadTooLarge,
    TaskRejected,
    Unauthorized,
    UsageError,
)
from agentlink.runtime import Agent, Runtime
from agentlink.security import (
    Allow,
    AuditLog,
    BearerScheme,
    Deny,
    Ed25519PrivateKey,
    HmacKey,
    Limits,
    Policy,
    SecurityConfig,
    verify_audit,
)
from agentlink.transport import HttpTransport, NatsTransport
from tests.transport.nats_helpers import NatsServer

pytestmark = pytest.mark.anyio

KEY = HmacKey(b"plant-wide-secret-012345", kid="plant")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def plant(effects: list[Any]) -> list[Agent]:
    cnc = Agent("cnc", role="execution")

    @cnc.tool(safety="actuates", requires_approval=True, approvals=2)
    async def set_speed(rpm: int) -> dict[str, int]:
        effects.append(rpm)
        return {"rpm": rpm}

    @cnc.tool(safety="actuates", requires_approval=True)
    async def reset_alarm() -> dict[str, bool]:
        effects.append("reset")
        return {"reset": True}

    @cnc.tool(task=True)
    async def long_job(ms: int) -> dict[str, int]:
        await anyio.sleep(ms / 1000)
        return {"ms": ms}

    @cnc.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    cnc.emits("line1.speed")
    return [
        cnc,
        Agent("planner", role="decision"),
        Agent("qa", role="evaluation"),
        Agent("shift-lead", role="evaluation"),
        Agent("camera", role="perception", capabilities=["vision.defect-detection"]),
    ]


def config(**options: Any) -> SecurityConfig:
    ids = ("cnc", "planner", "qa", "shift-lead", "camera")
    defaults: dict[str, Any] = {
        "keys": dict.fromkeys(ids, KEY),
        "bearer": BearerScheme(keys=[KEY], issuer="plant"),
        "policy": Policy(
            rules=[
                Allow(callers=["*"], methods=["agent/ping", "tasks/*", "registry/search"]),
                Allow(callers=["role:decision"], tools=["set_*", "reset_*", "long_job"]),
                Allow(callers=["role:evaluation"], approve=["set_*", "reset_*"]),
                Allow(callers=["role:decision"], approve=["reset_*"]),
                Allow(callers=["capability:vision.*"], tools=["echo"], subscribe=["line1.*"]),
            ],
            self_approval=["reset_*"],
        ),
    }
    defaults.update(options)
    return SecurityConfig(**defaults)


def by_id(agents: list[Agent]) -> dict[str, Agent]:
    return {a.id: a for a in agents}


async def test_roles_from_cards_grant_tools_and_dual_approval_needs_two_approvers() -> None:
    effects: list[Any] = []
    agents = by_id(plant(effects))
    async with Runtime(agents.values(), security=config()):
        planner = agents["planner"].peer("cnc")
        handle = await planner.start_task("set_speed", rpm=1200)
        await agents["qa"].peer("cnc").approve(handle.id)
        await agents["qa"].peer("cnc").approve(handle.id)  # the same approver counts once
        assert (await handle.refresh()).state == "input-required"
        assert effects == []
        with pytest.raises(Forbidden):
            await planner.approve(handle.id)  # the requester, and not an approver of set_*
        await agents["shift-lead"].peer("cnc").approve(handle.id)
        assert await handle.result(timeout=5) == {"rpm": 1200}
        assert effects == [1200]
        with pytest.raises(Forbidden):
            await agents["qa"].peer("cnc").call("set_speed", rpm=1)  # evaluation may not call
        with pytest.raises(Forbidden):
            await agents["camera"].peer("cnc").approve(handle.id)


async def test_self_approval_only_where_the_policy_allows_it() -> None:
    effects: list[Any] = []
    agents = by_id(plant(effects))
    async with Runtime(agents.values(), security=config()):
        planner = agents["planner"].peer("cnc")
        handle = await planner.start_task("reset_alarm")
        await planner.approve(handle.id)  # reset_* allows self-approval
        assert await handle.result(timeout=5) == {"reset": True}
        handle = await planner.start_task("set_speed", rpm=5)
        with pytest.raises(Forbidden):
            await planner.approve(handle.id)
        await agents["qa"].peer("cnc").reject(handle.id, reason="not today")
        with pytest.raises(TaskRejected):
            await handle.result(timeout=5)
        assert effects == ["reset"]


async def test_an_agent_without_a_key_cannot_call_or_register_in_a_bearer_runtime() -> None:
    effects: list[Any] = []
    agents = plant(effects)
    intruder = Agent("intruder", role="decision")
    async with Runtime([*agents, intruder], security=config()) as rt:
        with pytest.raises(Unauthorized):
            await intruder.peer("cnc").call("echo", text="hi")
        with pytest.raises(Unauthorized):
            await rt.peer("cnc").call("echo", text="anonymous")  # no sender at all
        assert [c.id for c in await agents[1].discover(role="decision")] == ["planner"]


async def test_without_bearer_the_runtime_vouches_for_its_own_agents() -> None:
    effects: list[Any] = []
    agents = by_id(plant(effects))
    async with Runtime(agents.values(), security=config(keys={}, bearer=None)) as rt:
        assert await agents["camera"].peer("cnc").call("echo", text="x") == {"text": "x"}
        with pytest.raises(Forbidden):
            await agents["camera"].peer("cnc").call("set_speed", rpm=1)
        with pytest.raises(Unauthorized):
            await rt.peer("cnc").call("echo", text="no identity")
        assert agents["cnc"].card.security == []
        assert "security" not in agents["cnc"].card.profiles


async def test_anonymous_callers_are_served_when_the_scheme_none_is_listed() -> None:
    agents = by_id(plant([]))
    policy = Policy(
        rules=[
            Allow(callers=["*"], tools=["echo"], methods=["agent/ping"]),
            Allow(callers=["ghost"], tools=["set_speed"]),
        ]
    )
    async with Runtime(agents.values(), security=config(anonymous=True, policy=policy)) as rt:
        assert await rt.peer("cnc").call("echo", text="x") == {"text": "x"}
        with pytest.raises(Forbidden):
            await rt.peer("cnc").call("set_speed", rpm=1)
        with pytest.raises(Forbidden):  # a claimed sender without credentials is nobody
            await rt.peer("cnc", sender="ghost").call("set_speed", rpm=1)
        assert [s.type for s in agents["cnc"].card.security] == ["bearer", "none"]
        assert "security" not in agents["cnc"].card.profiles


async def test_registering_another_agents_id_is_forbidden() -> None:
    agents = by_id(plant([]))
    async with Runtime(agents.values(), security=config()) as rt:
        card = Agent("cnc-9", role="execution").card.to_wire()
        registry = agents["planner"].peer("registry")
        with pytest.raises(Forbidden):
            await registry.request("registry/register", {"card": card, "ttl_s": 5})
        assert rt.registry.get("cnc-9", now=time.time()) is None


async def test_tokens_cross_http_between_runtimes() -> None:
    effects: list[Any] = []
    # The server knows no card of these callers (no registry): the policy names them.
    policy = Policy(
        rules=[
            Allow(callers=["*"], methods=["tasks/*", "agent/ping"]),
            Allow(callers=["planner"], tools=["set_speed"]),
            Allow(callers=["qa", "shift-lead"], approve=["set_*"]),
        ]
    )
    server = HttpTransport()
    agents = by_id(plant(effects))
    async with Runtime(
        [agents["cnc"]], transport=server, registry=None, security=config(policy=policy)
    ):
        base = f"{server.url}/agents/cnc"
        callers = [agents["planner"], agents["qa"], agents["shift-lead"]]
        async with Runtime(
            callers, transport=HttpTransport(), registry=None, security=config()
        ) as rt:
            peer = rt.peer("cnc", sender="planner", address=base)
            handle = await peer.start_task("set_speed", rpm=300)
            for approver in ("qa", "shift-lead"):
                await rt.peer("cnc", sender=approver, address=base).approve(handle.id)
            assert await handle.result(timeout=5) == {"rpm": 300}
            with pytest.raises(Forbidden):
                await rt.peer("cnc", sender="qa", address=base).call("set_speed", rpm=1)
            with pytest.raises(Forbidden):
                await rt.peer("cnc", sender="camera", address=base).call("echo", text="x")
            with pytest.raises(Unauthorized):  # no key: no token
                await rt.peer("cnc", sender="intruder", address=base).call("echo", text="x")
    assert effects == [300]


async def test_tokens_cross_nats_between_runtimes(tmp_path: Path) -> None:
    nats = NatsServer(tmp_path / "js")
    nats.start()
    try:
        effects: list[Any] = []
        agents = by_id(plant(effects))
        policy = Policy(rules=[Allow(callers=["planner"], tools=["echo"])])
        async with (
            Runtime(
                [agents["cnc"]],
                transport=NatsTransport(nats.url),
                registry=None,
                security=config(policy=policy),
            ),
            Runtime(
                [agents["planner"], agents["qa"]],
                transport=NatsTransport(nats.url),
                registry=None,
                security=config(),
            ),
        ):
            assert await agents["planner"].peer("cnc").call("echo", text="n") == {"text": "n"}
            with pytest.raises(Forbidden):
                await agents["qa"].peer("cnc").call("echo", text="n")
    finally:
        nats.stop()


async def test_self_issued_ed25519_tokens_bind_each_agent_to_its_own_key() -> None:
    planner_key = Ed25519PrivateKey.generate(kid="planner")
    qa_key = Ed25519PrivateKey.generate(kid="qa")
    agents = by_id(plant([]))
    scheme = BearerScheme(
        agent_keys={"planner": [planner_key.public()], "qa": [qa_key.public()]}, issuer="plant"
    )
    policy = Policy(rules=[Allow(callers=["planner", "qa"], tools=["echo"])])
    server = HttpTransport()
    async with Runtime(
        [agents["cnc"]],
        transport=server,
        registry=None,
        security=SecurityConfig(bearer=scheme, policy=policy),
    ):
        base = f"{server.url}/agents/cnc"
        # qa signs with planner's key: a token claiming to be qa, signed by another key.
        forged = SecurityConfig(keys={"qa": planner_key, "planner": planner_key}, issuer="plant")
        async with Runtime(
            [agents["planner"], agents["qa"]],
            transport=HttpTransport(),
            registry=None,
            security=forged,
        ) as rt:
            assert await rt.peer("cnc", sender="planner", address=base).call("echo", text="a")
            with pytest.raises(Unauthorized):
                await rt.peer("cnc", sender="qa", address=base).call("echo", text="b")


async def test_limits_on_open_tasks_subscriptions_strings_and_frame_size() -> None:
    agents = by_id(plant([]))
    limits = Limits(max_open_tasks=2, max_subscriptions=1, max_string=256, max_bytes=4096)
    async with Runtime(agents.values(), security=config(limits=limits)):
        planner = agents["planner"].peer("cnc")
        first = await planner.start_task("long_job", ms=5000)
        await planner.start_task("long_job", ms=5000)
        with pytest.raises(Overloaded) as excinfo:
            await planner.start_task("long_job", ms=1)
        assert excinfo.value.data is not None
        assert excinfo.value.data["retry_after_ms"] >= 1
        await first.cancel()
        await planner.start_task("long_job", ms=1)  # one ended: room for one more
        with pytest.raises(PayloadTooLarge) as too_long:
            await agents["camera"].peer("cnc").call("echo", text="x" * 257)
        assert too_long.value.data == {"kind": "string", "limit": 256, "pointer": "/arguments/text"}
        with pytest.raises(PayloadTooLarge):
            await agents["camera"].peer("cnc").call("echo", text="x" * 60, pad=["y" * 60] * 80)
        camera = agents["camera"].peer("cnc")
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                async for _ in camera.events(["line1.*"], wait=5):
                    break

            tg.start_soon(hold)
            await anyio.wait_all_tasks_blocked()  # the first long poll waits at the agent
            with pytest.raises(Overloaded):
                await camera.request("events/subscribe", {"topics": ["line1.*"], "wait_ms": 0})
            await agents["cnc"].publish("line1.speed", {"rpm": 1})
        await camera.request("events/subscribe", {"topics": ["line1.*"], "wait_ms": 0})


async def test_the_audit_log_records_calls_refusals_approvals_and_actuations(
    tmp_path: Path,
) -> None:
    effects: list[Any] = []
    agents = by_id(plant(effects))
    audit = AuditLog(tmp_path / "audit.jsonl", key=b"audit-hmac-key-0123")
    async with Runtime(agents.values(), security=config(audit=audit)):
        planner = agents["planner"].peer("cnc")
        handle = await planner.start_task("reset_alarm")
        await planner.approve(handle.id)
        await handle.result(timeout=5)
        with pytest.raises(Forbidden):
            await agents["qa"].peer("cnc").call("reset_alarm")
    report = verify_audit(tmp_path / "audit.jsonl", key=b"audit-hmac-key-0123")
    assert report.ok
    text = (tmp_path / "audit.jsonl").read_text("utf-8")
    assert '"kind":"actuation"' in text
    assert '"kind":"approval"' in text
    assert '"outcome":"forbidden"' in text
    assert '"method":"registry/register"' in text


async def test_a_deny_rule_overrides_the_role_grant() -> None:
    agents = by_id(plant([]))
    base = config().policy
    assert base is not None
    policy = Policy(rules=[*base.rules, Deny(callers=["planner"], tools=["long_job"])])
    async with Runtime(agents.values(), security=config(policy=policy)):
        with pytest.raises(Forbidden):
            await agents["planner"].peer("cnc").start_task("long_job", ms=1)


async def test_a_secured_registry_registers_and_resolves_agents_across_http() -> None:
    agents = by_id(plant([]))
    policy = Policy(
        rules=[
            Allow(callers=["*"], methods=["registry/search"]),
            Allow(callers=["planner"], tools=["echo"]),
        ]
    )
    server = HttpTransport()
    async with Runtime([agents["cnc"]], transport=server, security=config(policy=policy)) as rt:
        registry = f"{server.url}/agents/registry"
        async with Runtime(
            [agents["planner"], Agent("stranger", role="decision")],
            transport=HttpTransport(),
            registry=registry,
            security=config(policy=policy),
        ):
            assert await agents["planner"].peer("cnc").call("echo", text="r") == {"text": "r"}
            now = time.time()
            assert rt.registry.get("planner", now=now) is not None
            assert rt.registry.get("stranger", now=now) is None  # no key: not registered


def test_a_key_without_an_id_is_refused_when_configured() -> None:
    """The key also signs the agent's card, whose signature header names the key."""
    with pytest.raises(UsageError, match="needs a kid"):
        SecurityConfig(keys={"cnc-1": HmacKey(b"s" * 32)})
    assert SecurityConfig(keys={"cnc-1": HmacKey(b"s" * 32, kid="k1")}).keys
