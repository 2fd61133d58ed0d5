"""The fixture's secure mode (protocol/SPEC.md, Conformance fixture agent, Secure mode):
served by ``agentlink conformance fixture --secure``, it passes the suite's security tests,
the safe-actuation tests that need identities, and the bearer tests of the HTTP binding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentlink.conformance import FIXTURE_PROFILES, fixture_agent, fixture_security
from agentlink.runtime import Runtime
from agentlink.security import HmacKey, TokenVerifier, mint_token
from agentlink.transport import HttpTransport
from tests.transport.nats_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance_tests"
#: The HTTP binding's bearer tests (ALP-HTTP-007), which need the secure mode too.
HTTP_BEARER_TESTS = (
    "test_the_bearer_token_is_accepted_in_the_authorization_header",
    "test_the_bearer_token_is_also_accepted_in_meta_auth",
    "test_without_a_token_a_secured_target_answers_unauthorized",
)


def run_secure_suite(tmp_path: Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Serve the secure fixture from the CLI and run the security tests against it."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentlink",
            "conformance",
            "fixture",
            "--http",
            f"127.0.0.1:{port}",
            "--secure",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("fixture at http://"), line + server.stdout.read()
        report = tmp_path / "secure.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(SUITE / "test_sec_bearer.py"),
                *(f"{SUITE / 'test_http_rpc.py'}::{name}" for name in HTTP_BEARER_TESTS),
                "--target",
                f"http://127.0.0.1:{port}",
                "--report",
                str(report),
                "-p",
                "no:randomly",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
        return json.loads(report.read_text("utf-8")), done
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_the_secure_fixture_passes_the_security_tests(tmp_path: Path) -> None:
    report, done = run_secure_suite(tmp_path)
    assert "failed" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
    rows = report["requirements"]
    passed = {rid for rid, row in rows.items() if row["status"] == "pass"}
    security = {rid for rid in rows if rid.startswith("ALP-SEC-")}
    wire_tested = security - {
        "ALP-SEC-011",  # mutual TLS, the TLS fixture's
        "ALP-SEC-012",
        "ALP-SEC-013",  # NATS nkeys
        "ALP-SEC-014",  # signed cards
        "ALP-SEC-015",
        "ALP-SEC-016",
        "ALP-SEC-018",  # audit: not observable on the wire
        "ALP-SEC-021",
    }
    assert wire_tested <= passed, sorted(wire_tested - passed)
    assert {"ALP-ACT-009", "ALP-ACT-011", "ALP-HTTP-007"} <= passed
    assert not [rid for rid, row in rows.items() if row["status"] == "fail"]


@pytest.mark.anyio
async def test_the_secure_fixture_claims_security_and_lists_one_bearer_scheme() -> None:
    agent = fixture_agent(secure=True)
    async with Runtime([agent], transport=HttpTransport(), security=fixture_security()):
        card = agent.card.to_wire()
    assert card["profiles"] == [*FIXTURE_PROFILES, "security"]
    assert card["security"] == [
        {
            "type": "bearer",
            "description": "",
            "algorithms": ["HS256"],
            "issuer": "agentlink-conformance",
        }
    ]
    assert "security" not in fixture_agent().card.profiles


def test_fixture_tokens_are_the_published_ones() -> None:
    """The key and issuer the specification publishes verify a token minted with them."""
    config = fixture_security()
    assert config.bearer is not None
    key = HmacKey(b"agentlink-conformance-key")
    bearer = mint_token(key, subject="conf-x", audience="fixture", issuer="agentlink-conformance")
    claims = TokenVerifier(config.bearer).verify(bearer, audience="fixture", now=time.time())
    assert claims.sub == "conf-x"
