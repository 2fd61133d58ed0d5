"""The HTTP binding's share of security: SSE streams are guarded like the long polls they
are built on (ALP-HTTP-013), and a bearer token never leaves the host over plain HTTP
(ALP-SEC-009)."""

from __future__ import annotations

import anyio
import pytest

from agentlink.model import UsageError
from agentlink.runtime import Agent, Runtime
from agentlink.security import Allow, BearerScheme, HmacKey, Policy, SecurityConfig, mint_token
from agentlink.transport import HttpTransport
from agentlink.transport._http_client import HttpClient

pytestmark = pytest.mark.anyio

KEY = HmacKey(b"sse-test-secret-0123456", kid="line")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bearer(subject: str) -> list[tuple[str, str]]:
    token = mint_token(KEY, subject=subject, audience="cell", issuer="plant")
    return [("Authorization", f"Bearer {token}")]


async def test_event_streams_need_credentials_and_a_grant() -> None:
    agent = Agent("cell", role="execution")
    agent.emits("line1.temp")
    policy = Policy(rules=[Allow(callers=["hmi"], subscribe=["line1.*"])])
    security = SecurityConfig(
        keys={"cell": KEY}, bearer=BearerScheme(keys=[KEY], issuer="plant"), policy=policy
    )
    server = HttpTransport()
    async with Runtime([agent], transport=server, registry=None, security=security):
        base = f"{server.url}/agents/cell"
        client = HttpClient()
        try:
            statuses = []
            for headers in ([], bearer("camera")):
                async for status, _ in client.stream_lines(
                    f"{base}/events?topic=line1.*", headers=headers
                ):
                    statuses.append(status)
                    break
            assert statuses == [401, 403]
            await agent.publish("line1.temp", {"c": 21})
            with anyio.fail_after(10):
                async for status, line in client.stream_lines(
                    f"{base}/events?topic=line1.*", headers=bearer("hmi")
                ):
                    assert status == 200
                    if line.startswith(b"data: "):
                        assert b'"c":21' in line
                        break
            card = await client.request("GET", f"{base}/.well-known/agentlink.json")
            assert card.status == 200  # the card stays public
        finally:
            await client.aclose()


async def test_a_token_is_not_sent_over_plain_http_to_another_host() -> None:
    async with HttpTransport(serve=False) as client:
        with pytest.raises(UsageError, match="ALP-SEC-009"):
            await client.request(
                "http://192.0.2.7:8700/agents/cnc",
                b"{}",
                timeout=5,
                headers={"Authorization": "Bearer x.y.z"},
            )
