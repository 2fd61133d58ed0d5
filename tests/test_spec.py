"""Keep protocol/SPEC.md, docs/errors.md and the models equal.

The spec is written for people, but its requirement lines, tables and conformance units
follow a strict format so that tools read them with a few regular expressions. These tests
parse it the same way and compare it with ``agentlink.model``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import agentlink.model as model
from agentlink.model._schema import OBJECT_MODELS

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "protocol" / "SPEC.md"
ERRORS_DOC_PATH = ROOT / "docs" / "errors.md"
SCHEMAS_DIR = ROOT / "protocol" / "schemas"

AREAS = (
    "CORE",
    "CARD",
    "TOOL",
    "MSG",
    "NEG",
    "TASK",
    "EVT",
    "REG",
    "DATA",
    "ACT",
    "SEC",
    "HTTP",
    "NATS",
    "FIX",
)
LEVELS = ("MUST", "SHOULD", "MAY")
#: The one regex other tools use to read requirements.
REQUIREMENT = re.compile(r"^- \*\*(ALP-([A-Z]+)-(\d{3}))\*\* \((MUST|SHOULD|MAY)\) (\S.*)$")
REQUIREMENT_ID = re.compile(r"\bALP-[A-Z]+-\d{3}\b")
UNIT_LINE = re.compile(r"^- Unit `([a-z0-9-]+)`: (.+)$")
PROFILE_HEADING = re.compile(r"^### Profile: (\S+)$")
MEMBERS_MARKER = re.compile(r"^Members of `([A-Z]\w*)`")
KEYWORD = re.compile(
    r"\b(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY|REQUIRED|SHALL|RECOMMENDED|OPTIONAL)\b"
)


# -- parsing helpers ------------------------------------------------------------------------


def _spec() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")


def _errors_doc() -> str:
    return ERRORS_DOC_PATH.read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    """The cells of one markdown table row (escaped pipes stay inside their cell)."""
    inner = line.strip()
    assert inner.startswith("|"), line
    assert inner.endswith("|"), line
    parts = re.split(r"(?<!\\)\|", inner[1:-1])
    return [part.strip().replace("\\|", "|") for part in parts]


def _table_at(lines: list[str], start: int) -> list[list[str]]:
    """The body rows of the table whose header line is ``lines[start]``."""
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[start + 1].strip()), lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(_cells(line))
    return rows


def _tables(text: str, header: str) -> list[list[list[str]]]:
    """Every table in ``text`` whose header line is exactly ``header``."""
    lines = text.splitlines()
    return [_table_at(lines, i) for i, line in enumerate(lines) if line.strip() == header]


def _table_rows_all(text: str, header: str) -> list[list[str]]:
    """The rows of every table with header line ``header``, in order."""
    return [row for table in _tables(text, header) for row in table]


def _table(text: str, header: str) -> list[list[str]]:
    found = _tables(text, header)
    assert len(found) == 1, f"expected one table with header {header!r}, found {len(found)}"
    return found[0]


def _code(cell: str) -> str:
    """The text inside one pair of backticks, e.g. ``tools/call`` from a cell."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


def _requirements(text: str) -> list[tuple[str, str, str, str]]:
    """(id, area, level, text) of every requirement line, in order."""
    out = []
    for line in text.splitlines():
        if line.startswith("- **ALP-"):
            match = REQUIREMENT.match(line)
            assert match, f"malformed requirement line: {line!r}"
            rid, area, _, level, body = match.groups()
            out.append((rid, area, level, body))
    return out


def _section(text: str, heading: str) -> str:
    """The text of the level-2 section ``heading``, up to the next level-2 heading."""
    lines = text.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def _units(text: str) -> dict[str, tuple[str, list[str]]]:
    """unit name -> (profile, requirement ids), from the conformance section."""
    section = _section(text, "## Conformance units and profiles")
    units: dict[str, tuple[str, list[str]]] = {}
    profile: str | None = None
    for line in section.splitlines():
        heading = PROFILE_HEADING.match(line)
        if heading:
            profile = heading.group(1)
            continue
        if line.startswith("- Unit"):
            match = UNIT_LINE.match(line)
            assert match, f"malformed unit line: {line!r}"
            assert profile is not None, f"unit outside a profile: {line!r}"
            name, ids = match.groups()
            assert name not in units, f"unit {name} listed twice"
            units[name] = (profile, [part.strip() for part in ids.split(",")])
    return units


def _profiles(text: str) -> list[str]:
    section = _section(text, "## Conformance units and profiles")
    return [m.group(1) for line in section.splitlines() if (m := PROFILE_HEADING.match(line))]


def _member_tables(text: str) -> dict[str, list[list[str]]]:
    """model name -> rows of the ``| Member | Type | Required | Meaning |`` table after it."""
    lines = text.splitlines()
    out: dict[str, list[list[str]]] = {}
    for i, line in enumerate(lines):
        marker = MEMBERS_MARKER.match(line)
        if not marker:
            continue
        header = next(j for j in range(i + 1, len(lines)) if lines[j].strip())
        assert lines[header].strip() == "| Member | Type | Required | Meaning |", line
        name = marker.group(1)
        assert name not in out, f"two member tables for {name}"
        out[name] = _table_at(lines, header)
    return out


def _json_schema(cls: type[BaseModel]) -> dict[str, Any]:
    return cls.model_json_schema(by_alias=True, mode="validation")


def _enum_values(prop: dict[str, Any]) -> set[str] | None:
    """The string values a member (or its items) allows, when it is an enum or a constant."""
    options = [prop, *prop.get("anyOf", [])]
    options += [option["items"] for option in list(options) if "items" in option]
    for option in options:
        if "enum" in option:
            return {str(v) for v in option["enum"]}
        if "const" in option and isinstance(option["const"], str):
            return {option["const"]}
    return None


# -- errors ---------------------------------------------------------------------------------


def test_error_table_lists_exactly_the_error_classes() -> None:
    rows = _table(_spec(), "| Code | Name | Meaning |")
    listed = [(int(code), _code(name), meaning) for code, name, meaning in rows]
    expected = [(cls.code, cls.name, cls.meaning) for cls in model.ERROR_CLASSES.values()]
    assert sorted(listed) == sorted(expected)
    assert len(listed) == len({code for code, _, _ in listed})


def test_error_data_table_covers_every_error_once() -> None:
    rows = _table(_spec(), "| Error name | Members of `data` |")
    names = [_code(row[0]) for row in rows]
    assert Counter(names) == Counter(cls.name for cls in model.ERROR_CLASSES.values())


def test_errors_doc_has_exactly_one_anchor_per_error() -> None:
    anchors = re.findall(r'<a id="([^"]+)"></a>', _errors_doc())
    counts = Counter(anchors)
    assert {name for name, n in counts.items() if n > 1} == set()
    assert set(counts) == {cls.name for cls in model.ERROR_CLASSES.values()}


def test_errors_doc_heading_follows_each_anchor() -> None:
    lines = _errors_doc().splitlines()
    by_name = {cls.name: cls for cls in model.ERROR_CLASSES.values()}
    seen = set()
    for i, line in enumerate(lines):
        anchor = re.fullmatch(r'<a id="([^"]+)"></a>', line.strip())
        if not anchor:
            continue
        name = anchor.group(1)
        heading = next(text for text in lines[i + 1 :] if text.strip())
        assert heading == f"## {by_name[name].code} {name}"
        seen.add(name)
    assert seen == set(by_name)


def test_error_names_and_codes_agree_wherever_they_appear_together() -> None:
    by_name = {cls.name: cls.code for cls in model.ERROR_CLASSES.values()}
    pairs = re.findall(r"`([a-z_]+)` \((-3\d{4})\)", _spec() + _errors_doc())
    assert len(pairs) >= len(by_name), "expected error names written with their codes"
    for name, code in pairs:
        assert by_name.get(name) == int(code), f"{name} ({code})"


def test_docs_error_urls_point_at_the_errors_page() -> None:
    assert model.DOCS_BASE.endswith("/docs/errors")
    for cls in model.ERROR_CLASSES.values():
        assert cls.docs_url().endswith(f"/docs/errors#{cls.name}")
        assert f'<a id="{cls.name}"></a>' in _errors_doc()


# -- methods --------------------------------------------------------------------------------


def test_method_table_lists_exactly_the_methods_with_their_profiles() -> None:
    rows = _table(_spec(), "| Method | Profile | Params | Result |")
    listed = {_code(method): profile for method, profile, _, _ in rows}
    assert len(listed) == len(rows), "a method is listed twice"
    assert listed == {name: spec.profile for name, spec in model.METHODS.items()}


def test_method_table_names_existing_schema_files() -> None:
    rows = _table(_spec(), "| Method | Profile | Params | Result |")
    for method, _, params, result in rows:
        stem = _code(method).replace("/", ".")
        assert _code(params) == f"methods/{stem}.params.json"
        assert _code(result) == f"methods/{stem}.result.json"
        assert (SCHEMAS_DIR / _code(params)).is_file()
        assert (SCHEMAS_DIR / _code(result)).is_file()


def test_every_method_profile_is_a_profile() -> None:
    rows = _table(_spec(), "| Method | Profile | Params | Result |")
    assert {profile for _, profile, _, _ in rows} <= set(model.PROFILES)


# -- requirements, units and profiles -------------------------------------------------------


def test_requirement_ids_are_well_formed_and_unique() -> None:
    reqs = _requirements(_spec())
    assert len(reqs) >= 80
    ids = [rid for rid, _, _, _ in reqs]
    assert [rid for rid, n in Counter(ids).items() if n > 1] == []
    for rid, area, level, body in reqs:
        assert area in AREAS, rid
        assert level in LEVELS, rid
        assert body.strip(), rid


def test_requirements_are_numbered_from_one_without_gaps() -> None:
    numbers: dict[str, list[int]] = {}
    for rid, area, _, _ in _requirements(_spec()):
        numbers.setdefault(area, []).append(int(rid.rsplit("-", 1)[1]))
    for area, nums in numbers.items():
        assert sorted(nums) == list(range(1, len(nums) + 1)), area


def test_requirement_text_uses_no_keyword_of_another_level() -> None:
    allowed = {"MUST": {"MUST", "MUST NOT"}, "SHOULD": {"SHOULD", "SHOULD NOT"}, "MAY": {"MAY"}}
    for rid, _, level, body in _requirements(_spec()):
        used = set(KEYWORD.findall(body))
        assert used <= allowed[level], f"{rid} ({level}) uses {sorted(used)}"


def test_every_requirement_belongs_to_exactly_one_unit() -> None:
    text = _spec()
    ids = [rid for rid, _, _, _ in _requirements(text)]
    listed = [rid for _, members in _units(text).values() for rid in members]
    assert Counter(listed) == Counter(ids)


def test_every_unit_has_requirements_and_a_profile() -> None:
    units = _units(_spec())
    assert units
    for name, (profile, members) in units.items():
        assert profile in model.PROFILES, name
        assert members, name
        for rid in members:
            assert REQUIREMENT_ID.fullmatch(rid), f"{name}: {rid!r}"


def test_profile_headings_are_exactly_the_profiles() -> None:
    assert tuple(_profiles(_spec())) == model.PROFILES


def test_every_profile_has_a_unit() -> None:
    profiles_with_units = {profile for profile, _ in _units(_spec()).values()}
    assert profiles_with_units == set(model.PROFILES)


def test_unit_tables_describe_the_listed_units() -> None:
    text = _spec()
    described = [_code(row[0]) for row in _table_rows_all(text, "| Unit | Covers |")]
    assert Counter(described) == Counter(_units(text).keys())


def test_requirement_counts_table_matches_the_requirements() -> None:
    text = _spec()
    expected: dict[str, Counter[str]] = {}
    for _, area, level, _ in _requirements(text):
        expected.setdefault(area, Counter())[level] += 1
    rows = _table(text, "| Area | MUST | SHOULD | MAY | Total |")
    listed = {row[0]: [int(cell) for cell in row[1:]] for row in rows}
    total = listed.pop("all")
    assert set(listed) == set(expected)
    for area, (must, should, may, count) in listed.items():
        levels = expected[area]
        assert (must, should, may) == (levels["MUST"], levels["SHOULD"], levels["MAY"]), area
        assert count == must + should + may, area
    assert total == [sum(column) for column in zip(*listed.values(), strict=True)]


def test_cited_requirement_ids_exist() -> None:
    text = _spec()
    ids = {rid for rid, _, _, _ in _requirements(text)}
    for source in (text, _errors_doc()):
        cited = set(REQUIREMENT_ID.findall(source))
        assert cited - ids == set()


# -- vocabulary -----------------------------------------------------------------------------


def test_spec_lists_exactly_the_performatives() -> None:
    rows = _table(_spec(), "| Performative | Meaning |")
    assert tuple(_code(row[0]) for row in rows) == model.PERFORMATIVES


def test_spec_lists_exactly_the_task_states_and_terminal_ones() -> None:
    rows = _table(_spec(), "| State | Terminal | Meaning |")
    assert tuple(_code(row[0]) for row in rows) == model.TASK_STATES
    terminal = {_code(state) for state, flag, _ in rows if flag == "yes"}
    assert {flag for _, flag, _ in rows} == {"yes", "no"}
    assert terminal == model.TERMINAL_STATES


def test_transition_table_leaves_terminal_states_final() -> None:
    rows = _table(_spec(), "| From | To |")
    sources: set[str] = set()
    for source, targets in rows:
        froms = set(re.findall(r"`([a-z-]+)`", source))
        tos = set(re.findall(r"`([a-z-]+)`", targets))
        assert froms, source
        assert froms <= set(model.TASK_STATES)
        assert tos <= set(model.TASK_STATES)
        assert "submitted" not in tos, "no transition leads back to submitted"
        if froms & model.TERMINAL_STATES:
            assert froms <= model.TERMINAL_STATES
            assert tos == set()
            assert targets == "none"
        else:
            assert tos, source
        sources |= froms
    assert sources == set(model.TASK_STATES)


def test_spec_states_the_protocol_version() -> None:
    text = _spec()
    assert f"Version string: `{model.PROTOCOL_VERSION}`." in text
    assert model.SUPPORTED_VERSIONS == (model.PROTOCOL_VERSION,)


# -- member tables --------------------------------------------------------------------------


def _models_needing_tables() -> set[str]:
    needed = {cls.__name__ for cls in OBJECT_MODELS.values()}
    for spec in model.METHODS.values():
        needed.add(spec.result.__name__)
        params = _json_schema(spec.params)["properties"]
        if set(params) != {"_meta"}:
            needed.add(spec.params.__name__)
    return needed


def test_every_protocol_object_has_a_member_table() -> None:
    described = set(_member_tables(_spec()))
    assert _models_needing_tables() - described == set()


@pytest.mark.parametrize("name", sorted(_member_tables(_spec())))
def test_member_table_matches_model(name: str) -> None:
    cls = getattr(model, name)
    schema = _json_schema(cls)
    rows = _member_tables(_spec())[name]
    members = [_code(row[0]) for row in rows]
    assert members == list(schema["properties"]), name
    required = set(schema.get("required", []))
    for member, type_cell, required_cell, meaning in rows:
        member = _code(member)
        assert required_cell == ("yes" if member in required else "no"), f"{name}.{member}"
        assert meaning.strip(), f"{name}.{member}"
        values = _enum_values(schema["properties"][member])
        if values is not None:
            assert set(re.findall(r'`"([^"`]+)"`', type_cell)) == values, f"{name}.{member}"


# -- fixture agent --------------------------------------------------------------------------


def _fixture_tools() -> list[dict[str, Any]]:
    section = _section(_spec(), "## Conformance fixture agent")
    match = re.search(r"^The fixture's `tools`:\n\n```json\n(.*?)\n```$", section, re.M | re.S)
    assert match, "the fixture section must give its tools as one JSON block"
    tools = json.loads(match.group(1))
    assert isinstance(tools, list)
    return tools


def test_fixture_tools_are_valid_tools_with_unique_names() -> None:
    tools = [model.Tool.model_validate(tool) for tool in _fixture_tools()]
    names = [tool.name for tool in tools]
    assert len(names) == len(set(names))
    assert {"echo", "add", "fail", "slow", "long_task", "actuate"} <= set(names)


def test_fixture_tool_table_describes_the_declared_tools() -> None:
    rows = _table(_spec(), "| Tool | Declaration | Input | Behaviour |")
    assert [_code(row[0]) for row in rows] == [tool["name"] for tool in _fixture_tools()]


def test_fixture_declarations_match_the_table() -> None:
    rows = {
        _code(row[0]): row[1]
        for row in _table(_spec(), "| Tool | Declaration | Input | Behaviour |")
    }
    for raw in _fixture_tools():
        tool = model.Tool.model_validate(raw)
        declared = rows[tool.name]
        assert tool.safety in declared, tool.name
        assert ("requires_approval" in declared) == tool.requires_approval, tool.name
        assert ("idempotent" in declared) == tool.idempotent, tool.name
        assert ('"execution": "task"' in declared) == (tool.execution == "task"), tool.name


# -- appendix -------------------------------------------------------------------------------


def test_schema_appendix_lists_exactly_the_schema_files() -> None:
    rows = _table(_spec(), "| File | Describes |")
    listed = [_code(row[0]) for row in rows]
    on_disk = sorted(p.relative_to(SCHEMAS_DIR).as_posix() for p in SCHEMAS_DIR.rglob("*.json"))
    assert sorted(listed) == on_disk
