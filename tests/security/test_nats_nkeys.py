"""NATS with nkey users and per-agent permissions (ALP-SEC-013): a real nats-server whose
configuration lets each agent serve only its own requests and publish events only under
its own source id."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import nkeys
import orjson
import pytest

from agentlink.model import ConnectError, Forbidden, UsageError
from agentlink.runtime import Agent, Runtime
from agentlink.transport import NatsTransport, Origin
from tests.transport.nats_helpers import NatsServer

pytestmark = pytest.mark.anyio

AGENTS = ("cnc-1", "cnc-2", "mes")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def user_seed() -> bytes:
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)


def allowed(agent_id: str) -> tuple[list[str], list[str]]:
    """What an agent may publish and subscribe to: call anyone, serve itself, publish its
    own events, read its own replies, read every event."""
    publish = [
        "agentlink.agent.>",
        "agentlink.registry.rpc",
        f"agentlink.events.{agent_id}.>",
        f"_INBOX.{agent_id}.>",
    ]
    subscribe = [f"agentlink.agent.{agent_id}.rpc", "agentlink.events.>", f"_INBOX.{agent_id}.>"]
    return publish, subscribe


def agent_permissions(agent_id: str) -> str:
    """The permissions in the server's configuration syntax (JSON is a subset of it)."""
    publish, subscribe = allowed(agent_id)
    return json.dumps(
        {
            "publish": {"allow": publish},
            "subscribe": {"allow": subscribe},
            "allow_responses": True,  # reply to the requests it serves
        }
    )


@pytest.fixture
def seeds(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name in (*AGENTS, "stranger"):
        path = tmp_path / f"{name}.nk"
        path.write_bytes(user_seed())
        path.chmod(0o600)
        paths[name] = path
    return paths


@pytest.fixture
def nats_server(tmp_path: Path, seeds: dict[str, Path]) -> Iterator[NatsServer]:
    users = []
    for name in AGENTS:
        public = nkeys.from_seed(bytearray(seeds[name].read_bytes())).public_key.decode()
        users.append(f"{{ nkey: {public}, permissions: {agent_permissions(name)} }}")
    config = tmp_path / "nats.conf"
    config.write_text("authorization { users: [\n" + ",\n".join(users) + "\n] }\n")
    server = NatsServer(tmp_path / "jetstream", config=config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def transport(server: NatsServer, seeds: dict[str, Path], agent_id: str) -> NatsTransport:
    return NatsTransport(
        server.url, nkey_seed=seeds[agent_id], inbox_prefix=f"_INBOX.{agent_id}", name=agent_id
    )


def answer(agent_id: str):  # type: ignore[no-untyped-def]
    async def handler(frame: bytes, origin: Origin) -> bytes:
        request = orjson.loads(frame)
        return orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": agent_id})

    return handler


REQUEST = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "agent/ping",
        "params": {"_meta": {"protocol": "agentlink/0.1", "message_id": "m-1"}},
    }
)


async def test_an_agent_serves_its_own_requests_and_cannot_take_anothers(
    nats_server: NatsServer, seeds: dict[str, Path]
) -> None:
    async with (
        transport(nats_server, seeds, "cnc-1") as cnc1,
        transport(nats_server, seeds, "cnc-2") as cnc2,
        transport(nats_server, seeds, "mes") as mes,
    ):
        await cnc1.bind("cnc-1", answer("cnc-1"))
        with pytest.raises(Forbidden, match=r"agentlink\.agent\.cnc-2\.rpc"):
            await cnc1.bind("cnc-2", answer("an impostor"))
        await cnc2.bind("cnc-2", answer("cnc-2"))
        for target in ("cnc-1", "cnc-2", "cnc-2", "cnc-1"):
            reply = await mes.request(target, REQUEST, timeout=10)
            assert orjson.loads(reply)["result"] == target
        # The refusal left cnc-1 connected and serving.
        assert cnc1.connected
        assert orjson.loads(await cnc2.request("cnc-1", REQUEST, timeout=10))["result"] == "cnc-1"


async def test_an_agent_cannot_publish_events_as_another(
    nats_server: NatsServer, seeds: dict[str, Path]
) -> None:
    received: list[dict[str, object]] = []
    got_one = anyio.Event()
    refused = anyio.Event()

    async def collect(data: bytes) -> None:
        received.append(orjson.loads(data))
        got_one.set()

    class Refusals(logging.Handler):
        """Sets ``refused`` when the transport logs the broker's refusal (it comes back
        from the broker after the publish, on its own)."""

        def emit(self, record: logging.LogRecord) -> None:
            if "refused publish on agentlink.events.cnc-2" in record.getMessage():
                refused.set()

    handler = Refusals(logging.WARNING)
    log = logging.getLogger("agentlink.nats")
    log.addHandler(handler)
    try:
        async with (
            transport(nats_server, seeds, "mes") as mes,
            transport(nats_server, seeds, "cnc-1") as cnc1,
        ):
            await mes.subscribe_events(">", collect)
            forged = {"source": "cnc-2", "topic": "spindle.load", "seq": 1, "data": 99}
            await cnc1.publish_event("cnc-2", "spindle.load", orjson.dumps(forged))
            own = {"source": "cnc-1", "topic": "spindle.load", "seq": 1, "data": 42}
            await cnc1.publish_event("cnc-1", "spindle.load", orjson.dumps(own))
            with anyio.fail_after(10):
                await got_one.wait()
                await refused.wait()
            # NATS keeps one publisher's order: the forged event would have come first.
            assert received == [own]
    finally:
        log.removeHandler(handler)


async def test_an_agent_cannot_stand_in_for_the_registry(
    nats_server: NatsServer, seeds: dict[str, Path]
) -> None:
    async with transport(nats_server, seeds, "cnc-1") as cnc1:
        with pytest.raises(Forbidden, match=r"agentlink\.registry\.rpc"):
            await cnc1.bind("registry", answer("a fake registry"))
        # Subscriptions it is allowed are unaffected.
        await cnc1.subscribe_events("line1.>", _ignore)


async def _ignore(data: bytes) -> None:
    return None


async def test_unknown_or_missing_keys_cannot_connect(
    nats_server: NatsServer, seeds: dict[str, Path]
) -> None:
    for options in ({"nkey_seed": seeds["stranger"]}, {}):
        with pytest.raises(ConnectError):
            async with NatsTransport(nats_server.url, connect_timeout=2, **options):  # type: ignore[arg-type]
                pass


def test_credential_options_are_checked_early(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no NATS credentials file"):
        NatsTransport(nkey_seed=tmp_path / "missing.nk")
    seed = tmp_path / "a.nk"
    seed.write_bytes(user_seed())
    with pytest.raises(UsageError, match="not both"):
        NatsTransport(nkey_seed=seed, credentials=seed)
    assert [s.type for s in NatsTransport(nkey_seed=seed).security_schemes] == ["nkey"]
    assert NatsTransport().security_schemes == []


async def test_a_runtime_with_an_nkey_lists_the_scheme_in_its_card(
    nats_server: NatsServer, seeds: dict[str, Path]
) -> None:
    mill = Agent("cnc-1", role="execution")
    async with (
        Runtime(agents=[mill], transport=transport(nats_server, seeds, "cnc-1"), registry=None),
        Runtime(transport=transport(nats_server, seeds, "mes"), registry=None) as caller,
    ):
        card = await caller.peer("cnc-1", sender="mes").card()
        assert [s.type for s in card.security] == ["nkey"]


# -- user credentials files (operator mode: user JWTs signed by the account) ----------------


def nats_jwt(signer: Any, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A NATS JWT (v2) signed by ``signer`` (an nkeys key pair)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims: dict[str, Any] = {
        "jti": "",
        "iat": int(time.time()),
        "iss": signer.public_key.decode(),
        "name": name,
        "sub": subject,
        "nats": {**nats, "version": 2},
    }
    digest = hashlib.new("sha512_256", json.dumps(claims, separators=(",", ":")).encode())
    claims["jti"] = base64.b32encode(digest.digest()).decode().rstrip("=")
    header = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{body}.{b64(signer.sign(f'{header}.{body}'.encode()))}"


def key_pair(prefix: int) -> tuple[bytes, Any]:
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    return seed, nkeys.from_seed(bytearray(seed))


async def test_a_user_credentials_file_carries_the_same_permissions(tmp_path: Path) -> None:
    _, operator = key_pair(nkeys.PREFIX_BYTE_OPERATOR)
    _, account = key_pair(nkeys.PREFIX_BYTE_ACCOUNT)
    unlimited = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1}
    account_jwt = nats_jwt(
        operator,
        account.public_key.decode(),
        "plant",
        {"type": "account", "limits": {**unlimited, "wildcards": True, "conn": -1, "leaf": -1}},
    )
    config = tmp_path / "nats.conf"
    operator_jwt = nats_jwt(operator, operator.public_key.decode(), "op", {"type": "operator"})
    preload = f"{{ {account.public_key.decode()}: {account_jwt} }}"
    config.write_text(f"operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {preload}\n")
    creds = {}
    for name in ("cnc-1", "mes"):
        seed, user = key_pair(nkeys.PREFIX_BYTE_USER)
        publish, subscribe = allowed(name)
        claims = {
            "type": "user",
            "pub": {"allow": publish},
            "sub": {"allow": subscribe},
            "resp": {"max": 1, "ttl": 0},
            **dict.fromkeys(("subs", "data", "payload"), -1),
        }
        user_jwt = nats_jwt(account, user.public_key.decode(), name, claims)
        creds[name] = tmp_path / f"{name}.creds"
        creds[name].write_text(
            f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n"
        )
    server = NatsServer(tmp_path / "jetstream", config=config, jetstream=False)
    server.start()
    try:
        async with (
            NatsTransport(
                server.url, credentials=creds["cnc-1"], inbox_prefix="_INBOX.cnc-1"
            ) as cnc1,
            NatsTransport(server.url, credentials=creds["mes"], inbox_prefix="_INBOX.mes") as mes,
        ):
            await cnc1.bind("cnc-1", answer("cnc-1"))
            with pytest.raises(Forbidden):
                await cnc1.bind("cnc-2", answer("an impostor"))
            assert (
                orjson.loads(await mes.request("cnc-1", REQUEST, timeout=10))["result"] == "cnc-1"
            )
            assert [s.type for s in cnc1.security_schemes] == ["nkey"]
    finally:
        server.stop()
