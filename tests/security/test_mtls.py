"""Mutual TLS on the HTTP binding (ALP-SEC-011, ALP-SEC-012): real uvicorn on 127.0.0.1,
real certificates from a throw-away CA."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from cryptography import x509

from agentlink.model import TransportError, Unauthorized, UsageError
from agentlink.runtime import Agent, Runtime
from agentlink.security import (
    DevCA,
    SecurityConfig,
    TlsConfig,
    agent_id_of,
    client_context,
    server_context,
)
from agentlink.transport import HttpTransport, Origin
from agentlink.transport._http_client import HttpClient

pytestmark = pytest.mark.anyio

META = {"protocol": "agentlink/0.1", "message_id": "m-1"}


@pytest.fixture(scope="module")
def ca() -> DevCA:
    return DevCA.generate()


@pytest.fixture
def pki(ca: DevCA, tmp_path: Path) -> dict[str, TlsConfig]:
    """TLS configs of the server (cnc-7) and of two clients, all from one CA."""
    return {name: ca.tls_config(tmp_path, name) for name in ("cnc-7", "cnc-1", "mes")}


def frame(method: str = "agent/ping", **meta: Any) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": {**META, **meta}}}
    )


@asynccontextmanager
async def recording_server(tls: TlsConfig) -> AsyncIterator[tuple[str, list[Origin]]]:
    """An mTLS server whose one agent records the origin of every frame it serves."""
    seen: list[Origin] = []

    async def handler(data: bytes, origin: Origin) -> bytes:
        seen.append(origin)
        return orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": {"ok": True}})

    async with HttpTransport(tls=tls) as server:
        url = await server.bind("cnc-7", handler)
        yield url, seen


async def test_the_server_takes_the_callers_identity_from_its_certificate(
    pki: dict[str, TlsConfig],
) -> None:
    async with recording_server(pki["cnc-7"]) as (url, seen):
        assert url.startswith("https://127.0.0.1:")
        async with HttpTransport(serve=False, tls=pki["cnc-1"]) as client:
            reply = await client.request(url, frame())
            assert orjson.loads(reply)["result"] == {"ok": True}
            await client.request(url, frame())  # the same kept-alive connection
        async with HttpTransport(serve=False, tls=pki["mes"]) as other:
            await other.request(url, frame())
    assert [o.identity for o in seen] == ["cnc-1", "cnc-1", "mes"]
    assert {o.binding for o in seen} == {"http"}


async def test_tls_13_is_negotiated_and_nothing_older_than_12_accepted(
    pki: dict[str, TlsConfig],
) -> None:
    async with recording_server(pki["cnc-7"]) as (url, _):
        port = int(url.split(":")[2].split("/")[0])
        context = pki["cnc-1"].client_context()
        stream = await anyio.connect_tcp(
            "127.0.0.1", port, ssl_context=context, tls_standard_compatible=False
        )
        async with stream:
            assert stream.extra(anyio.streams.tls.TLSAttribute.tls_version) == "TLSv1.3"
        # A client that would speak TLS 1.2 at most: accepted (TLS 1.2 is the floor).
        tls12 = pki["cnc-1"].client_context()
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        stream = await anyio.connect_tcp(
            "127.0.0.1", port, ssl_context=tls12, tls_standard_compatible=False
        )
        async with stream:
            assert stream.extra(anyio.streams.tls.TLSAttribute.tls_version) == "TLSv1.2"
        # One that speaks TLS 1.1 at most (allowed on its side): refused by the server.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = pki["cnc-1"].client_context()
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, OSError, anyio.BrokenResourceError)):
            await anyio.connect_tcp("127.0.0.1", port, ssl_context=old)
    assert (
        server_context(
            cert_file=pki["cnc-7"].cert_file,
            key_file=pki["cnc-7"].key_file,
            ca_file=None,
            require_client_cert=False,
        ).minimum_version
        == ssl.TLSVersion.TLSv1_2
    )


async def test_a_client_without_a_certificate_is_refused(
    pki: dict[str, TlsConfig],
) -> None:
    async with recording_server(pki["cnc-7"]) as (url, seen):
        client = HttpClient(ssl_context=client_context(ca_file=pki["cnc-7"].ca_file))
        try:
            with pytest.raises(TransportError):
                await client.request(
                    "POST",
                    url + "/rpc",
                    body=frame(),
                    headers=[("Content-Type", "application/json")],
                )
        finally:
            await client.aclose()
        # The refusal left the server serving.
        async with HttpTransport(serve=False, tls=pki["cnc-1"]) as good:
            await good.request(url, frame())
    assert [o.identity for o in seen] == ["cnc-1"]


async def test_a_certificate_from_another_ca_is_refused(
    pki: dict[str, TlsConfig], tmp_path: Path
) -> None:
    rogue = DevCA.generate("rogue CA")
    cert, key = rogue.issue("cnc-1").write(tmp_path / "rogue", "cnc-1")
    # It trusts the real server, and presents a certificate the server's CA never signed.
    impostor = TlsConfig(cert_file=cert, key_file=key, ca_file=pki["cnc-7"].ca_file)
    async with (
        recording_server(pki["cnc-7"]) as (url, seen),
        HttpTransport(serve=False, tls=impostor) as client,
    ):
        with pytest.raises(TransportError):
            await client.request(url, frame())
    assert seen == []


async def test_a_server_from_another_ca_is_not_trusted(
    pki: dict[str, TlsConfig], tmp_path: Path
) -> None:
    rogue = DevCA.generate("rogue CA").tls_config(tmp_path / "rogue", "cnc-7")
    rogue = TlsConfig(
        cert_file=rogue.cert_file, key_file=rogue.key_file, ca_file=pki["cnc-7"].ca_file
    )
    async with (
        recording_server(rogue) as (url, seen),
        HttpTransport(serve=False, tls=pki["cnc-1"]) as client,
    ):
        with pytest.raises(TransportError, match="TLS"):
            await client.request(url, frame())
    assert seen == []


async def test_a_certificate_that_names_no_agent_is_refused(
    ca: DevCA, pki: dict[str, TlsConfig], tmp_path: Path
) -> None:
    nobody = ca.tls_config(tmp_path / "nobody", None)
    async with (
        recording_server(pki["cnc-7"]) as (url, seen),
        HttpTransport(serve=False, tls=nobody) as client,
    ):
        with pytest.raises(TransportError):
            await client.request(url, frame())
    assert seen == []


async def test_a_plain_http_client_gets_nothing_from_a_tls_server(
    pki: dict[str, TlsConfig],
) -> None:
    async with recording_server(pki["cnc-7"]) as (url, seen), HttpTransport(serve=False) as plain:
        with pytest.raises(TransportError), anyio.fail_after(10):
            await plain.request(url.replace("https://", "http://"), frame())
    assert seen == []


async def test_server_only_tls_serves_anyone_and_names_those_with_a_certificate(
    ca: DevCA, tmp_path: Path
) -> None:
    server_tls = ca.tls_config(tmp_path, "cnc-7", require_client_cert=False)
    async with recording_server(server_tls) as (url, seen):
        anonymous = HttpClient(ssl_context=client_context(ca_file=server_tls.ca_file))
        try:
            response = await anonymous.request(
                "POST", url + "/rpc", body=frame(), headers=[("Content-Type", "application/json")]
            )
        finally:
            await anonymous.aclose()
        assert response.status == 200
        async with HttpTransport(serve=False, tls=ca.tls_config(tmp_path, "mes")) as client:
            await client.request(url, frame())
    assert [o.identity for o in seen] == [None, "mes"]


# -- the runtime over mTLS ---------------------------------------------------------------


def mill() -> Agent:
    agent = Agent("cnc-7", role="execution")

    @agent.tool
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    return agent


async def test_a_runtime_over_mtls_serves_calls_cards_and_streams(
    pki: dict[str, TlsConfig],
) -> None:
    server = HttpTransport(tls=pki["cnc-7"])
    async with Runtime(agents=[mill()], transport=server, registry=None):
        base = f"{server.url}/agents/cnc-7"
        caller = HttpTransport(serve=False, tls=pki["cnc-1"])
        async with Runtime(transport=caller, registry=None) as rt:
            peer = rt.peer("cnc-7", sender="cnc-1", address=base)
            assert await peer.call("echo", text="over TLS") == {"text": "over TLS"}
            card = await peer.card()
            assert card.endpoints[0].url == base
            assert [s.type for s in card.security] == ["mtls"]
        client = HttpClient(ssl_context=pki["mes"].client_context())
        try:
            card_response = await client.request("GET", base + "/.well-known/agentlink.json")
            assert orjson.loads(card_response.body)["security"][0]["type"] == "mtls"
            with anyio.fail_after(10):
                async for status, line in client.stream_lines(base + "/events"):
                    assert status == 200
                    assert line.startswith(b":") or line == b""
                    break
        finally:
            await client.aclose()


@pytest.mark.parametrize("configured", [True, False], ids=["SecurityConfig", "mtls-alone"])
async def test_a_certificate_for_cnc_1_cannot_speak_as_cnc_2(
    pki: dict[str, TlsConfig], configured: bool
) -> None:
    """ALP-SEC-004: the identity of the certificate and ``_meta.sender`` must agree, also
    when mutual TLS is all the runtime is given."""
    server = HttpTransport(tls=pki["cnc-7"])
    secure = SecurityConfig(mtls=True) if configured else None
    async with Runtime(agents=[mill()], transport=server, registry=None, security=secure):
        base = f"{server.url}/agents/cnc-7"
        async with Runtime(
            transport=HttpTransport(serve=False, tls=pki["cnc-1"]), registry=None
        ) as rt:
            assert await rt.peer("cnc-7", sender="cnc-1", address=base).call("echo", text="a")
            with pytest.raises(Unauthorized):
                await rt.peer("cnc-7", sender="cnc-2", address=base).call("echo", text="b")


# -- certificates --------------------------------------------------------------------------


def test_the_agent_id_comes_from_the_uri_san_only(ca: DevCA) -> None:
    issued = ca.issue("cnc-7", hosts=["plant.example", "10.0.0.5"])
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert agent_id_of(cert) == "cnc-7"
    assert agent_id_of(issued.cert_pem) == "cnc-7"
    assert (
        agent_id_of(
            cert.public_bytes(
                encoding=__import__("cryptography").hazmat.primitives.serialization.Encoding.DER
            )
        )
        == "cnc-7"
    )
    assert agent_id_of(ca.issue(None).cert_pem) is None
    assert agent_id_of(ca.cert) is None  # no SAN at all
    # What ssl's getpeercert() gives for a verified peer.
    assert (
        agent_id_of({"subjectAltName": (("DNS", "x"), ("URI", "urn:agentlink:agent:mes"))}) == "mes"
    )
    two = {"subjectAltName": (("URI", "urn:agentlink:agent:a"), ("URI", "urn:agentlink:agent:b"))}
    assert agent_id_of(two) is None  # ambiguous: nobody
    assert agent_id_of({"subjectAltName": (("URI", "urn:agentlink:agent:"),)}) is None
    assert agent_id_of({}) is None
    assert agent_id_of(None) is None


def test_unreadable_tls_material_is_a_usage_error(
    tmp_path: Path, pki: dict[str, TlsConfig]
) -> None:
    missing = TlsConfig(cert_file=tmp_path / "no.pem", key_file=tmp_path / "no.key", ca_file=None)
    with pytest.raises(UsageError, match="server certificate"):
        HttpTransport(tls=missing)
    no_ca = TlsConfig(
        cert_file=pki["cnc-7"].cert_file, key_file=pki["cnc-7"].key_file, ca_file=None
    )
    with pytest.raises(UsageError, match="CA"):
        no_ca.server_context()


def test_keys_are_written_private(pki: dict[str, TlsConfig]) -> None:
    assert Path(pki["cnc-7"].key_file).stat().st_mode & 0o077 == 0


async def test_the_dev_ca_command_makes_certificates_that_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentlink.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["keys", "dev-ca", str(tmp_path), "--agent", "cnc-7"])
    assert made.exit_code == 0, made.output
    # A second run reuses the CA: certificates issued later are trusted by the first ones.
    more = runner.invoke(app, ["keys", "dev-ca", str(tmp_path), "--agent", "mes"])
    assert more.exit_code == 0, more.output
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0

    def config(name: str) -> TlsConfig:
        return TlsConfig(
            cert_file=tmp_path / f"{name}.pem",
            key_file=tmp_path / f"{name}.key",
            ca_file=tmp_path / "ca.pem",
        )

    async with (
        recording_server(config("cnc-7")) as (url, seen),
        HttpTransport(serve=False, tls=config("mes")) as client,
    ):
        await client.request(url, frame())
    assert [o.identity for o in seen] == ["mes"]
    generated = runner.invoke(app, ["keys", "generate", str(tmp_path), "--kid", "cnc-7-2026"])
    assert generated.exit_code == 0, generated.output
    jwk = orjson.loads((tmp_path / "cnc-7-2026.jwk.json").read_bytes())
    assert jwk["kid"] == "cnc-7-2026"
    assert jwk["crv"] == "Ed25519"
