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

import pytest

from agentlink.model import METHODS

PROTOCOL = "agentlink/0.1"
# The spec's method table (profile of each method) and the fixture's tools.
METHOD_PROFILES = {name: spec.profile for name, spec in METHODS.items()}
FIXTURE_TOOLS = frozenset(
    {
        "echo",
        "add",
        "fail",
        "slow",
        "long_task",
        "ask",
        "actuate",
        "actuation_count",
        "stop",
        "measure",
    }
)
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
            "sent_at": rfc3339(datetime.now(UTC)),
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

    def retry(self, frame: dict[str, Any]) -> dict[str, Any]:
        """A retry of ``frame`` (a request whose response was lost): identical params and
        ``_meta`` (so the same ``idempotency_key``), but a fresh ``message_id``, ``sent_at``
        and request id."""
        params = json.loads(json.dumps(frame["params"]))
        meta = params["_meta"]
        meta.update(message_id=self.meta()["message_id"], sent_at=rfc3339(datetime.now(UTC)))
        return {**frame, "id": next(_ids), "params": params}

    def rpc(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
        """Send one request; return the parsed JSON-RPC response (result or error)."""
        frame = self.frame(method, params, **meta)
        reply = self.post(json.dumps(frame).encode())
        assert reply.status == 200, f"{method}: HTTP {reply.status} {reply.body[:200]!r}"
        response: dict[str, Any] = reply.json()
        assert response.get("id") == frame["id"], (
            f"reply id {response.get('id')!r} != {frame['id']!r}"
        )
        self._not_offered(method, params, response)
        return response

    #: Profiles the target claims, and the tools it lists (set by the suite's fixture).
    claimed: frozenset[str] | None = None
    tools: frozenset[str] | None = None

    def require(self, *profiles: str) -> None:
        """Skip (not applicable) unless the target claims every one of ``profiles``."""
        missing = [p for p in profiles if self.claimed is not None and p not in self.claimed]
        if missing:
            pytest.skip(f"not applicable: the target does not claim {', '.join(missing)}")

    def _not_offered(
        self, method: str, params: dict[str, Any] | None, response: dict[str, Any]
    ) -> None:
        """A method or fixture tool the target does not offer (it claims no profile that
        needs it) makes the test not applicable, not failed."""
        code = (response.get("error") or {}).get("code")
        if code == -32601 and self.claimed is not None:
            profile = METHOD_PROFILES.get(method)
            if profile is not None and profile not in self.claimed:
                pytest.skip(f"not applicable: the target does not offer {method} ({profile})")
        if code == -32011 and self.tools is not None and method == "tools/call":
            name = (params or {}).get("name")
            if name in FIXTURE_TOOLS and name not in self.tools:
                pytest.skip(f"not applicable: the target does not offer the tool {name!r}")

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
            stream = path.split("?")[0]
            needs = "tasks" if stream.startswith("/tasks/") else "events"
            if status == 404 and self.claimed is not None and needs not in self.claimed:
                response.read()
                pytest.skip(f"not applicable: the target offers no {needs} streams")
            if status != 200:
                response.read()
                return status, response_headers, events
            current: dict[str, str] = {}
            # Bounded as a whole, not only per read: a stream that keeps talking but never
            # delivers what is awaited must not hold the suite.
            give_up = time.monotonic() + timeout
            while len(events) < limit and time.monotonic() < give_up:
                raw = response.readline()  # de-chunked: a stream that ended reads b""
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


def schema_errors(stem: str, instance: Any) -> list[str]:
    """Errors of ``instance`` against a protocol schema (``protocol/schemas/<stem>.json``)."""
    from pathlib import Path

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = Path(__file__).resolve().parents[1] / "protocol" / "schemas"
    resources = []
    for path in schemas.rglob("*.json"):
        contents = json.loads(path.read_text("utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    schema = json.loads((schemas / f"{stem}.json").read_text("utf-8"))
    validator = Draft202012Validator(schema, registry=Registry().with_resources(resources))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)]


def propagate(incoming: dict[str, Any], margin: float = 0.05) -> dict[str, Any]:
    """The ``_meta`` members of a request sent while serving a request whose ``_meta`` is
    ``incoming``: its deadline, earlier by ``margin`` seconds, and its trace-id under a new
    parent-id. Keyword arguments for ``Target.rpc`` and friends."""
    out: dict[str, Any] = {}
    deadline = incoming.get("deadline")
    if deadline is not None:
        when = datetime.fromisoformat(deadline.replace("Z", "+00:00").replace("z", "+00:00"))
        out["deadline"] = rfc3339(when - timedelta(seconds=margin))
    traceparent = incoming.get("traceparent")
    if traceparent is not None:
        version, trace_id, _parent, flags = traceparent.split("-")
        out["traceparent"] = f"{version}-{trace_id}-{uuid.uuid4().hex[:16]}-{flags}"
    return out


# The error table and the error data table of the spec ("Errors"): name -> (code, members
# of ``data`` that every such error carries, besides ``name``).
ERRORS: dict[str, tuple[int, tuple[str, ...]]] = {
    "parse_error": (-32700, ()),
    "invalid_request": (-32600, ()),
    "method_not_found": (-32601, ("method",)),
    "invalid_params": (-32602, ()),
    "internal_error": (-32603, ()),
    "task_not_found": (-32001, ("task_id",)),
    "task_not_cancelable": (-32002, ("task_id", "state")),
    "unsupported_operation": (-32004, ("method",)),
    "content_type_not_supported": (-32005, ("content_type", "accepts")),
    "agent_not_found": (-32010, ("agent_id",)),
    "tool_not_found": (-32011, ("tool",)),
    "invalid_tool_input": (-32012, ("tool", "errors")),
    "invalid_tool_output": (-32013, ("tool",)),
    "tool_execution_error": (-32014, ("tool",)),
    "invalid_task_state": (-32015, ("task_id", "state")),
    "deadline_exceeded": (-32020, ("deadline", "started")),
    "unauthorized": (-32021, ()),
    "forbidden": (-32022, ()),
    "approval_required": (-32023, ("tool",)),
    "version_unsupported": (-32024, ("supported", "requested")),
    "payload_too_large": (-32025, ("kind", "limit")),
    "overloaded": (-32026, ()),
    "duplicate": (-32027, ("idempotency_key",)),
    "already_registered": (-32028, ("agent_id", "expires_at")),
}


def check_error(error: Any, name: str, **data: Any) -> dict[str, Any]:
    """Assert that ``error`` (a response's ``error`` object) is the error ``name``: its code,
    a string ``message``, ``data.name``, every ``data`` member the error table requires, and
    the ``data`` members given here with these exact values. Returns ``data``."""
    code, members = ERRORS[name]
    assert isinstance(error, dict), f"error is not an object: {error!r}"
    assert error.get("code") == code, f"expected {name} ({code}), got {error!r}"
    assert isinstance(error.get("message"), str), f"error without a message: {error!r}"
    details = error.get("data")
    assert isinstance(details, dict), f"{name}: data is not an object: {error!r}"
    assert details.get("name") == name, f"expected data.name {name!r}, got {error!r}"
    missing = [member for member in members if member not in details]
    assert missing == [], f"{name}: data lacks {missing}: {error!r}"
    for member, value in data.items():
        assert details.get(member) == value, (
            f"{name}: data.{member} is {details.get(member)!r}, expected {value!r}"
        )
    return details


def pointers(details: dict[str, Any]) -> list[str]:
    """The pointers of a pointer list ``data.errors`` (each entry checked for its shape)."""
    entries = details.get("errors")
    assert isinstance(entries, list), f"data.errors is not a list: {details!r}"
    for entry in entries:
        assert isinstance(entry, dict), f"pointer list entry is not an object: {entry!r}"
        assert isinstance(entry.get("pointer"), str), f"entry without pointer: {entry!r}"
        assert isinstance(entry.get("message"), str), f"entry without message: {entry!r}"
    return [entry["pointer"] for entry in entries]


def start_task(target: Target, tool: str, arguments: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """Call a task-run tool; the task it returns (the call must answer with a task)."""
    result = target.result("tools/call", {"name": tool, "arguments": arguments}, **meta)
    assert set(result) == {"task"}, result
    task: dict[str, Any] = result["task"]
    return task


def all_task_events(target: Target, task_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
    """Every event of a task after ``after_seq``, following pages."""
    events: list[dict[str, Any]] = []
    while True:
        page = target.result("tasks/subscribe", {"task_id": task_id, "after_seq": after_seq})
        if not page["events"]:
            return events
        events += page["events"]
        after_seq = page["events"][-1]["seq"]
