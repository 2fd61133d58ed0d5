from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import orjson
import pytest

import agentlink.discovery
from agentlink.core._dispatch import Dispatcher
from agentlink.discovery import Registry, mount_registry, run_reaper
from agentlink.model import UsageError
from tests.discovery.discovery_helpers import NOW, lease_ids, make_card

CAM = make_card("cam-1", capabilities=["vision.capture"], tags=["line-1"])
MILL = make_card("mill-3", role="execution", tags=["line-1"])


def meta(sender: str | None = "cam-1", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": "agentlink/0.1", "message_id": "m-1", **extra}
    if sender is not None:
        out["sender"] = sender
    return out


def serve(**options: Any) -> tuple[Dispatcher, Registry]:
    dispatcher = Dispatcher()
    registry = Registry(new_lease_id=lease_ids(), **options)
    mount_registry(dispatcher, registry)
    return dispatcher, registry


async def rpc(
    dispatcher: Dispatcher, method: str, params: dict[str, Any], *, now: float = NOW
) -> dict[str, Any]:
    frame = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    reply = await dispatcher.handle(frame, now=now)
    assert reply is not None
    decoded: dict[str, Any] = orjson.loads(reply)
    return decoded


async def register(
    dispatcher: Dispatcher, card: Any = CAM, *, sender: str | None = "cam-1", **kw: Any
) -> dict[str, Any]:
    now = kw.pop("now", NOW)
    params = {"_meta": meta(sender), "card": card.to_wire(), **kw}
    return await rpc(dispatcher, "registry/register", params, now=now)


def ok(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "result": result}


def error(code: int, message: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "error": {"code": code, "message": message, "data": data}}


def test_public_names_are_pinned() -> None:
    assert agentlink.discovery.__all__ == [
        "DEFAULT_HISTORY",
        "MAX_TTL_S",
        "Registry",
        "ToolRef",
        "Topology",
        "mount_registry",
        "run_reaper",
    ]
    for name in agentlink.discovery.__all__:
        assert getattr(agentlink.discovery, name) is not None


@pytest.mark.anyio
async def test_mount_routes_the_five_methods_once() -> None:
    dispatcher, registry = serve()
    assert dispatcher.methods() == [
        "registry/deregister",
        "registry/heartbeat",
        "registry/register",
        "registry/search",
        "registry/watch",
    ]
    with pytest.raises(UsageError):
        mount_registry(dispatcher, registry)


@pytest.mark.anyio
async def test_a_failed_mount_adds_nothing() -> None:
    dispatcher = Dispatcher()

    async def search(call: Any) -> None:
        return None

    dispatcher.add("registry/search", search)
    with pytest.raises(UsageError, match="registry/search"):
        mount_registry(dispatcher, Registry())
    assert dispatcher.methods() == ["registry/search"]


@pytest.mark.anyio
async def test_register_heartbeat_deregister_over_frames() -> None:
    dispatcher, _ = serve()
    assert await register(dispatcher, ttl_s=30) == ok(
        {
            "agent_id": "cam-1",
            "lease_id": "lease-1",
            "ttl_s": 30.0,
            "expires_at": "2027-01-15T08:00:30.000Z",
        }
    )
    beat = {"_meta": meta(), "agent_id": "cam-1", "lease_id": "lease-1"}
    assert await rpc(dispatcher, "registry/heartbeat", beat, now=NOW + 10.25) == ok(
        {
            "agent_id": "cam-1",
            "lease_id": "lease-1",
            "ttl_s": 30.0,
            "expires_at": "2027-01-15T08:00:40.250Z",
        }
    )
    assert await rpc(dispatcher, "registry/deregister", beat, now=NOW + 11) == ok({"removed": True})
    assert await rpc(dispatcher, "registry/deregister", beat, now=NOW + 12) == ok(
        {"removed": False}
    )


@pytest.mark.anyio
async def test_default_ttl_is_thirty_seconds() -> None:
    dispatcher, _ = serve()
    reply = await register(dispatcher)
    assert reply["result"]["ttl_s"] == 30.0


@pytest.mark.anyio
async def test_the_sender_owns_the_registration() -> None:
    dispatcher, _ = serve()
    await register(dispatcher, sender="cam-1")
    assert await register(dispatcher, sender="intruder") == error(
        -32028,
        "agent 'cam-1' is registered by another owner until its lease expires",
        {
            "name": "already_registered",
            "agent_id": "cam-1",
            "expires_at": "2027-01-15T08:00:30.000Z",
        },
    )
    assert (await register(dispatcher, sender=None))["error"]["code"] == -32028
    assert (await register(dispatcher, sender="cam-1"))["result"]["lease_id"] == "lease-2"


@pytest.mark.anyio
async def test_heartbeat_errors_over_frames() -> None:
    dispatcher, _ = serve()
    await register(dispatcher, ttl_s=5)
    unknown = {"_meta": meta(), "agent_id": "cam-9", "lease_id": "lease-1"}
    assert await rpc(dispatcher, "registry/heartbeat", unknown) == error(
        -32010,
        "agent 'cam-9' is not registered (or its lease expired)",
        {"name": "agent_not_found", "agent_id": "cam-9"},
    )
    wrong = {"_meta": meta(), "agent_id": "cam-1", "lease_id": "lease-x"}
    assert await rpc(dispatcher, "registry/heartbeat", wrong) == error(
        -32022,
        "lease 'lease-x' is not the current lease of agent 'cam-1'",
        {"name": "forbidden", "agent_id": "cam-1"},
    )
    assert (await rpc(dispatcher, "registry/deregister", wrong))["error"]["code"] == -32022
    expired = {"_meta": meta(), "agent_id": "cam-1", "lease_id": "lease-1"}
    reply = await rpc(dispatcher, "registry/heartbeat", expired, now=NOW + 5)
    assert reply["error"]["code"] == -32010


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "params", "errors"),
    [
        (
            "registry/register",
            {"card": CAM.to_wire(), "ttl_s": 0},
            [{"pointer": "/ttl_s", "message": "Input should be greater than 0"}],
        ),
        (
            "registry/register",
            {"card": CAM.to_wire(), "ttl_s": True},
            [{"pointer": "/ttl_s", "message": "Input should be a valid number"}],
        ),
        (
            "registry/register",
            {"card": {**CAM.to_wire(), "role": "boss"}},
            [
                {
                    "pointer": "/card/role",
                    "message": "String should match pattern "
                    "'^(perception|demand|execution|decision|evaluation|x-[a-z0-9][a-z0-9-]*)$'",
                }
            ],
        ),
        (
            "registry/heartbeat",
            {"agent_id": "cam-1"},
            [{"pointer": "", "message": "'lease_id' is required"}],
        ),
        (
            "registry/search",
            {"limit": 5000},
            [{"pointer": "/limit", "message": "Input should be less than or equal to 1000"}],
        ),
        (
            "registry/watch",
            {"after_seq": -1},
            [{"pointer": "/after_seq", "message": "Input should be greater than or equal to 0"}],
        ),
    ],
)
async def test_invalid_params_carry_pointers(
    method: str, params: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    dispatcher, registry = serve()
    reply = await rpc(dispatcher, method, {"_meta": meta(), **params})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"] == {"name": "invalid_params", "errors": errors}
    assert len(registry) == 0


@pytest.mark.anyio
async def test_search_over_frames_pages_and_forgets_expired_agents() -> None:
    dispatcher, _ = serve()
    await register(dispatcher, CAM, sender="cam-1", ttl_s=10)
    await register(dispatcher, MILL, sender="mill-3", ttl_s=60)
    page = {"_meta": meta(), "tag": "line-1", "limit": 1}
    assert await rpc(dispatcher, "registry/search", page) == ok(
        {"agents": [CAM.to_wire()], "next_cursor": "cam-1"}
    )
    assert await rpc(dispatcher, "registry/search", {**page, "cursor": "cam-1"}) == ok(
        {"agents": [MILL.to_wire()]}
    )
    by_capability = {"_meta": meta(), "capability": "vision"}
    assert await rpc(dispatcher, "registry/search", by_capability) == ok(
        {"agents": [CAM.to_wire()]}
    )
    assert await rpc(dispatcher, "registry/search", by_capability, now=NOW + 10) == ok(
        {"agents": []}
    )
    everyone = {"_meta": meta()}
    assert await rpc(dispatcher, "registry/search", everyone, now=NOW + 10) == ok(
        {"agents": [MILL.to_wire()]}
    )


@pytest.mark.anyio
async def test_watch_replays_the_feed() -> None:
    dispatcher, _ = serve()
    await register(dispatcher, CAM, ttl_s=10)
    await rpc(dispatcher, "registry/search", {"_meta": meta()}, now=NOW + 10)  # expires it
    watch = {"_meta": meta(), "after_seq": 0}
    assert await rpc(dispatcher, "registry/watch", watch, now=NOW + 11) == ok(
        {
            "changes": [
                {"seq": 1, "kind": "registered", "agent_id": "cam-1", "card": CAM.to_wire()},
                {"seq": 2, "kind": "expired", "agent_id": "cam-1"},
            ],
            "last_seq": 2,
        }
    )
    caught_up = {"_meta": meta(), "after_seq": 2}
    assert await rpc(dispatcher, "registry/watch", caught_up, now=NOW + 11) == ok(
        {"changes": [], "last_seq": 2}
    )


@pytest.mark.anyio
async def test_watch_purges_expired_leases_before_answering() -> None:
    dispatcher, _ = serve()
    await register(dispatcher, CAM, ttl_s=10)
    reply = await rpc(dispatcher, "registry/watch", {"_meta": meta(), "after_seq": 1}, now=NOW + 10)
    assert reply == ok(
        {"changes": [{"seq": 2, "kind": "expired", "agent_id": "cam-1"}], "last_seq": 2}
    )


@pytest.mark.anyio
async def test_watch_outside_the_window_is_told_to_resync() -> None:
    dispatcher, _ = serve(history=2)
    for n in range(4):
        await register(dispatcher, make_card(f"a{n}"), sender=f"a{n}")
    reply = await rpc(dispatcher, "registry/watch", {"_meta": meta(), "after_seq": 1})
    assert reply == error(
        -32602,
        "after_seq 1 is behind the kept history (changes 3..4 are kept); "
        "search the registry, then watch from last_seq",
        {
            "name": "invalid_params",
            "errors": [{"pointer": "/after_seq", "message": "behind the kept history"}],
            "first_seq": 3,
            "last_seq": 4,
        },
    )
    ahead = await rpc(dispatcher, "registry/watch", {"_meta": meta(), "after_seq": 9})
    assert ahead["error"]["code"] == -32602
    assert ahead["error"]["data"]["last_seq"] == 4


@pytest.mark.anyio
async def test_watch_long_poll_wakes_on_a_registration() -> None:
    dispatcher, _ = serve()
    replies: list[dict[str, Any]] = []

    async def watch() -> None:
        params = {"_meta": meta(sender="planner"), "after_seq": 0, "wait_ms": 60_000}
        replies.append(await rpc(dispatcher, "registry/watch", params))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            assert replies == []
            await register(dispatcher, CAM, now=NOW + 1)
    assert replies == [
        ok(
            {
                "changes": [
                    {"seq": 1, "kind": "registered", "agent_id": "cam-1", "card": CAM.to_wire()}
                ],
                "last_seq": 1,
            }
        )
    ]


@pytest.mark.anyio
async def test_watch_never_waits_past_the_deadline() -> None:
    dispatcher, _ = serve()
    # The deadline is 10 ms after the frame arrived; wait_ms asks for a minute.
    params = {
        "_meta": meta(deadline="2027-01-15T08:00:00.010Z"),
        "after_seq": 0,
        "wait_ms": 60_000,
    }
    with anyio.fail_after(5):
        assert await rpc(dispatcher, "registry/watch", params) == ok({"changes": [], "last_seq": 0})


@pytest.mark.anyio
async def test_reaper_expires_leases_so_watchers_see_them() -> None:
    registry = Registry(new_lease_id=lease_ids())
    registry.register(CAM, ttl_s=10, now=NOW)
    clock = [NOW + 5]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            reaper = partial(run_reaper, registry, interval_s=0.01, clock=lambda: clock[0])
            await tg.start(reaper)
            await anyio.wait_all_tasks_blocked()
            assert registry.last_seq == 1
            clock[0] = NOW + 10
            changes = await registry.wait_changes(1, wait_s=60)
            tg.cancel_scope.cancel()
    assert [(c.seq, c.kind, c.agent_id) for c in changes] == [(2, "expired", "cam-1")]


@pytest.mark.anyio
@pytest.mark.parametrize("interval", [0, -1.0, float("nan")])
async def test_reaper_rejects_a_bad_interval(interval: float) -> None:
    with pytest.raises(UsageError):
        await run_reaper(Registry(), interval_s=interval)
