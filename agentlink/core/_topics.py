"""Topic patterns: ``*`` matches one dot-separated token, a trailing ``>`` one or more.

``quality.*`` matches ``quality.line-1`` but not ``quality.line-1.cam-2``;
``quality.>`` matches both; ``>`` alone matches every topic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from agentlink.model import InvalidParams

__all__ = ["check_topic", "compile_pattern", "matches"]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_TOPIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it names one concrete topic (no wildcards), else raise.

    Raises:
        InvalidParams: the topic is empty, too long, or has a malformed or wildcard token.
    """
    if type(topic) is not str or len(topic) > 256 or _TOPIC.fullmatch(topic) is None:
        raise InvalidParams(
            f"malformed topic {topic!r}",
            data={
                "errors": [{"pointer": "/topic", "message": "dot-separated [A-Za-z0-9_-] tokens"}]
            },
        )
    return topic


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate that tells whether a topic matches ``pattern``.

    Raises:
        InvalidParams: the pattern is malformed (empty token, ``>`` not last, bad characters).
    """
    tokens = pattern.split(".")
    for i, token in enumerate(tokens):
        if token == ">" and i == len(tokens) - 1:
            continue
        if token != "*" and not _TOKEN.match(token):
            raise InvalidParams(
                f"malformed topic pattern {pattern!r}",
                data={"errors": [{"pointer": "/topics", "message": f"bad token {token!r}"}]},
            )
    if "*" not in tokens and tokens[-1] != ">":
        return pattern.__eq__
    head = [r"\.".join(re.escape(t) if t != "*" else "[A-Za-z0-9_-]+" for t in tokens[:-1])]
    last = tokens[-1]
    if last == ">":
        tail = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*"
    elif last == "*":
        tail = "[A-Za-z0-9_-]+"
    else:
        tail = re.escape(last)
    body = (head[0] + r"\." if head[0] else "") + tail
    regex = re.compile(f"^{body}\\Z")
    return lambda topic: regex.match(topic) is not None


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches ``pattern``."""
    return compile_pattern(pattern)(topic)
