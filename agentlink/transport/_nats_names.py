"""Names the NATS binding uses on the wire: subjects, queue groups, streams, keys.

Pure functions, no I/O. Each name is fixed by protocol/SPEC.md (NATS binding) or, for
the JetStream objects the spec leaves open, documented in :mod:`._nats`.
"""

from __future__ import annotations

import base64
import re
from typing import Final
from urllib.parse import urlsplit

from agentlink.core._topics import check_topic, compile_pattern
from agentlink.model import AgentNotFound, UsageError

__all__ = [
    "CMD_CONSUMER",
    "HEADER_ERROR",
    "HEADER_MSG_ID",
    "HEADER_REPLY_TO",
    "REGISTRY_ID",
    "REPLY_BUCKET",
    "advertised_url",
    "cmd_stream",
    "cmd_subject",
    "event_pattern_subject",
    "event_subject",
    "not_found",
    "reply_key",
    "reply_subject",
    "rpc_route",
]

#: The registry's agent id on every binding; on NATS it has a subject of its own.
REGISTRY_ID: Final = "registry"
#: The KV bucket that keeps the reply of every durable command, keyed per agent and key.
REPLY_BUCKET: Final = "AGENTLINK_REPLIES"
#: The durable pull consumer that the replicas of one agent share on its command stream.
CMD_CONSUMER: Final = "agentlink"

HEADER_MSG_ID: Final = "Nats-Msg-Id"
HEADER_REPLY_TO: Final = "Agentlink-Reply-To"
#: Set on an empty reply when the receiver's handler crashed (HTTP's status 500).
HEADER_ERROR: Final = "Agentlink-Error"

# Any agent id (protocol/SPEC.md) is a valid sequence of subject tokens.
_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Ids that are one token and valid in stream names and KV keys (ALP-NATS-007 and more).
_TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def rpc_route(address: str) -> tuple[str, str] | None:
    """``(subject, queue group)`` of an agent id (ALP-NATS-001/002/005); None if no agent
    can have this id."""
    if address == REGISTRY_ID:
        return "agentlink.registry.rpc", "agentlink.registry"
    if _AGENT_ID.fullmatch(address) is None:
        return None
    return f"agentlink.agent.{address}.rpc", f"agentlink.agent.{address}"


def _durable_id(agent_id: str) -> str:
    if _TOKEN_ID.fullmatch(agent_id) is None:
        raise UsageError(
            f"durable commands need an agent id of [A-Za-z0-9_-] only, got {agent_id!r}"
        )
    return agent_id


def cmd_subject(agent_id: str) -> str:
    """Subject of an agent's durable commands (ALP-NATS-009)."""
    return f"agentlink.agent.{_durable_id(agent_id)}.cmd"


def cmd_stream(agent_id: str) -> str:
    """The JetStream stream holding an agent's durable commands (one per agent, so the
    de-duplication window is scoped by receiver as idempotency keys are)."""
    return f"AGENTLINK_CMD_{_durable_id(agent_id)}"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def reply_key(agent_id: str, key: str) -> str:
    """The KV key of a durable command's reply: ``<agent id>.<base64url(key)>``."""
    # The key travels in a header too, where whitespace at the ends and line breaks
    # would not survive.
    if not key or len(key) > 256 or not key.isprintable() or key != key.strip():
        raise UsageError(f"not a usable idempotency key: {key!r}")
    return f"{_durable_id(agent_id)}.{_b64(key)}"


def reply_subject(agent_id: str, key: str) -> str:
    """The subject a durable command's reply is published on: the KV subject of its key,
    so that publishing the reply also stores it."""
    return f"$KV.{REPLY_BUCKET}.{reply_key(agent_id, key)}"


def _source_token(source: str) -> str:
    if _TOKEN_ID.fullmatch(source) is None and source != "*":
        raise UsageError(
            f"an event source on NATS must be one subject token (ALP-NATS-007): {source!r}"
        )
    return source


def event_subject(source: str, topic: str) -> str:
    """``agentlink.events.<source>.<topic>`` (ALP-NATS-006)."""
    return f"agentlink.events.{_source_token(source)}.{check_topic(topic)}"


def event_pattern_subject(source: str, pattern: str) -> str:
    """The subscription subject for a topic pattern: agentlink's ``*`` and trailing ``>``
    are NATS's own wildcards, so the pattern is used as it is."""
    compile_pattern(pattern)  # raises InvalidParams for a malformed pattern
    return f"agentlink.events.{_source_token(source)}.{pattern}"


def advertised_url(url: str) -> str:
    """``nats://host:port`` of a server URL, without credentials (for card endpoints)."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if not parts.hostname:
        raise UsageError(f"not a NATS server URL: {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{parts.port or 4222}"


def not_found(address: str) -> AgentNotFound:
    """The error for a request nothing answers."""
    return AgentNotFound(f"no agent {address!r} on NATS", data={"agent_id": address})
