"""The edge between nats-py and agentlink: foreign errors translated once, origins,
reply frames."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

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
    "check_size",
    "close_quietly",
    "origin_of",
    "reply_frame",
    "too_large",
    "translated",
    "transport_error",
]

log = logging.getLogger("agentlink.nats")

_PLAIN: Final = Origin("nats")
_STATUS_NO_RESPONDERS: Final = "503"


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
