"""Messages: a FIPA-ACL performative with typed content, exchanged in conversations."""

from __future__ import annotations

from typing import Any, Literal, get_args

from ._base import ContentType, Model, Timestamp

__all__ = ["PERFORMATIVES", "InteractionProtocol", "Message", "Performative"]

Performative = Literal[
    "request",
    "inform",
    "query",
    "agree",
    "refuse",
    "failure",
    "cfp",
    "propose",
    "accept-proposal",
    "reject-proposal",
    "cancel",
    "subscribe",
    "not-understood",
]
PERFORMATIVES: tuple[str, ...] = get_args(Performative)

InteractionProtocol = Literal[
    "request", "query", "subscribe", "contract-net", "iterated-contract-net"
]


class Message(Model):
    """One message of an interaction. Addressing and conversation live in ``_meta``."""

    performative: Performative
    content_type: ContentType = "application/json"
    content: Any = None
    protocol: InteractionProtocol | None = None
    reply_by: Timestamp | None = None
