"""Conformance commands: serve the fixture agent, run the conformance suite against a target."""

from __future__ import annotations

import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import typer

import agentlink
from agentlink.conformance import FIXTURE_ID, serve_fixture
from agentlink.model import PROFILES
from agentlink.transport import HttpTransport

from ._common import console, err_console
from ._net import _run, _split_listen, _until_signal

__all__ = ["conformance_app", "find_suite"]

conformance_app = typer.Typer(
    help="Serve the conformance fixture agent, or test an implementation.",
    no_args_is_help=True,
)

SUITE = "conformance_tests"
LEVELS = ("must", "should", "may")


@conformance_app.command("fixture")
def fixture(
    http: Annotated[str | None, typer.Option(help="Listen on HOST:PORT (HTTP).")] = None,
    nats: Annotated[str | None, typer.Option(help="Also serve over this NATS server URL.")] = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Secure mode: bearer tokens (HS256, key agentlink-conformance-key) required.",
        ),
    ] = False,
) -> None:
    """Serve the conformance fixture agent and a registry until interrupted.

    Over HTTP the fixture answers at the server's root and under /agents/fixture, the
    registry under /agents/registry. Each binding serves a fixture of its own. With
    --secure, run the security tests: pytest conformance_tests/test_sec_bearer.py.
    """
    if http is None and nats is None:
        raise typer.BadParameter("give --http HOST:PORT, --nats URL, or both")
    listen = None if http is None else _split_listen(http)

    async def main() -> None:
        async with AsyncExitStack() as stack:
            if listen is not None:
                transport = HttpTransport(host=listen[0], port=listen[1])
                await stack.enter_async_context(serve_fixture(transport, secure=secure))
                console.print(f"{FIXTURE_ID} at {transport.url}", soft_wrap=True)
                console.print(
                    f"{FIXTURE_ID} at {transport.url}/agents/{FIXTURE_ID}", soft_wrap=True
                )
                console.print(f"registry at {transport.url}/agents/registry", soft_wrap=True)
            if nats is not None:
                from agentlink.transport import NatsTransport

                await stack.enter_async_context(
                    serve_fixture(
                        NatsTransport(nats), registry_transport=NatsTransport(nats), secure=secure
                    )
                )
                console.print(f"{FIXTURE_ID} and registry on {nats}", soft_wrap=True)
            console.print("serving; Ctrl-C to stop", style="dim")
            sys.stdout.flush()
            await _until_signal()

    _run(main)


def find_suite(start: Path | None = None) -> Path | None:
    """The conformance suite's directory: under ``start`` (default: the current
    directory), else in the source checkout agentlink is installed from."""
    candidates = [
        (start or Path.cwd()) / SUITE,
        Path(agentlink.__file__).resolve().parents[1] / SUITE,
    ]
    for candidate in candidates:
        if (candidate / "conftest.py").is_file():
            return candidate
    return None


@conformance_app.command("run")
def run(
    target: Annotated[str, typer.Option(help="Base URL of the fixture agent under test.")],
    profile: Annotated[
        list[str] | None,
        typer.Option(help="Test only this profile (repeatable; default: every profile)."),
    ] = None,
    level: Annotated[
        str | None, typer.Option(help="Lowest requirement level tested: must, should or may.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the JSON report (per requirement) here.")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here.")] = None,
) -> None:
    """Run the conformance suite against TARGET; exits with pytest's exit code."""
    for name in profile or []:
        if name not in PROFILES:
            raise typer.BadParameter(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    if level is not None and level not in LEVELS:
        raise typer.BadParameter(f"--level is one of {', '.join(LEVELS)}")
    suite = find_suite()
    if suite is None:
        err_console.print(
            f"no {SUITE}/ directory here or in the agentlink checkout "
            f"({Path(agentlink.__file__).resolve().parents[1]}); run from a source checkout"
        )
        raise typer.Exit(2)
    command = [sys.executable, "-m", "pytest", str(suite), "--target", target]
    for name in profile or []:
        command += ["--profile", name]
    if level is not None:
        command += ["--level", level]
    if report is not None:
        command += ["--report", str(report)]
    if junit is not None:
        command += ["--junitxml", str(junit)]
    raise typer.Exit(subprocess.call(command))
