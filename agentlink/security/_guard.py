"""Enforcement: the guard a runtime puts in front of each agent's dispatcher.

For every request except ``agent/card`` (public, ALP-SEC-002), in the order of ALP-CORE-032:

1. **limits** on the request's size (``max_string``);
2. **authentication**: a bearer token (``Authorization: Bearer`` header, NATS header or
   ``_meta.auth``), a TLS client certificate's identity, or the identity of an in-process
   caller that the runtime vouches for; ``_meta.sender``, when present, must be that
   identity (ALP-SEC-004). ``_meta.auth`` is removed from the request once read;
3. **authorization**: the caller's rate budget, then the policy, then its open long polls;
4. the handler runs; **audit**: one record per call, with its outcome.

Missing or bad credentials give ``unauthorized`` (-32021), a known caller who may not
``forbidden`` (-32022), a caller over a limit ``overloaded`` (-32026).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from agentlink.core._dispatch import Call
from agentlink.model import (
    Forbidden,
    RpcError,
    SecurityScheme,
    Unauthorized,
)

from ._audit import args_digest
from ._config import SecurityConfig
from ._jwt import TokenVerifier, mint_token
from ._limits import RateLimiter, check_strings, overloaded
from ._policy import Kind, Subject

__all__ = ["STATE_CHANGING", "AgentGuard", "Security"]

#: Requests that change state (protocol/SPEC.md, Idempotency): a single-use token is used up.
STATE_CHANGING: Final = frozenset(
    {
        "tools/call",
        "message/send",
        "tasks/cancel",
        "tasks/input",
        "tasks/approve",
        "events/publish",
        "registry/register",
        "registry/heartbeat",
        "registry/deregister",
    }
)
LONG_POLLS: Final = frozenset({"tasks/subscribe", "events/subscribe", "registry/watch"})
_REGISTRATIONS: Final = frozenset(
    {"registry/register", "registry/heartbeat", "registry/deregister"}
)

#: Looks up what a caller's registered card says (role, capabilities).
Resolver = Callable[[str], Awaitable[Subject]]


def _unauthorized(reason: str) -> Unauthorized:
    return Unauthorized(f"unauthorized: {reason}", data={"reason": reason})


class Security:
    """A runtime's security, built once from its :class:`SecurityConfig`.

    Args:
        config: what to enforce.
        resolve: looks up callers' cards for policies that name roles or capabilities.
        mtls: accept TLS client certificate identities (default: ``config.mtls``; a
            runtime on a mutual-TLS transport passes True).
    """

    def __init__(
        self,
        config: SecurityConfig,
        *,
        resolve: Resolver | None = None,
        mtls: bool | None = None,
    ) -> None:
        self.config = config
        self.mtls = config.mtls if mtls is None else mtls
        self.verifier = None if config.bearer is None else TokenVerifier(config.bearer)
        self.policy = config.policy
        self.audit = config.audit
        self.limits = config.limits
        self.resolve = resolve
        self._subjects: dict[str, tuple[Subject, float]] = {}

    def schemes(self) -> list[SecurityScheme]:
        """The card's ``security`` member."""
        schemes = []
        if self.config.bearer is not None:
            schemes.append(self.config.bearer.card_entry())
        if self.mtls:
            schemes.append(SecurityScheme(type="mtls"))
        if self.config.anonymous:
            schemes.append(SecurityScheme(type="none"))
        return schemes

    @property
    def authenticates(self) -> bool:
        """Whether callers must prove who they are (the card may claim ``security``)."""
        return not self.config.anonymous and (self.verifier is not None or self.mtls)

    def mint(self, sender: str | None, audience: str, now: float) -> str | None:
        """A fresh token for ``sender`` to call ``audience``, if ``sender`` has a key."""
        key = None if sender is None else self.config.keys.get(sender)
        if key is None or sender is None:
            return None
        return mint_token(
            key,
            subject=sender,
            audience=audience,
            issuer=self.config.token_issuer,
            lifetime=self.config.token_lifetime,
            now=now,
        )

    def guard(self, agent_id: str, *, actuating: Callable[[str], bool] | None = None) -> AgentGuard:
        """The guard of one hosted agent (or of the registry)."""
        return AgentGuard(self, agent_id, actuating=actuating)

    async def subject(self, identity: str, now: float) -> Subject:
        """The policy's view of a caller; cards are looked up (and kept 5 s) only when the
        policy names roles or capabilities."""
        if self.policy is None or self.resolve is None or not self.policy.needs_cards:
            return Subject(identity)
        known = self._subjects.get(identity)
        if known is not None and known[1] > now:
            return known[0]
        subject = await self.resolve(identity)
        if len(self._subjects) > 10_000:
            self._subjects.clear()
        self._subjects[identity] = (subject, now + 5.0)
        return subject


class AgentGuard:
    """Authentication, authorization, limits and audit in front of one agent's dispatcher
    (the ``Guard`` of :class:`agentlink.core._dispatch.Dispatcher`)."""

    def __init__(
        self, security: Security, agent_id: str, *, actuating: Callable[[str], bool] | None
    ) -> None:
        self.security = security
        self.agent_id = agent_id
        self.actuating = actuating
        config = security.config
        limits = security.limits
        self._max_string = None if limits is None else limits.max_string
        self._limiter = (
            None
            if limits is None or (limits.rate is None and not limits.caller_rates)
            else RateLimiter(limits.rate, limits.caller_rates)
        )
        self._max_polls = None if limits is None else limits.max_subscriptions
        self._polls: dict[str, int] = {}
        self._held: dict[int, str] = {}
        # The authenticated identity of each call in progress (by the call object's id).
        self._identities: dict[int, str] = {}
        self._mtls = security.mtls
        self._anonymous = config.anonymous

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, call: Call) -> None:
        meta = call.meta
        if self._max_string is not None:
            check_strings(call.params, self._max_string)
        if call.method == "agent/card":
            meta.pop("auth", None)
            return
        token = self._token(call)
        context = call.context
        verifier = self.security.verifier
        token_identity = None
        if token is not None and verifier is not None:
            claims = verifier.verify(
                token, audience=self.agent_id, now=call.now, consume=call.method in STATE_CHANGING
            )
            token_identity = claims.sub
        claimed = getattr(context, "identity", None)
        local = getattr(context, "remote", None) == "local"
        if claimed is not None and local and token_identity not in (None, claimed):
            raise _unauthorized("the token's subject is not the calling agent")
        peer_identity = None
        if claimed is not None and ((local and verifier is None) or (not local and self._mtls)):
            peer_identity = claimed
        if token_identity is not None and peer_identity not in (None, token_identity):
            raise _unauthorized("the token's subject differs from the certificate's identity")
        identity = token_identity or peer_identity
        sender = meta.get("sender")
        if identity is None:
            if not self._anonymous:
                raise _unauthorized(
                    "no credentials" if token is None else "no credentials accepted here"
                )
            return
        if sender is None:
            # The identity is the sender; an approval still has to name its approver
            # (ALP-ACT-009).
            if call.method != "tasks/approve":
                meta["sender"] = identity
        elif sender != identity:
            raise _unauthorized("_meta.sender is not the authenticated identity")
        self._identities[id(call)] = identity

    def _token(self, call: Call) -> str | None:
        """The bearer token of a request: its ``_meta.auth`` (removed from the request),
        else the binding's ``Authorization`` header. A request of a batch may so carry a
        token of its own (a single-use token serves one command)."""
        token: str | None = call.meta.pop("auth", None)
        if token is not None:
            return token
        headers = getattr(call.context, "headers", None)
        header: str | None = None if not headers else headers.get("authorization")
        if header is None:
            return None
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise _unauthorized("the Authorization header is not 'Bearer <token>'")
        return value

    # -- authorization -------------------------------------------------------------------

    async def authorize(self, call: Call) -> None:
        if call.method == "agent/card":
            return
        identity = self._identities.get(id(call))
        caller = identity or f"anonymous@{getattr(call.context, 'remote', None)}"
        if self._limiter is not None:
            self._limiter.take(caller, call.now)
        policy = self.security.policy
        if policy is not None:
            subject = await self.security.subject(identity or "", call.now)
            if call.method == "tasks/approve":
                if not policy.may_approve_any(subject, self.agent_id):
                    raise _forbidden(subject.id, "may not approve actuations here")
            else:
                for kind, value in _asks(call):
                    if not policy.allows(subject, self.agent_id, kind, value):
                        raise _forbidden(subject.id, f"may not use {kind} {value!r}")
        if self._max_polls is not None and call.method in LONG_POLLS:
            held = self._polls.get(caller, 0)
            if held >= self._max_polls:
                raise overloaded(f"{self._max_polls} open subscriptions", 1.0)
            self._polls[caller] = held + 1
            self._held[id(call)] = caller

    async def check_approval(self, call: Call, tool: str | None) -> None:
        """Raise ``forbidden`` unless the policy lets the caller of ``call`` (as
        authenticated: an anonymous caller is nobody) approve ``tool``."""
        policy = self.security.policy
        if policy is None:
            return
        subject = await self.security.subject(self._identities.get(id(call)) or "", call.now)
        if tool is None or not policy.allows(subject, self.agent_id, "approve", tool):
            raise _forbidden(subject.id, f"may not approve {tool!r}")

    def allows_self_approval(self, tool: str | None) -> bool:
        """Whether the policy lets a requester approve its own call of ``tool``."""
        policy = self.security.policy
        return policy is not None and tool is not None and policy.allows_self_approval(tool)

    @property
    def max_open_tasks(self) -> int | None:
        """How many unfinished tasks one caller may have (None: no limit)."""
        limits = self.security.limits
        return None if limits is None else limits.max_open_tasks

    def check_open_tasks(self, open_tasks: int) -> None:
        """Raise ``overloaded`` when a caller already has its limit of unfinished tasks."""
        limit = self.max_open_tasks
        if limit is not None and open_tasks >= limit:
            raise overloaded(f"{limit} open tasks", 1.0)

    # -- audit ---------------------------------------------------------------------------

    def finish(
        self, call: Call, error: RpcError | None, result: Any = None, *, canceled: bool = False
    ) -> None:
        identity = self._identities.pop(id(call), None)
        caller = self._held.pop(id(call), None)
        if caller is not None:
            left = self._polls[caller] - 1
            if left:
                self._polls[caller] = left
            else:
                del self._polls[caller]
        audit = self.security.audit
        if audit is None:
            return
        params = call.params
        task_id = params.get("task_id")
        tool = params.get("name") if call.method == "tools/call" else None
        if type(result) is dict:
            task = result.get("task") if call.method == "tools/call" else result
            if type(task) is dict:
                task_id = task.get("id", task_id)
                tool = tool or task.get("tool")
        record: dict[str, Any] = {
            "caller": identity or call.meta.get("sender"),
            "authenticated": identity is not None,
            "target": self.agent_id,
            "method": call.method,
            "tool": tool if type(tool) is str else None,
            "args_sha256": args_digest(
                params.get("arguments", {})
                if call.method == "tools/call"
                else {k: v for k, v in params.items() if k != "_meta"}
            ),
            "outcome": "canceled" if canceled else "ok" if error is None else error.name,
            "task_id": task_id if type(task_id) is str else None,
        }
        if error is not None:
            record["error_code"] = error.code
        if call.method == "tasks/approve":
            record["decision"] = params.get("decision")
        elif (
            call.method == "tools/call"
            and self.actuating is not None
            and type(tool) is str
            and self.actuating(tool)
        ):
            record["actuates"] = True
        kind = "approval" if call.method == "tasks/approve" else "call"
        audit.append(kind, call.now, record)

    def record(self, kind: str, now: float, **fields: Any) -> None:
        """Add a record that is not a call (an actuation that runs after its approvals)."""
        if self.security.audit is not None:
            self.security.audit.append(kind, now, {"target": self.agent_id, **fields})


def _forbidden(caller: str, what: str) -> Forbidden:
    who = caller or "an anonymous caller"
    return Forbidden(f"{who} {what}", data={"reason": f"{who} {what}"})


def _asks(call: Call) -> list[tuple[Kind, str]]:
    """What a request asks the policy for (see :mod:`._policy`)."""
    method = call.method
    params = call.params
    model = call.model
    if method == "tools/call":
        return [("tool", params["name"])]
    if method == "message/send":
        return [("performative", model.message.performative)]
    if method == "events/subscribe":
        return [("subscribe", topic) for topic in model.topics]
    if method == "events/publish":
        return [("publish", model.topic)]
    if method in _REGISTRATIONS:
        agent = model.card.id if method == "registry/register" else model.agent_id
        return [("register", agent)]
    return [("method", method)]
