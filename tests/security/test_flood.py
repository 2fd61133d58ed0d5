"""FR7, resource availability: a caller flooding a real HTTP server past its rate gets
``overloaded``, and another caller's calls all complete meanwhile."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest

from agentlink.runtime import Agent, Runtime
from agentlink.security import BearerScheme, HmacKey, Limits, Rate, SecurityConfig, mint_token
from agentlink.transport import HttpTransport
from agentlink.transport._http_client import HttpClient

pytestmark = pytest.mark.anyio

KEY = HmacKey(b"flood-test-secret-012345")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def frame(n: int, sender: str) -> bytes:
    meta = {"protocol": "agentlink/0.1", "message_id": f"{sender}-{n}", "sender": sender}
    params = {"name": "work", "arguments": {"n": n}, "_meta": meta}
    return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params})


async def test_a_flooding_caller_is_overloaded_and_the_other_is_served() -> None:
    agent = Agent("cell", role="execution")
    served: list[int] = []

    @agent.tool
    async def work(n: int) -> dict[str, int]:
        served.append(n)
        return {"n": n}

    limits = Limits(rate=Rate(20, per=1.0))
    security = SecurityConfig(bearer=BearerScheme(keys=[KEY], issuer="plant"), limits=limits)
    server = HttpTransport()
    async with Runtime([agent], transport=server, registry=None, security=security):
        url = f"{server.url}/agents/cell/rpc"
        outcomes: dict[str, list[Any]] = {"flooder": [], "operator": []}

        async def caller(name: str, count: int, client: HttpClient, start: int) -> None:
            for n in range(start, start + count):
                bearer = mint_token(KEY, subject=name, audience="cell", issuer="plant")
                reply = await client.request(
                    "POST",
                    url,
                    body=frame(n, name),
                    headers=[
                        ("Content-Type", "application/json"),
                        ("Authorization", f"Bearer {bearer}"),
                    ],
                )
                assert reply.status == 200
                outcomes[name].append(orjson.loads(reply.body))

        flood_client, operator_client = HttpClient(), HttpClient()
        try:
            async with anyio.create_task_group() as tg:
                for lane in range(8):  # eight connections of the flooder
                    tg.start_soon(caller, "flooder", 50, flood_client, 1000 * (lane + 1))
                tg.start_soon(caller, "operator", 15, operator_client, 1)
        finally:
            await flood_client.aclose()
            await operator_client.aclose()

    operator = outcomes["operator"]
    assert [r.get("result") for r in operator] == [{"output": {"n": n}} for n in range(1, 16)]
    flooder = outcomes["flooder"]
    refused = [r["error"] for r in flooder if "error" in r]
    assert refused, "the flooder was never refused"
    assert {(e["code"], e["data"]["name"]) for e in refused} == {(-32026, "overloaded")}
    assert all(e["data"]["retry_after_ms"] >= 1 for e in refused)
    # Refused calls did nothing: only the operator's and the flooder's accepted ones ran.
    assert len(served) == 15 + len(flooder) - len(refused)
