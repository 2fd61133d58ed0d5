"""A small, independent AgentLink client for the conformance suite: the standard library's
http.client, JSON-RPC frames built by hand. It shares no code with any implementation, so
the suite judges an implementation only by what it puts on the wire."""

from __future__ import annotations

import http.client
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

PROTOCOL = "agentlink/0.1"
_ids = itertools.count(1)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_seconds(seconds: float) -> str:
    """An RFC 3339 timestamp ``seconds`` from now (negative: in the past)."""
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    """An agent's base URL (``http://host:port`` or ``http://host:port/agents/ID``)."""

    url: str
    timeout: float = 30.0
    sender: str = "conformance-suite"
    _conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--target must be an http:// URL, got {self.url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")

    # -- raw HTTP -----------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One HTTP exchange on a keep-alive connection (reopened once if it went stale)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self.base + path, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            if response.will_close:
                self.close()
            return reply
        raise AssertionError("unreachable")

    def post(self, body: bytes, content_type: str = "application/json", **headers: str) -> Reply:
        return self.http("POST", "/rpc", body, {"Content-Type": content_type, **headers})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- JSON-RPC -----------------------------------------------------------------------

    def meta(self, **members: Any) -> dict[str, Any]:
        """A valid ``_meta``; members given override or add (None removes)."""
        meta: dict[str, Any] = {
            "protocol": PROTOCOL,
            "message_id": f"conf-{uuid.uuid4().hex[:12]}",
            "sender": self.sender,
        }
        for key, value in members.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        return meta

    def frame(
        self, method: str, params: dict[str, Any] | None = None, *, id: Any = None, **meta: Any
    ) -> dict[str, Any]:
        request_id = next(_ids) if id is None else id
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": method,
            "params": {**(params or {}), "_meta": self.meta(**meta)},
        }

    def rpc(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
        """Send one request; return the parsed JSON-RPC response (result or error)."""
        frame = self.frame(method, params, **meta)
        reply = self.post(json.dumps(frame).encode())
        assert reply.status == 200, f"{method}: HTTP {reply.status} {reply.body[:200]!r}"
        response: dict[str, Any] = reply.json()
        assert response.get("id") == frame["id"], (
            f"reply id {response.get('id')!r} != {frame['id']!r}"
        )
        return response

    def result(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> Any:
        """The result of a request that must succeed."""
        response = self.rpc(method, params, **meta)
        assert "error" not in response, f"{method} failed: {response['error']}"
        return response["result"]

    def error(
        self, method: str, params: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        """The error of a request that must fail."""
        response = self.rpc(method, params, **meta)
        assert "error" in response, f"{method} succeeded but must fail: {response.get('result')!r}"
        error: dict[str, Any] = response["error"]
        return error

    def call(
        self, tool: str, arguments: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        """``tools/call``: the whole response."""
        return self.rpc("tools/call", {"name": tool, "arguments": arguments or {}}, **meta)

    def card(self) -> dict[str, Any]:
        reply = self.http("GET", "/.well-known/agentlink.json")
        assert reply.status == 200, f"card: HTTP {reply.status}"
        card: dict[str, Any] = reply.json()
        return card

    # -- tasks and streams --------------------------------------------------------------

    def wait_task(
        self, task_id: str, *, until: set[str] | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Follow a task with long polls until it reaches a state in ``until`` (default:
        terminal); returns the last snapshot."""
        until = until or {"completed", "failed", "canceled", "rejected"}
        deadline = time.monotonic() + timeout
        seq = 0
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"task {task_id} did not reach {until} in {timeout} s"
            page = self.result(
                "tasks/subscribe",
                {"task_id": task_id, "after_seq": seq, "wait_ms": int(min(left, 5) * 1000)},
            )
            if page["events"]:
                seq = page["events"][-1]["seq"]
            if page["task"]["state"] in until:
                return dict(page["task"])

    def sse(
        self, path: str, *, headers: dict[str, str] | None = None, limit: int, timeout: float = 10.0
    ) -> tuple[int, dict[str, str], list[dict[str, str]]]:
        """Read up to ``limit`` Server-Sent Events from ``path`` on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(
                "GET", self.base + path, headers={"Accept": "text/event-stream", **(headers or {})}
            )
            response = conn.getresponse()
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
            events: list[dict[str, str]] = []
            if status != 200:
                response.read()
                return status, response_headers, events
            current: dict[str, str] = {}
            while len(events) < limit:
                raw = response.fp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if current:
                        events.append(current)
                        current = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                current[name] = value[1:] if value.startswith(" ") else value
            return status, response_headers, events
        finally:
            conn.close()
