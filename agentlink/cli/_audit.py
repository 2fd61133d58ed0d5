"""Audit commands: check an audit log's hash chain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from agentlink.model import UsageError
from agentlink.security import verify_audit

from ._common import console, err_console

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Check audit logs.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The audit log (JSON Lines).", dir_okay=False)],
    key_file: Annotated[
        Path | None, typer.Option(help="File holding the log's HMAC key (raw bytes).")
    ] = None,
    key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the HMAC key (UTF-8).")
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(help="Expected last record as SEQ:HASH, to detect records cut off the end."),
    ] = None,
) -> None:
    """Check every record's hash, and the chain of prev and seq.

    Prints OK with the record count and head, or the first broken record; exits 1 then.
    """
    if key_file is not None and key_env is not None:
        raise typer.BadParameter("give --key-file or --key-env, not both")
    key: bytes | None = None
    if key_file is not None:
        key = key_file.read_bytes()
    elif key_env is not None:
        value = os.environ.get(key_env)
        if value is None:
            raise typer.BadParameter(f"the environment variable {key_env} is not set")
        key = value.encode("utf-8")
    expected: tuple[int, str] | None = None
    if head is not None:
        number, _, value = head.partition(":")
        if not number.isdigit() or len(value) != 64:
            raise typer.BadParameter("--head is SEQ:HASH (a number and 64 hex digits)")
        expected = (int(number), value.lower())
    try:
        report = verify_audit(file, key=key, head=expected)
    except UsageError as exc:
        err_console.print(str(exc))
        raise typer.Exit(2) from None
    seq, digest = report.head
    if report.ok:
        console.print(f"OK: {report.records} records, head {seq}:{digest}", soft_wrap=True)
        return
    where = "at the end" if report.broken_line is None else f"at line {report.broken_line}"
    err_console.print(
        f"BROKEN {where}: {report.reason} ({report.records} intact records before it, "
        f"last intact {seq}:{digest})",
        soft_wrap=True,
    )
    raise typer.Exit(1)
