"""How the conformance fixture answers messages (protocol/SPEC.md, Conformance fixture agent).

Every answer is immediate, and the first row that matches decides:

==========================================================  ==================================
received                                                    reply
==========================================================  ==================================
any performative, ``content_type`` not application/json     not-understood "content type not
                                                            supported"
request, query                                              inform with the same content
cfp without reply_by, or content without a number cost      not-understood
cfp whose reply_by has passed                               refuse "expired"
cfp with content {"task": ..., "cost": c}                   propose {"cost": c}
accept-proposal where it proposed                           inform {"done": true}
reject-proposal, cancel where it proposed                   nothing (the conversation ends)
accept-proposal, reject-proposal elsewhere                  not-understood
subscribe                                                   refuse "not supported"
inform, not-understood                                      nothing
agree, refuse, failure, propose, cancel                     not-understood
==========================================================  ==================================

"Where it proposed" is a conversation (by sender and ``_meta.conversation_id``) whose last
cfp the fixture answered with propose, and which has received no accept-proposal,
reject-proposal or cancel since. A new cfp in the conversation voids the earlier proposal
(ALP-NEG-020): only its own answer counts. A not-understood is never answered, whatever
its content type (ALP-MSG-010), and a message not understood changes nothing.

Nothing here does I/O or reads a clock; the current time is an argument.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from agentlink.core._deadline import parse_rfc3339
from agentlink.model import AgentlinkError, Message

__all__ = ["FixtureConversations"]

JSON = "application/json"
# Rows that answer not-understood to whatever the message says.
_NEVER_UNDERSTOOD = frozenset({"agree", "refuse", "failure", "propose", "cancel"})


class FixtureConversations:
    """The fixture's message table and the conversations in which it proposed.

    Args:
        max_open: most conversations remembered as proposed; the oldest is forgotten
            beyond it, so a caller that never answers cannot grow memory without bound.
    """

    def __init__(self, *, max_open: int = 10_000) -> None:
        self.max_open = max_open
        self._proposed: OrderedDict[tuple[str | None, str], None] = OrderedDict()

    def proposed(self, sender: str | None, conversation_id: str | None) -> bool:
        """Whether this is a conversation where the fixture proposed."""
        return conversation_id is not None and (sender, conversation_id) in self._proposed

    def answer(
        self,
        message: Message,
        *,
        sender: str | None,
        conversation_id: str | None,
        now: float,
    ) -> Message | None:
        """The immediate reply to ``message`` (None: no reply), updating the conversation."""
        performative = message.performative
        if performative == "not-understood":
            return None
        if message.content_type != JSON:
            return _reply(message, "not-understood", {"reason": "content type not supported"})
        if performative in ("request", "query"):
            return _reply(message, "inform", message.content)
        key = None if conversation_id is None else (sender, conversation_id)
        if performative == "cfp":
            reply = _answer_cfp(message, now)
            if key is not None:
                self._forget(key)
                if reply.performative == "propose":
                    self._remember(key)
            return reply
        if performative in ("accept-proposal", "reject-proposal", "cancel") and (
            key is not None and key in self._proposed
        ):
            self._forget(key)
            if performative == "accept-proposal":
                return _reply(message, "inform", {"done": True})
            return None
        if performative in ("accept-proposal", "reject-proposal"):
            return _reply(message, "not-understood", {"reason": "no proposal in this conversation"})
        if performative == "subscribe":
            return _reply(message, "refuse", {"reason": "not supported"})
        if performative == "inform":
            return None
        assert performative in _NEVER_UNDERSTOOD, performative
        return _reply(message, "not-understood", {"reason": f"unexpected {performative}"})

    def _remember(self, key: tuple[str | None, str]) -> None:
        self._proposed[key] = None
        while len(self._proposed) > self.max_open:
            self._proposed.popitem(last=False)

    def _forget(self, key: tuple[str | None, str]) -> None:
        self._proposed.pop(key, None)


def _answer_cfp(message: Message, now: float) -> Message:
    content = message.content
    cost = content.get("cost") if isinstance(content, dict) else None
    if message.reply_by is None:
        return _reply(message, "not-understood", {"reason": "a cfp needs reply_by"})
    if not _is_number(cost):
        return _reply(message, "not-understood", {"reason": "a cfp needs a number 'cost'"})
    try:
        reply_by = parse_rfc3339(message.reply_by)
    except AgentlinkError:  # the model already checked the pattern; the calendar may fail
        return _reply(message, "not-understood", {"reason": "reply_by is not a valid time"})
    if reply_by <= now:
        return _reply(message, "refuse", {"reason": "expired"})
    return _reply(message, "propose", {"cost": cost})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reply(message: Message, performative: str, content: Any) -> Message:
    return Message.model_validate(
        {"performative": performative, "content": content, "protocol": message.protocol}
    )
