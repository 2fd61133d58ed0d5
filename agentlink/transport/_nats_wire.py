"""The edge between nats-py and agentlink: foreign errors translated once, origins,
reply frames, connection credentials."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from agentlink.model import (
    ConnectError,
    PayloadTooLarge,
    ReadError,
    TransportClosed,
    TransportError,
    UsageError,
    WriteError,
)

from ._base import Origin
from ._nats_names import HEADER_ERROR, not_found

__all__ = [
    "auth_options",
    "check_size",
    "close_quietly",
    "origin_of",
    "permission_violation",
    "reply_frame",
    "too_large",
    "translated",
    "transport_error",
]

log = logging.getLogger("agentlink.nats")

_PLAIN: Final = Origin("nats")
_STATUS_NO_RESPONDERS: Final = "503"
# How nats-server words a refusal: 'Permissions Violation for Subscription to "<subject>"'.
_VIOLATION: Final = re.compile(
    r'permissions violation for (publish|subscription) to "?([^"\s]+)', re.IGNORECASE
)


def auth_options(
    nkey_seed: str | Path | None, credentials: str | Path | None, inbox_prefix: str | None
) -> dict[str, Any]:
    """The nats-py ``connect`` options for a user nkey seed file or a credentials file.

    Raises:
        UsageError: both are given, or a file does not exist.
    """
    if nkey_seed is not None and credentials is not None:
        raise UsageError("give either nkey_seed or credentials, not both")
    for path in (nkey_seed, credentials):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"no NATS credentials file at {str(path)!r}")
    options: dict[str, Any] = {}
    if nkey_seed is not None:
        options["nkeys_seed"] = str(nkey_seed)
    if credentials is not None:
        options["user_credentials"] = str(credentials)
    if inbox_prefix is not None:
        options["inbox_prefix"] = inbox_prefix
    return options


def permission_violation(exc: BaseException) -> tuple[str, str] | None:
    """``("publish" | "subscription", subject)`` when ``exc`` is the server refusing one."""
    match = _VIOLATION.search(str(exc))
    return None if match is None else (match.group(1).lower(), match.group(2))


def transport_error(exc: BaseException, what: str) -> TransportError:
    """The agentlink error for a nats-py (or socket) error raised while doing ``what``."""
    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
        return TransportClosed(f"{what}: the NATS connection is closed")
    if isinstance(
        exc,
        nats.errors.OutboundBufferLimitError
        | nats.errors.ConnectionReconnectingError
        | nats.errors.NoServersError
        | nats.errors.StaleConnectionError
        | nats.errors.FlushTimeoutError
        | OSError,
    ):
        return ConnectError(f"{what}: NATS is not reachable ({exc!r})")
    if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.js.errors.APIError):
        return WriteError(f"{what}: JetStream refused or did not answer ({exc!r})")
    return ReadError(f"{what}: {exc!r}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Translate nats-py errors raised in the block into the agentlink hierarchy."""
    try:
        yield
    except (nats.errors.Error, OSError) as exc:
        raise transport_error(exc, what) from exc


def origin_of(msg: Msg) -> Origin:
    """The :class:`Origin` of a received message; header names in lower case."""
    if not msg.headers:
        return _PLAIN
    return Origin("nats", headers={k.lower(): v for k, v in msg.headers.items()})


def too_large(size: int, limit: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} of {size} bytes exceeds the limit of {limit} bytes",
        data={"kind": "bytes", "limit": limit, "size": size},
    )


def check_size(nc: Client, frame: bytes, what: str) -> None:
    """Raise :class:`PayloadTooLarge` for a frame the server would refuse (ALP-NATS-004)."""
    if len(frame) > nc.max_payload:
        raise too_large(len(frame), nc.max_payload, f"{what} (the NATS server's max_payload)")


def reply_frame(address: str, msg: Msg) -> bytes:
    """The reply frame a message carries, or the error its headers or emptiness mean."""
    headers = msg.headers
    if headers:
        if headers.get("Status") == _STATUS_NO_RESPONDERS:
            raise not_found(address)
        if HEADER_ERROR in headers:
            raise ReadError(f"{address!r} failed to answer ({headers[HEADER_ERROR]})")
    if not msg.data:
        raise UsageError("a request got no reply (was it a notification?)")
    return msg.data


async def close_quietly(nc: Client) -> None:
    try:
        await nc.close()
    except Exception as exc:
        log.debug("closing the NATS connection: %r", exc)
