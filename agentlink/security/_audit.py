"""The audit log: an append-only, hash-chained JSON Lines file (IEC 62443 CR 2.8, CR 3.9).

Each line is one record::

    {"seq": 7, "time": "2025-01-01T12:00:00.000Z", "kind": "call", "caller": "planner",
     "target": "cnc-7", "method": "tools/call", "tool": "set_speed",
     "args_sha256": "9f2c...", "outcome": "ok", "task_id": null,
     "prev": "<hash of record 6>", "hash": "<hash of this record>"}

``hash`` is SHA-256 (or HMAC-SHA-256 under a key) of the record's canonical JSON without
``hash``; ``prev`` is the ``hash`` of the record before (64 zeros for the first). An edited
record no longer matches its hash; a removed, inserted or reordered one breaks the chain of
``prev`` and ``seq``. Cutting records off the end is detected only against a head (``seq``
and ``hash`` of the last record) kept elsewhere: :meth:`AuditLog.head`, ``--head``.

Arguments are recorded as a digest (SHA-256 of their canonical JSON), never in clear, and no
record carries a credential.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from agentlink.core._deadline import format_rfc3339
from agentlink.model import UsageError

__all__ = ["AuditLog", "AuditReport", "args_digest", "verify_audit"]

GENESIS: Final = "0" * 64
_SORTED: Final = orjson.OPT_SORT_KEYS


def args_digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value`` (keys sorted, no spaces)."""
    return hashlib.sha256(orjson.dumps(value, option=_SORTED)).hexdigest()


def _seal(record: dict[str, Any], key: bytes | None) -> str:
    body = orjson.dumps({k: v for k, v in record.items() if k != "hash"}, option=_SORTED)
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class AuditLog:
    """Appends records to a hash-chained JSONL file; reopening continues the chain.

    Args:
        path: the file (created if missing).
        key: an HMAC key: without it, whoever can write the file can rewrite the whole
            chain consistently; with it, only holders of the key can.
        fsync: force each record to disk before the call it records is answered.

    Raises:
        UsageError: the file's last line is not a record of this log (verify it first).
    """

    def __init__(self, path: str | Path, *, key: bytes | None = None, fsync: bool = False):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self._seq, self._prev = _last_record(self.path)
        self._file: IO[bytes] | None = None

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record (``(0, 64 zeros)`` when empty)."""
        return self._seq, self._prev

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record of ``kind`` (``call``, ``approval``, ``actuation`` ...) now."""
        return self.append(kind, time.time(), fields)

    def append(self, kind: str, now: float, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one record with the time ``now``; returns it (with ``seq`` and hashes)."""
        record: dict[str, Any] = {
            "seq": self._seq + 1,
            "time": format_rfc3339(now),
            "kind": kind,
            **fields,
            "prev": self._prev,
        }
        record["hash"] = _seal(record, self.key)
        line = orjson.dumps(record) + b"\n"
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(line)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._seq, self._prev = record["seq"], record["hash"]
        return record

    def close(self) -> None:
        """Close the file; a later record opens it again (a runtime closes it on exit)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _last_record(path: Path) -> tuple[int, str]:
    """``(seq, hash)`` of the last record of an existing log, reading only its tail."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            if size == 0:
                return 0, GENESIS
            chunk = b""
            position = size
            while position > 0 and chunk.count(b"\n") < 2:
                step = min(4096, position)
                position -= step
                file.seek(position)
                chunk = file.read(step) + chunk
    except FileNotFoundError:
        return 0, GENESIS
    except OSError as exc:
        raise UsageError(f"cannot read the audit log {path}: {exc}") from None
    if not chunk.endswith(b"\n"):
        raise UsageError(f"the audit log {path} ends with an incomplete record")
    try:
        last = orjson.loads(chunk.rstrip(b"\n").rpartition(b"\n")[2])
        return int(last["seq"]), str(last["hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UsageError(f"the audit log {path} does not end with a record") from None


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of :func:`verify_audit`.

    Attributes:
        ok: every record is intact and chained (and the head matches, if one was given).
        records: how many records were read.
        head: ``(seq, hash)`` of the last intact record.
        broken_line: the line number (from 1) of the first broken record, if any.
        reason: what is wrong with it.
    """

    ok: bool
    records: int
    head: tuple[int, str]
    broken_line: int | None = None
    reason: str | None = None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as file:
        yield from enumerate(file, start=1)


def _fault(line: bytes, seq: int, prev: str, key: bytes | None) -> str | None:
    """What is wrong with ``line`` as the record after ``(seq, prev)``, or None."""
    if not line.endswith(b"\n"):
        return "incomplete last line"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not a JSON record"
    if type(record) is not dict or type(record.get("hash")) is not str:
        return "not a record of an audit log"
    if not hmac.compare_digest(record["hash"], _seal(record, key)):
        return "the record was altered (its hash does not match)"
    if record.get("prev") != prev:
        return "the chain is broken (a record before it was removed or moved)"
    if record.get("seq") != seq + 1:
        return f"sequence number {record.get('seq')!r} where {seq + 1} was due"
    return None


def verify_audit(
    path: str | Path, *, key: bytes | None = None, head: tuple[int, str] | None = None
) -> AuditReport:
    """Check a log's chain: each record's hash, ``prev`` and ``seq``.

    Args:
        path: the JSONL file.
        key: the HMAC key the log was written with, if any.
        head: the expected ``(seq, hash)`` of the last record, to detect a cut-off end.

    Raises:
        UsageError: the file cannot be read.
    """
    seq, prev = 0, GENESIS
    count = 0
    try:
        for number, line in _lines(Path(path)):
            reason = _fault(line, seq, prev, key)
            if reason is not None:
                return AuditReport(False, count, (seq, prev), number, reason)
            record = orjson.loads(line)
            seq, prev = record["seq"], record["hash"]
            count += 1
    except OSError as exc:
        raise UsageError(f"cannot read the audit log {path}: {exc}") from None
    if head is not None and head != (seq, prev):
        return AuditReport(
            False, count, (seq, prev), None, f"the log ends at record {seq}, not at {head[0]}"
        )
    return AuditReport(True, count, (seq, prev))
