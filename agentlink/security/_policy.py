"""Authorization: who may call which tool, send which message, subscribe, publish, register
and approve (IEC 62443 FR2, use control).

::

    policy = Policy(
        rules=[
            Allow(callers=["*"], methods=["agent/ping", "tools/list", "tasks/*"]),
            Allow(callers=["role:decision"], tools=["set_*"], agents=["cnc-*"]),
            Allow(callers=["role:evaluation", "qa-lead"], approve=["set_*"]),
            Deny(callers=["guest"], tools=["set_*"]),
        ]
    )

Once a policy is set, everything not allowed is denied (``forbidden``), ``agent/card``
excepted. A request is allowed when some :class:`Allow` rule grants each thing it asks for
and no :class:`Deny` rule refuses any of them. What a request asks for:

==================  =========================================================
``tools/call``      the tool (``tools``)
``message/send``    the performative (``performatives``)
``events/subscribe`` each topic pattern (``subscribe``: a granted pattern must cover it)
``events/publish``  the topic (``publish``)
``registry/*``      registering, renewing or removing an agent id (``register``); an
                    agent may always manage its own registration (``self_register``)
``tasks/approve``   approving an actuating tool (``approve``), checked with the task's
                    tool once it is known
any other method    the method (``methods``)
==================  =========================================================

A ``methods`` entry that names one of these methods exactly (or is ``*``) grants everything
the method can ask for; a glob such as ``tasks/*`` grants only methods of the last row, so
that it never grants approvals by accident. In a :class:`Deny`, any matching entry refuses.
Callers are named by agent id (glob), ``role:<role>``, ``capability:<capability>`` (globs,
matched against the caller's registered card) or ``*``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from agentlink.core._topics import compile_pattern
from agentlink.model import UsageError

__all__ = ["Allow", "Deny", "Policy", "Subject", "load_policy"]

Kind = Literal["method", "tool", "performative", "subscribe", "publish", "register", "approve"]
#: The method each kind of grant belongs to (None: the method is the resource itself).
_METHOD_OF: Final[dict[str, str | None]] = {
    "method": None,
    "tool": "tools/call",
    "performative": "message/send",
    "subscribe": "events/subscribe",
    "publish": "events/publish",
    "register": "registry/register",
    "approve": "tasks/approve",
}
_DECISIONS_LIMIT: Final = 16_384


@dataclass(frozen=True, slots=True)
class Subject:
    """A caller as the policy sees it: its id and what its registered card says."""

    id: str
    role: str | None = None
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    callers: Sequence[str]
    agents: Sequence[str] = ("*",)
    methods: Sequence[str] = ()
    tools: Sequence[str] = ()
    performatives: Sequence[str] = ()
    subscribe: Sequence[str] = ()
    publish: Sequence[str] = ()
    register: Sequence[str] = ()
    approve: Sequence[str] = ()
    effect: ClassVar[str] = "allow"

    def __post_init__(self) -> None:
        for name in ("callers", "agents", *_FIELD_OF.values()):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{type(self).__name__}.{name} must be a list of strings")
            object.__setattr__(self, name, tuple(value))
        if not self.callers:
            raise UsageError(f"{type(self).__name__} needs at least one caller")
        for pattern in (*self.subscribe, *self.publish):
            compile_pattern(pattern)  # raises on a malformed topic pattern

    def names(self, subject: Subject) -> bool:
        return any(_caller_matches(c, subject) for c in self.callers)

    def whole(self, method: str) -> bool:
        """Whether the rule names all of ``method`` (a method that asks for resources)."""
        if self.effect == "deny":
            return any(fnmatchcase(method, m) for m in self.methods)
        return any(m in ("*", method) for m in self.methods)

    def covers_agent(self, agent: str) -> bool:
        return any(fnmatchcase(agent, a) for a in self.agents)

    def grants(self, kind: Kind, value: str, method: str) -> bool:
        """Whether the rule speaks of this (kind, value): grants it, or for a Deny refuses it."""
        if kind == "method":
            return any(fnmatchcase(value, m) for m in self.methods)
        if self.whole(method):
            return True
        entries: Sequence[str] = getattr(self, _FIELD_OF[kind])
        if kind == "subscribe":
            return any(_covers(granted, value) for granted in entries)
        if kind == "publish":
            return any(compile_pattern(granted)(value) for granted in entries)
        return any(fnmatchcase(value, entry) for entry in entries)


_FIELD_OF: Final[dict[str, str]] = {
    "method": "methods",
    "tool": "tools",
    "performative": "performatives",
    "subscribe": "subscribe",
    "publish": "publish",
    "register": "register",
    "approve": "approve",
}


class Allow(_Rule):
    """Grants callers the listed methods, tools, performatives, topics, registrations and
    approvals, on the listed agents (default: every agent the policy guards).

    Args:
        callers: agent ids (globs), ``role:<role>``, ``capability:<capability>``, or ``*``.
        agents: the receiving agents the rule applies to (globs).
        methods: method names (globs); ``*`` grants every method and everything it asks for.
        tools: tool names (globs) for ``tools/call``.
        performatives: performatives (globs) for ``message/send``.
        subscribe: topic patterns a caller may subscribe to (``line1.>``).
        publish: topic patterns a caller may publish on with ``events/publish``.
        register: agent ids (globs) a caller may register in a registry.
        approve: tool names (globs) whose actuations the caller may approve or reject.
    """

    effect: ClassVar[str] = "allow"


class Deny(_Rule):
    """Refuses callers what it lists, whatever any :class:`Allow` grants (same fields)."""

    effect: ClassVar[str] = "deny"


@lru_cache(maxsize=4096)
def _topic_tokens(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def _covers(granted: str, requested: str) -> bool:
    """Whether every topic matching ``requested`` also matches ``granted`` (both patterns)."""
    have, want = _topic_tokens(granted), _topic_tokens(requested)
    for i, token in enumerate(have):
        if token == ">":
            return len(want) > i
        if i >= len(want) or want[i] == ">":
            return False
        if token != "*" and (want[i] == "*" or want[i] != token):
            return False
    return len(want) == len(have)


def _caller_matches(pattern: str, subject: Subject) -> bool:
    if pattern.startswith("role:"):
        return subject.role is not None and fnmatchcase(subject.role, pattern[5:])
    if pattern.startswith("capability:"):
        return any(fnmatchcase(c, pattern[11:]) for c in subject.capabilities)
    return fnmatchcase(subject.id, pattern)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Access rules; once set, whatever they do not allow is denied.

    Attributes:
        rules: :class:`Allow` and :class:`Deny` rules, in any order (a Deny always wins).
        self_approval: whether the caller that requested an actuation may approve it
            itself: False (the default, IEC 62443 CR 2.1 RE 3 separation of duties), True,
            or a list of tool names (globs) for which it may.
        self_register: an agent may register, renew and remove its own registration
            without a ``register`` grant.
    """

    rules: Sequence[Allow | Deny] = ()
    self_approval: bool | Sequence[str] = False
    self_register: bool = True
    _decisions: dict[tuple[Subject, str, str, str, str], bool] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        rules = tuple(self.rules)
        if not all(isinstance(r, Allow | Deny) for r in rules):
            raise UsageError("policy rules must be Allow or Deny")
        object.__setattr__(self, "rules", rules)

    @property
    def needs_cards(self) -> bool:
        """Whether some rule names callers by role or capability."""
        return any(
            c.startswith(("role:", "capability:")) for rule in self.rules for c in rule.callers
        )

    def allows(self, subject: Subject, agent: str, kind: Kind, value: str) -> bool:
        """Whether ``subject`` may do (kind, value) on ``agent``."""
        method = _METHOD_OF[kind] or value
        key = (subject, agent, kind, value, method)
        decided = self._decisions.get(key)
        if decided is None:
            decided = self._decide(subject, agent, kind, value, method)
            if len(self._decisions) >= _DECISIONS_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decided
        return decided

    def _decide(self, subject: Subject, agent: str, kind: Kind, value: str, method: str) -> bool:
        allowed = kind == "register" and self.self_register and value == subject.id
        for rule in self.rules:
            if not (rule.covers_agent(agent) and rule.names(subject)):
                continue
            if rule.grants(kind, value, method):
                if rule.effect == "deny":
                    return False
                allowed = True
        return allowed

    def may_approve_any(self, subject: Subject, agent: str) -> bool:
        """Whether some rule lets ``subject`` approve at least one tool of ``agent`` (checked
        before the task is looked up; the tool itself is checked with :meth:`allows`)."""
        granted = False
        for rule in self.rules:
            if not (rule.covers_agent(agent) and rule.names(subject)):
                continue
            whole_method = rule.whole("tasks/approve")
            if rule.effect == "deny":
                if whole_method:
                    return False
            elif whole_method or rule.approve:
                granted = True
        return granted

    def allows_self_approval(self, tool: str) -> bool:
        """Whether the requester of a call of ``tool`` may approve it itself."""
        if isinstance(self.self_approval, bool):
            return self.self_approval
        return any(fnmatchcase(tool, t) for t in self.self_approval)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from ``{"allow": [...], "deny": [...], "self_approval": ...,
        "self_register": ...}`` (each rule a mapping of :class:`Allow`'s fields).

        Raises:
            UsageError: an unknown member, or a rule that is not valid.
        """
        known = {"allow", "deny", "self_approval", "self_register"}
        unknown = set(data) - known
        if unknown:
            raise UsageError(f"unknown policy members {sorted(unknown)}")
        rules: list[Allow | Deny] = []
        for kind, rule_type in (("allow", Allow), ("deny", Deny)):
            for entry in data.get(kind, []):
                rules.append(_rule(rule_type, entry))
        self_approval = data.get("self_approval", False)
        if not isinstance(self_approval, bool | list):
            raise UsageError("self_approval is true, false or a list of tool names")
        return cls(
            rules=rules,
            self_approval=self_approval,
            self_register=bool(data.get("self_register", True)),
        )


def _rule(rule_type: type[Allow | Deny], entry: Any) -> Allow | Deny:
    if not isinstance(entry, Mapping):
        raise UsageError(f"a {rule_type.__name__.lower()} rule must be a table or an object")
    fields = {"callers", "agents", *_FIELD_OF.values()}
    unknown = set(entry) - fields
    if unknown:
        raise UsageError(f"unknown rule members {sorted(unknown)}")
    try:
        return rule_type(**{k: list(_strings(k, v)) for k, v in entry.items()})
    except TypeError as exc:
        raise UsageError(f"invalid {rule_type.__name__.lower()} rule: {exc}") from None


def _strings(name: str, value: Any) -> Iterable[str]:
    if isinstance(value, str) or not isinstance(value, list):
        raise UsageError(f"rule member {name!r} must be a list of strings")
    return value


def load_policy(path: str | Path) -> Policy:
    """Read a policy from a ``.json`` or ``.toml`` file (see :meth:`Policy.from_dict`).

    Raises:
        UsageError: the file cannot be read or is not a valid policy.
    """
    source = Path(path)
    try:
        text = source.read_text("utf-8")
        data = tomllib.loads(text) if source.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the policy {source}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"the policy {source} must be an object")
    return Policy.from_dict(data)
