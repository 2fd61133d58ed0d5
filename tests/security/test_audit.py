"""The audit log's hash chain: every kind of tampering is detected; the CLI reports it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from agentlink.cli import app
from agentlink.model import UsageError
from agentlink.security import AuditLog, args_digest, verify_audit

runner = CliRunner()


def write_log(path: Path, count: int = 6, key: bytes | None = None) -> tuple[int, str]:
    log = AuditLog(path, key=key)
    for n in range(count):
        log.record("call", caller=f"agent-{n}", method="tools/call", tool="t", outcome="ok")
    log.close()
    return log.head


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_intact_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = write_log(path)
    report = verify_audit(path)
    assert (report.ok, report.records, report.head) == (True, 6, head)
    first = json.loads(lines(path)[0])
    assert first["seq"] == 1
    assert first["prev"] == "0" * 64
    body = {k: v for k, v in first.items() if k != "hash"}
    expected = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert first["hash"] == expected


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 3)
    write_log(path, 2)
    report = verify_audit(path)
    assert (report.ok, report.records) == (True, 5)


def tamper_edit(rows: list[bytes]) -> list[bytes]:
    record = json.loads(rows[2])
    record["outcome"] = "forbidden"
    return [*rows[:2], (json.dumps(record) + "\n").encode(), *rows[3:]]


def tamper_edit_and_rehash_without_key(rows: list[bytes]) -> list[bytes]:
    record = json.loads(rows[2])
    record["caller"] = "someone-else"
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return [*rows[:2], (json.dumps(record) + "\n").encode(), *rows[3:]]


@pytest.mark.parametrize(
    ("tamper", "line", "why"),
    [
        (tamper_edit, 3, "altered"),
        (lambda rows: [*rows[:2], *rows[3:]], 3, "chain is broken"),  # removed
        (lambda rows: [*rows[:2], rows[3], rows[2], *rows[4:]], 3, "chain is broken"),  # swapped
        (lambda rows: [*rows[:1], *rows[4:]], 2, "chain is broken"),  # middle cut out
        (lambda rows: [*rows[:3], rows[1], *rows[3:]], 4, "chain is broken"),  # duplicated
        (lambda rows: [*rows[:2], b"{not json\n", *rows[3:]], 3, "not a JSON record"),
        (lambda rows: [*rows[:5], rows[5].rstrip(b"\n")], 6, "incomplete"),
        (tamper_edit_and_rehash_without_key, 4, "chain is broken"),
    ],
    ids=["edited", "removed", "reordered", "cut", "duplicated", "garbled", "torn", "rehashed"],
)
def test_every_kind_of_tampering_is_found_at_its_line(
    tmp_path: Path, tamper: object, line: int, why: str
) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    path.write_bytes(b"".join(tamper(lines(path))))  # type: ignore[operator]
    report = verify_audit(path)
    assert not report.ok
    assert report.broken_line == line
    assert report.reason is not None
    assert why in report.reason
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert f"BROKEN at line {line}" in result.output


def test_a_keyed_log_resists_rehashing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    key = b"audit-key-0123456789"
    write_log(path, key=key)
    assert verify_audit(path, key=key).ok
    assert not verify_audit(path).ok  # plain SHA-256 does not match HMAC records
    rows = lines(path)
    record = json.loads(rows[-1])
    record["outcome"] = "forbidden"
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    path.write_bytes(b"".join([*rows[:-1], (json.dumps(record) + "\n").encode()]))
    report = verify_audit(path, key=key)
    assert (report.ok, report.broken_line) == (False, 6)
    key_file = tmp_path / "key"
    key_file.write_bytes(key)
    result = runner.invoke(app, ["audit", "verify", str(path), "--key-file", str(key_file)])
    assert result.exit_code == 1


def test_a_cut_off_end_is_found_against_the_head(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    seq, digest = write_log(path)
    path.write_bytes(b"".join(lines(path)[:-2]))
    assert verify_audit(path).ok  # the chain alone cannot tell
    report = verify_audit(path, head=(seq, digest))
    assert not report.ok
    assert report.reason is not None
    assert "ends at record 4" in report.reason
    result = runner.invoke(app, ["audit", "verify", str(path), "--head", f"{seq}:{digest}"])
    assert result.exit_code == 1
    assert "BROKEN at the end" in result.output


def test_the_cli_reports_ok_with_the_count_and_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    seq, digest = write_log(path, key=b"audit-key-0123456789")
    monkeypatch.setenv("AUDIT_KEY", "audit-key-0123456789")
    result = runner.invoke(app, ["audit", "verify", str(path), "--key-env", "AUDIT_KEY"])
    assert result.exit_code == 0, result.output
    assert f"OK: 6 records, head {seq}:{digest}" in result.output
    assert runner.invoke(app, ["audit", "verify", str(path), "--head", "x"]).exit_code == 2
    missing = runner.invoke(app, ["audit", "verify", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2


def test_a_log_that_ends_torn_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(UsageError):
        AuditLog(path)


def test_arguments_are_digested_canonically() -> None:
    assert args_digest({"b": 1, "a": [1, 2]}) == args_digest({"a": [1, 2], "b": 1})
    assert args_digest({"a": 1}) != args_digest({"a": 1.0})
    assert len(args_digest({})) == 64
