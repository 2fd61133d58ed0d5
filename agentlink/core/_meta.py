"""Fast checks of the ``params._meta`` envelope, equal in effect to ``agentlink.model.Meta``.

Validating ``_meta`` with pydantic on every call costs more than the rest of the call; the
rules are few, so they are written out here and a test checks them against the model on
every ``meta`` vector and on random inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from agentlink.model import SUPPORTED_VERSIONS, InvalidParams, VersionUnsupported
from agentlink.model._base import AGENT_ID_PATTERN, PROTOCOL_PATTERN, RFC3339_PATTERN
from agentlink.model._envelope import TRACEPARENT_PATTERN

__all__ = ["check_meta", "pointer"]

_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "protocol": re.compile(PROTOCOL_PATTERN),
    "sender": re.compile(AGENT_ID_PATTERN),
    "receiver": re.compile(AGENT_ID_PATTERN),
    "sent_at": re.compile(RFC3339_PATTERN),
    "deadline": re.compile(RFC3339_PATTERN),
    "traceparent": re.compile(TRACEPARENT_PATTERN),
}
# Members that are free identifiers: 1..256 characters.
_IDENTIFIERS: Final = ("message_id", "conversation_id", "in_reply_to", "idempotency_key")
_CACHED: Final = frozenset({"protocol", "sender", "receiver"})
_OPTIONAL: Final = (
    "sender",
    "receiver",
    "conversation_id",
    "in_reply_to",
    "sent_at",
    "deadline",
    "idempotency_key",
    "traceparent",
    "auth",
)


def pointer(path: Iterable[str | int]) -> str:
    """An RFC 6901 JSON pointer for a path of keys and indexes."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join("/" + part for part in parts)


def _bad(member: str, message: str, *, missing: bool = False) -> InvalidParams:
    # A missing member is reported at the object that lacks it, a wrong one at itself.
    where = ("_meta",) if missing else ("_meta", member)
    return InvalidParams(
        f"_meta.{member}: {message}",
        data={"errors": [{"pointer": pointer(where), "message": f"{member!r} {message}"}]},
    )


# Agent ids and protocol strings repeat on every call; remember the ones already checked.
_SEEN: set[tuple[str, str]] = set()
_SEEN_LIMIT: Final = 4096


def _check_string(meta: dict[str, Any], member: str) -> None:
    value = meta[member]
    if type(value) is str and (member, value) in _SEEN:
        return
    if type(value) is not str:
        raise _bad(member, "must be a string")
    if member in _IDENTIFIERS:
        if not 1 <= len(value) <= 256:
            raise _bad(member, "must be 1 to 256 characters")
    elif member == "auth":
        if not 1 <= len(value) <= 16384:
            raise _bad(member, "must be 1 to 16384 characters")
    # Python's "$" also matches before a final newline; the wire rule does not.
    elif _PATTERNS[member].search(value) is None or value.endswith("\n"):
        raise _bad(member, f"does not match {_PATTERNS[member].pattern}")
    elif member in _CACHED and len(_SEEN) < _SEEN_LIMIT:
        _SEEN.add((member, value))


def check_meta(params: Any, supported: tuple[str, ...] = SUPPORTED_VERSIONS) -> dict[str, Any]:
    """Return ``params["_meta"]`` after checking it, or raise the documented error.

    Raises:
        InvalidParams: params is not an object, ``_meta`` is missing, or a member is wrong.
        VersionUnsupported: ``_meta.protocol`` is well-formed but not one we speak.
    """
    if type(params) is not dict:
        raise InvalidParams(
            "params must be an object with a _meta member",
            data={"errors": [{"pointer": "", "message": "must be an object"}]},
        )
    meta = params.get("_meta")
    if type(meta) is not dict:
        raise InvalidParams(
            "params._meta is required and must be an object",
            data={
                "errors": [
                    {
                        "pointer": "/_meta" if "_meta" in params else "",
                        "message": "'_meta' must be an object",
                    }
                ]
            },
        )
    for member in ("protocol", "message_id"):
        if member not in meta:
            raise _bad(member, "is required", missing=True)
        _check_string(meta, member)
    if meta["protocol"] not in supported:
        raise VersionUnsupported(
            f"protocol {meta['protocol']!r} is not supported",
            data={"supported": list(supported), "requested": meta["protocol"]},
        )
    for member in _OPTIONAL:
        if meta.get(member) is not None:
            _check_string(meta, member)
    return meta
