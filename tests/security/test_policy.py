"""The access policy: deny by default, grants by caller id, role and capability, Deny wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlink.model import InvalidParams, UsageError
from agentlink.security import Allow, Deny, Policy, Subject, load_policy

PLANNER = Subject("planner", "decision", ("scheduling.jobshop",))
CAMERA = Subject("cam-1", "perception", ("vision.defect-detection",))
QA = Subject("qa-lead", "evaluation")
GUEST = Subject("guest")

POLICY = Policy(
    rules=[
        Allow(callers=["*"], methods=["agent/ping", "tools/list", "tasks/get"]),
        Allow(callers=["role:decision"], tools=["set_*", "start_job"], agents=["cnc-*"]),
        Allow(callers=["capability:vision.*"], publish=["quality.>"], tools=["report"]),
        Allow(callers=["role:evaluation", "qa-*"], approve=["set_*"], subscribe=["quality.*"]),
        Allow(callers=["planner"], performatives=["cfp", "accept-proposal"], register=["cell-*"]),
        Deny(callers=["guest"], methods=["*"]),
        Deny(callers=["role:decision"], tools=["set_emergency_*"]),
    ]
)


def test_nothing_is_allowed_that_no_rule_grants() -> None:
    assert not Policy().allows(PLANNER, "cnc-7", "tool", "set_speed")
    assert not Policy().allows(PLANNER, "cnc-7", "method", "agent/ping")
    assert not POLICY.allows(CAMERA, "cnc-7", "tool", "set_speed")
    assert not POLICY.allows(PLANNER, "cnc-7", "method", "tasks/cancel")


def test_tools_by_role_glob_and_target_agent() -> None:
    assert POLICY.allows(PLANNER, "cnc-7", "tool", "set_speed")
    assert POLICY.allows(PLANNER, "cnc-7", "tool", "start_job")
    assert not POLICY.allows(PLANNER, "mes", "tool", "set_speed")  # not one of cnc-*
    assert not POLICY.allows(PLANNER, "cnc-7", "tool", "reset")


def test_a_deny_wins_over_any_allow() -> None:
    assert not POLICY.allows(PLANNER, "cnc-7", "tool", "set_emergency_override")
    assert not POLICY.allows(GUEST, "cnc-7", "method", "agent/ping")
    assert not POLICY.allows(GUEST, "cnc-7", "tool", "status")


def test_capabilities_name_callers_too() -> None:
    assert POLICY.allows(CAMERA, "cnc-7", "publish", "quality.line1.cam")
    assert not POLICY.allows(CAMERA, "cnc-7", "publish", "energy.tariff")
    assert POLICY.allows(CAMERA, "cnc-7", "tool", "report")


def test_a_subscription_is_allowed_only_within_a_granted_pattern() -> None:
    assert POLICY.allows(QA, "cnc-7", "subscribe", "quality.line1")
    assert POLICY.allows(QA, "cnc-7", "subscribe", "quality.*")
    assert not POLICY.allows(QA, "cnc-7", "subscribe", "quality.>")
    assert not POLICY.allows(QA, "cnc-7", "subscribe", "quality.line1.cam")
    assert not POLICY.allows(QA, "cnc-7", "subscribe", ">")
    wide = Policy(rules=[Allow(callers=["*"], subscribe=["line1.>"])])
    assert wide.allows(QA, "x", "subscribe", "line1.>")
    assert wide.allows(QA, "x", "subscribe", "line1.*.temp")
    assert not wide.allows(QA, "x", "subscribe", "line1")
    assert not wide.allows(QA, "x", "subscribe", "line2.>")


def test_performatives_registrations_and_approvals() -> None:
    assert POLICY.allows(PLANNER, "cnc-7", "performative", "cfp")
    assert not POLICY.allows(PLANNER, "cnc-7", "performative", "request")
    assert POLICY.allows(PLANNER, "registry", "register", "cell-4")
    assert POLICY.allows(CAMERA, "registry", "register", "cam-1")  # itself
    assert not POLICY.allows(CAMERA, "registry", "register", "cam-2")
    assert not Policy(self_register=False).allows(CAMERA, "registry", "register", "cam-1")
    assert POLICY.allows(QA, "cnc-7", "approve", "set_speed")
    assert not POLICY.allows(QA, "cnc-7", "approve", "start_job")
    assert POLICY.may_approve_any(QA, "cnc-7")
    assert not POLICY.may_approve_any(PLANNER, "cnc-7")
    assert not POLICY.may_approve_any(GUEST, "cnc-7")


def test_a_method_grant_covers_everything_the_method_asks_for() -> None:
    everything = Policy(rules=[Allow(callers=["*"], methods=["*"])])
    for kind, value in [("tool", "x"), ("subscribe", ">"), ("approve", "y"), ("method", "z")]:
        assert everything.allows(GUEST, "a", kind, value)  # type: ignore[arg-type]
    assert everything.may_approve_any(GUEST, "a")
    fixture = Policy(
        rules=[
            Allow(callers=["*"], methods=["*"]),
            Deny(callers=["guest"], tools=["actuate", "stop"], methods=["tasks/approve"]),
        ]
    )
    assert not fixture.allows(GUEST, "fixture", "tool", "stop")
    assert fixture.allows(GUEST, "fixture", "tool", "echo")
    assert not fixture.may_approve_any(GUEST, "fixture")
    assert fixture.may_approve_any(QA, "fixture")


def test_a_method_glob_never_grants_approvals_or_tools() -> None:
    tasks = Policy(rules=[Allow(callers=["*"], methods=["tasks/*", "tools/*"])])
    assert tasks.allows(QA, "a", "method", "tasks/get")
    assert not tasks.allows(QA, "a", "approve", "set_speed")
    assert not tasks.may_approve_any(QA, "a")
    assert not tasks.allows(QA, "a", "tool", "stop")
    named = Policy(rules=[Allow(callers=["*"], methods=["tasks/approve"])])
    assert named.allows(QA, "a", "approve", "set_speed")
    refused = Policy(
        rules=[Allow(callers=["*"], methods=["*"]), Deny(callers=["*"], methods=["tasks/*"])]
    )
    assert not refused.allows(QA, "a", "approve", "set_speed")
    assert not refused.may_approve_any(QA, "a")


def test_self_approval_is_off_unless_granted_per_tool() -> None:
    assert not POLICY.allows_self_approval("set_speed")
    assert Policy(self_approval=True).allows_self_approval("anything")
    chosen = Policy(self_approval=["reset_*"])
    assert chosen.allows_self_approval("reset_alarm")
    assert not chosen.allows_self_approval("set_speed")


def test_decisions_are_remembered_per_subject() -> None:
    policy = Policy(rules=[Allow(callers=["role:decision"], tools=["*"])])
    assert policy.allows(PLANNER, "a", "tool", "t")
    demoted = Subject("planner", "x-intern")
    assert not policy.allows(demoted, "a", "tool", "t")
    assert policy.needs_cards
    assert not Policy(rules=[Allow(callers=["planner"], tools=["*"])]).needs_cards


def test_rules_are_checked_when_made() -> None:
    with pytest.raises(UsageError):
        Allow(callers=[], tools=["x"])
    with pytest.raises(UsageError):
        Allow(callers="planner", tools=["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParams):
        Allow(callers=["*"], subscribe=["a.>.b"])
    with pytest.raises(UsageError):
        Policy(rules=["allow everything"])  # type: ignore[list-item]


def test_a_policy_loads_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "policy.toml"
    toml.write_text(
        'self_approval = ["reset_*"]\n'
        "[[allow]]\n"
        'callers = ["role:decision"]\n'
        'tools = ["set_*"]\n'
        'agents = ["cnc-*"]\n'
        "[[deny]]\n"
        'callers = ["guest"]\n'
        'methods = ["*"]\n',
        "utf-8",
    )
    policy = load_policy(toml)
    assert policy.allows(PLANNER, "cnc-1", "tool", "set_speed")
    assert not policy.allows(GUEST, "cnc-1", "method", "agent/ping")
    assert policy.allows_self_approval("reset_alarm")
    as_json = tmp_path / "policy.json"
    as_json.write_text(
        json.dumps({"allow": [{"callers": ["*"], "methods": ["agent/ping"]}]}), "utf-8"
    )
    assert load_policy(as_json).allows(GUEST, "x", "method", "agent/ping")


@pytest.mark.parametrize(
    "text",
    [
        '{"allow": [{"callers": ["*"], "tool": ["x"]}]}',
        '{"allow": [{"callers": "*"}]}',
        '{"permit": []}',
        '{"allow": ["x"]}',
        "[1]",
        "not json",
    ],
)
def test_a_bad_policy_file_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(text, "utf-8")
    with pytest.raises(UsageError):
        load_policy(path)


def test_the_documented_policy_file_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "security.md"
    block = docs.read_text("utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "policy.toml"
    path.write_text(block, "utf-8")
    policy = load_policy(path)
    assert policy.allows(PLANNER, "cnc-3", "tool", "set_speed")
    assert policy.allows(Subject("shift-lead"), "cnc-3", "approve", "set_speed")
    assert policy.allows_self_approval("reset_alarm")
    assert not policy.allows(GUEST, "cnc-3", "method", "agent/ping")
