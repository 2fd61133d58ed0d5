"""Key commands: a development CA for mutual TLS, Ed25519 keys for signed cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentlink.model import UsageError
from agentlink.security import DevCA, Ed25519PrivateKey

from ._common import console, err_console

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Make keys and certificates.", no_args_is_help=True)

Directory = Annotated[
    Path, typer.Argument(help="Where to write the files.", file_okay=False, dir_okay=True)
]


@keys_app.command("dev-ca")
def dev_ca(
    directory: Directory,
    agent: Annotated[
        list[str], typer.Option("--agent", help="Issue a certificate for this agent id.")
    ],
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="DNS name or IP the certificates serve (repeatable)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Days the certificates are valid.")] = 30,
) -> None:
    """Make a development CA (or reuse the one in DIRECTORY) and certificates naming each
    --agent (URI SAN urn:agentlink:agent:<id>), for mutual TLS. Not for production."""
    hosts = host or ["localhost", "127.0.0.1"]
    ca_cert, ca_key = directory / "ca.pem", directory / "ca.key"
    try:
        if ca_cert.exists() and ca_key.exists():
            ca = DevCA.load(ca_cert.read_bytes(), ca_key.read_bytes())
        else:
            ca = DevCA.generate(days=days)
            ca.write(directory, with_key=True)
        for agent_id in agent:
            cert, key = ca.issue(agent_id, hosts=hosts, days=days).write(directory, agent_id)
            console.print(f"{agent_id}: {cert} {key}")
    except (UsageError, OSError) as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(1) from None
    console.print(f"CA: {ca_cert} (its key {ca_key} issues more; keep it private)")


@keys_app.command("generate")
def generate(
    directory: Directory,
    kid: Annotated[str, typer.Option(help="Key id, written in each signature's header.")],
) -> None:
    """Make an Ed25519 key pair: <kid>.key (private, PKCS#8 PEM) and <kid>.jwk.json (the
    public key as a JWK, for whoever verifies cards or tokens it signs)."""
    key = Ed25519PrivateKey.generate(kid=kid)
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / f"{kid}.key"
    private.touch(mode=0o600)
    private.write_bytes(key.to_pem())
    public = directory / f"{kid}.jwk.json"
    public.write_text(json.dumps(key.public().to_jwk(), indent=2) + "\n")
    console.print(f"{private} {public}")
