"""The protocol test vectors, the committed JSON Schemas and the models agree.

Every file under ``protocol/vectors/{valid,invalid}`` names a schema (by stem) and holds an
instance. The committed JSON Schema (validated with a plain Draft 2020-12 validator) and
the pydantic model it was generated from must both accept the valid instances and both
reject the invalid ones. Generated mutations of the valid instances check that the two
sides also agree on inputs nobody wrote down.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from referencing import Registry, Resource
from typer.testing import CliRunner

from agentlink.cli import app
from agentlink.core._validator import reference_validator
from agentlink.model._schema import model_for_schema, render_schemas

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "protocol" / "schemas"
VECTOR_DIR = ROOT / "protocol" / "vectors"
SPEC_FILE = ROOT / "protocol" / "SPEC.md"

REQUIREMENT_LINE = re.compile(r"^- \*\*(ALP-[A-Z]+-[0-9]{3})\*\* \((MUST|SHOULD|MAY)\)", re.M)
REQUIREMENT_ID = re.compile(r"^ALP-[A-Z]+-[0-9]{3}$")
VECTOR_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*\.json$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

VALID_FILES = sorted((VECTOR_DIR / "valid").glob("*.json"))
INVALID_FILES = sorted((VECTOR_DIR / "invalid").glob("*.json"))
ALL_FILES = VALID_FILES + INVALID_FILES
SCHEMA_STEMS = sorted(p.relative_to(SCHEMA_DIR).as_posix()[:-5] for p in SCHEMA_DIR.rglob("*.json"))
OBJECT_STEMS = [s for s in SCHEMA_STEMS if not s.startswith("methods/")]
PARAMS_STEMS = [s for s in SCHEMA_STEMS if s.startswith("methods/") and s.endswith(".params")]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def load_vector(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text("utf-8"))
    assert isinstance(doc, dict), f"{path.name}: a vector file holds a JSON object"
    return doc


@cache
def schema_registry() -> Registry:
    resources = []
    for path in SCHEMA_DIR.rglob("*.json"):
        contents = json.loads(path.read_text("utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(stem: str) -> Any:
    schema = json.loads((SCHEMA_DIR / f"{stem}.json").read_text("utf-8"))
    return reference_validator(schema, registry=schema_registry())


def schema_errors(stem: str, instance: Any) -> list[str]:
    return [
        f"{error.json_path}: {error.message}" for error in validator(stem).iter_errors(instance)
    ]


def model_errors(stem: str, instance: Any) -> list[str]:
    try:
        model_for_schema(stem).model_validate_json(json.dumps(instance).encode())
    except ValidationError as exc:
        return [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def verdicts(stem: str, instance: Any) -> tuple[list[str], list[str]]:
    """Errors from the JSON Schema and from the model (empty list: accepted)."""
    return schema_errors(stem, instance), model_errors(stem, instance)


@cache
def spec_requirements() -> frozenset[str]:
    assert SPEC_FILE.is_file(), "protocol/SPEC.md is missing"
    return frozenset(m.group(1) for m in REQUIREMENT_LINE.finditer(SPEC_FILE.read_text("utf-8")))


def kind_prefix(stem: str) -> str:
    """The file name prefix of a vector of ``stem``: ``methods/tools.call.params`` ->
    ``tools-call-params``, ``agent-card`` -> ``agent-card``."""
    return stem.removeprefix("methods/").replace(".", "-")


# --------------------------------------------------------------------------- the vectors


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_vector_verdict(path: Path) -> None:
    doc = load_vector(path)
    stem, instance = doc["schema"], doc["instance"]
    from_schema, from_model = verdicts(stem, instance)
    if path.parent.name == "valid":
        assert not from_schema, f"JSON Schema {stem} rejects a valid vector: {from_schema}"
        assert not from_model, f"model for {stem} rejects a valid vector: {from_model}"
    else:
        assert from_schema, f"JSON Schema {stem} accepts an invalid vector"
        assert from_model, f"model for {stem} accepts an invalid vector"


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_vector_members(path: Path) -> None:
    doc = load_vector(path)
    assert doc.get("schema") in SCHEMA_STEMS, f"unknown schema stem {doc.get('schema')!r}"
    assert isinstance(doc.get("description"), str)
    assert doc["description"].strip()
    assert "instance" in doc
    assert VECTOR_NAME.match(path.name), "file names are lower-case words joined by '-'"
    assert path.name.startswith(kind_prefix(doc["schema"]) + "-"), (
        f"file name should start with {kind_prefix(doc['schema'])}-"
    )
    if path.parent.name == "invalid":
        assert isinstance(doc.get("violation"), str)
        assert doc["violation"].strip()
        requirement = doc.get("requirement")
        assert isinstance(requirement, str)
        assert REQUIREMENT_ID.match(requirement), f"bad requirement id {requirement!r}"
        assert requirement in spec_requirements(), f"{requirement} is not in protocol/SPEC.md"
    else:
        assert "violation" not in doc, "a valid vector breaks no rule"
        if "requirement" in doc:
            assert doc["requirement"] in spec_requirements()


def test_vector_counts_and_unique_names() -> None:
    assert len(VALID_FILES) >= 30
    assert len(INVALID_FILES) >= 40
    names = _ids(ALL_FILES)
    assert len(names) == len(set(names)), "a file name is used in both valid/ and invalid/"
    stray = [
        p.relative_to(VECTOR_DIR).as_posix()
        for p in VECTOR_DIR.rglob("*")
        if p.is_file() and p.suffix == ".json" and p.parent.name not in {"valid", "invalid"}
    ]
    assert not stray, f"vectors outside valid/ and invalid/: {stray}"


def test_every_schema_has_a_valid_vector() -> None:
    covered = {load_vector(p)["schema"] for p in VALID_FILES}
    missing = [stem for stem in SCHEMA_STEMS if stem not in covered]
    assert not missing, f"schemas without a valid vector: {missing}"


def test_object_and_params_schemas_have_invalid_vectors() -> None:
    covered = {load_vector(p)["schema"] for p in INVALID_FILES}
    missing = [s for s in OBJECT_STEMS if s not in covered]
    assert not missing, f"object schemas without an invalid vector: {missing}"
    assert len(covered & set(PARAMS_STEMS)) >= 8, "too few method params schemas are tested"


def test_spec_has_requirements() -> None:
    assert spec_requirements(), "no requirement lines found in protocol/SPEC.md"


# --------------------------------------------------------------------------- the schemas


@pytest.mark.parametrize("stem", SCHEMA_STEMS)
def test_committed_schema_is_valid_2020_12(stem: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{stem}.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{stem}.json")


def test_committed_schemas_match_models() -> None:
    wanted = render_schemas()
    on_disk = {
        p.relative_to(SCHEMA_DIR).as_posix(): p.read_text("utf-8")
        for p in SCHEMA_DIR.rglob("*.json")
    }
    assert sorted(on_disk) == sorted(wanted), "schema files missing or extra"
    stale = [rel for rel, text in wanted.items() if on_disk[rel] != text]
    assert not stale, f"stale schemas (run `agentlink schema export`): {stale}"


def _plain(output: str) -> str:
    """CLI output without colour codes or line wrapping."""
    return "".join(ANSI_ESCAPE.sub("", output).split())


def test_cli_schema_check_passes_on_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["schema", "check"])
    assert result.exit_code == 0, result.output


def test_cli_schema_check_names_stale_file(tmp_path: Path) -> None:
    copy_dir = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, copy_dir)
    edited = copy_dir / "methods" / "tools.call.params.json"
    schema = json.loads(edited.read_text("utf-8"))
    schema["description"] = "edited by hand"
    edited.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", "utf-8")

    result = CliRunner().invoke(app, ["schema", "check", "--dir", str(copy_dir)])

    assert result.exit_code == 1, result.output
    output = _plain(result.output)
    assert _plain(str(edited)) in output
    assert output.count("stale:") == 1, result.output


# --------------------------------------------------------------------------- mutations

# Cases on which the JSON Schema side and the model side once disagreed; both must now
# reject each of them.
FORMER_DISAGREEMENTS = [
    # Every `^...$` pattern: Python's `re` lets `$` match before a final "\n"; ECMA-262,
    # which JSON Schema patterns follow, does not. The reference validator uses ECMA
    # anchors, and so does the model's regex engine.
    pytest.param(
        "meta",
        {"protocol": "agentlink/0.1\n", "message_id": "msg-1"},
        id="pattern-trailing-newline-protocol",
    ),
    pytest.param(
        "measurement",
        {
            "value": 41.7,
            "unit": "CEL\n",
            "quality": "good",
            "source_ts": "2025-03-14T08:15:01Z",
            "asset_id": "mill-03",
        },
        id="pattern-trailing-newline-unit",
    ),
    pytest.param(
        "methods/tools.call.params",
        {"_meta": {"protocol": "agentlink/0.1", "message_id": "m-1"}, "name": "add\n"},
        id="pattern-trailing-newline-tool-name",
    ),
    # `_meta` is accepted under its wire name only, never as `meta`.
    pytest.param(
        "methods/agent.ping.params",
        {"meta": {"protocol": "agentlink/0.1", "message_id": "m-1"}},
        id="params-meta-by-field-name",
    ),
    pytest.param(
        "request",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "agent/ping",
            "params": {"meta": {"protocol": "agentlink/0.1", "message_id": "m-1"}},
        },
        id="request-params-meta-by-field-name",
    ),
    # `ok` must be exactly true: not 1, even though 1 == True in Python.
    pytest.param(
        "methods/agent.ping.result",
        {"ok": 1, "time": "2025-03-14T08:15:02Z"},
        id="ping-result-ok-integer-one",
    ),
]


@pytest.mark.parametrize(("stem", "instance"), FORMER_DISAGREEMENTS)
def test_former_disagreements_are_rejected_by_both(stem: str, instance: Any) -> None:
    from_schema, from_model = verdicts(stem, instance)
    assert from_schema, f"{stem}: the schema accepts {instance!r}"
    assert from_model, f"{stem}: the model accepts {instance!r}"


Location = tuple[str | int, ...]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def locations(value: Any, here: Location = ()) -> list[Location]:
    """Every location inside a JSON value, the root included."""
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found += locations(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += locations(item, (*here, index))
    return found


def get_at(value: Any, where: Location) -> Any:
    for step in where:
        value = value[step]
    return value


def set_at(value: Any, where: Location, new: Any) -> Any:
    if not where:
        return new
    get_at(value, where[:-1])[where[-1]] = new
    return value


# Floats that are not whole numbers: a JSON Schema "integer" accepts 1.0 and the strict
# models do not, a known and accepted difference between the two (not a protocol bug).
fractional_floats = st.floats(
    min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False
).filter(lambda f: not f.is_integer())
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SPECIAL_STRINGS = [
    "",
    " ",
    "\n",
    "/",
    "*",
    ">",
    ".",
    "-",
    "x-",
    "A",
    "a",
    "0",
    "é",
    "\u00a0",
    "2025-03-14T08:15:02Z",
    "agentlink/0.1",
    "agentlink/9.9",
    "actuates",
    "read-only",
    "object",
    "CEL",
    "approve",
    "completed",
    "inform",
    "execution",
]
json_strings = st.one_of(st.sampled_from(SPECIAL_STRINGS), st.text(max_size=12))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, -1]), int64, fractional_floats, json_strings
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(json_strings, inner, max_size=3)
    ),
    max_leaves=6,
)


def other_type_value(old: Any) -> st.SearchStrategy[Any]:
    return json_values.filter(lambda new: json_type(new) != json_type(old))


def string_variants(old: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([old + "\n", " " + old, old + " ", old.upper(), old.lower(), old[:-1]]),
        st.builds(lambda extra: old + extra, json_strings),
        st.builds(lambda n: old[:n], st.integers(min_value=0, max_value=len(old))),
        json_strings,
        st.just(old * 40),
    )


def number_variants(old: int | float) -> st.SearchStrategy[Any]:
    if isinstance(old, int):
        return st.one_of(
            st.sampled_from([old - 1, old + 1, -old, 0, -1, 1, old * 1000]),
            int64,
        )
    return st.one_of(
        st.sampled_from([old - 1.0, old + 0.5, -old, 0.0, 1.0, 1e9, old * 1000]),
        fractional_floats,
        int64,
    )


@st.composite
def mutation(draw: st.DrawFn, instance: Any) -> tuple[str, Location, Any]:
    """One mutation of ``instance``: (what was done, where, the mutated instance)."""
    mutated = copy.deepcopy(instance)
    where = draw(st.sampled_from(locations(mutated)))
    old = get_at(mutated, where)
    kinds = ["retype", "null", "add-member"]
    if where and isinstance(get_at(mutated, where[:-1]), dict):
        kinds += ["drop-member", "rename-member"]
    if where and isinstance(get_at(mutated, where[:-1]), list):
        kinds += ["drop-item", "duplicate-item"]
    if isinstance(old, str):
        kinds += ["string", "string"]
    if isinstance(old, int | float) and not isinstance(old, bool):
        kinds += ["number", "number"]
    if isinstance(old, list):
        kinds += ["empty-array", "append-item"]
    if isinstance(old, bool):
        kinds += ["flip"]
    kind = draw(st.sampled_from(kinds))

    if kind == "retype":
        mutated = set_at(mutated, where, draw(other_type_value(old)))
    elif kind == "null":
        mutated = set_at(mutated, where, None)
    elif kind == "add-member":
        target = old if isinstance(old, dict) else get_at(mutated, where[:-1]) if where else None
        if isinstance(target, dict):
            target[draw(json_strings)] = draw(json_values)
        else:
            mutated = set_at(mutated, where, {draw(json_strings): draw(json_values)})
    elif kind == "drop-member":
        del get_at(mutated, where[:-1])[where[-1]]
    elif kind == "rename-member":
        parent, key = get_at(mutated, where[:-1]), str(where[-1])
        new_key = draw(st.sampled_from([key.lstrip("_"), "_" + key, key.upper(), key + "_"]))
        parent[new_key] = parent.pop(key)
    elif kind == "drop-item":
        del get_at(mutated, where[:-1])[where[-1]]
    elif kind == "duplicate-item":
        get_at(mutated, where[:-1]).append(copy.deepcopy(old))
    elif kind == "string":
        mutated = set_at(mutated, where, draw(string_variants(old)))
    elif kind == "number":
        mutated = set_at(mutated, where, draw(number_variants(old)))
    elif kind == "empty-array":
        mutated = set_at(mutated, where, [])
    elif kind == "append-item":
        old.append(draw(json_values))
    else:  # flip
        mutated = set_at(mutated, where, not old)
    return kind, where, mutated


@st.composite
def mutated_vector(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, Location]], Any]:
    path = draw(st.sampled_from(VALID_FILES))
    doc = load_vector(path)
    instance = doc["instance"]
    steps = []
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        kind, where, instance = draw(mutation(instance))
        steps.append((kind, where))
    return path.name, doc["schema"], steps, instance


@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_vector())
def test_schema_and_model_agree_on_mutations(
    case: tuple[str, str, list[tuple[str, Location]], Any],
) -> None:
    name, stem, steps, instance = case
    note(f"vector {name} ({stem}), mutations {steps}")
    note(f"instance: {json.dumps(instance)}")
    from_schema, from_model = verdicts(stem, instance)
    assert bool(from_schema) == bool(from_model), (
        f"{stem}: schema errors {from_schema}, model errors {from_model}"
    )
