"""The requirements of protocol/SPEC.md as data: id, level, text, unit, profile.

The spec is the single source: requirement lines look like
``- **ALP-TOOL-004** (MUST) text`` and units like ``- Unit `tools-call`: ALP-TOOL-004, ...``
under ``### Profile: tools``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "protocol" / "SPEC.md"

_REQUIREMENT = re.compile(r"^- \*\*(ALP-[A-Z]+-[0-9]{3})\*\* \((MUST|SHOULD|MAY)\) (.*)$", re.M)
_PROFILE = re.compile(r"^### Profile: ([a-z-]+)\s*$")
_UNIT = re.compile(r"^- Unit `([a-z0-9-]+)`: (.*)$")
LEVELS = ("MUST", "SHOULD", "MAY")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    text: str
    unit: str
    profile: str


@cache
def requirements(path: Path = SPEC) -> dict[str, Requirement]:
    """Every requirement of the spec, by id."""
    text = path.read_text("utf-8")
    where: dict[str, tuple[str, str]] = {}
    profile = None
    section = text.split("## Conformance units and profiles", 1)[1]
    section = section.split("\n## ", 1)[0]
    for line in section.splitlines():
        match = _PROFILE.match(line)
        if match:
            profile = match.group(1)
            continue
        match = _UNIT.match(line)
        if match and profile is not None:
            for rid in (r.strip() for r in match.group(2).split(",")):
                where[rid] = (match.group(1), profile)
    out = {}
    for rid, level, body in _REQUIREMENT.findall(text):
        unit, prof = where.get(rid, ("?", "?"))
        out[rid] = Requirement(rid, level, body.strip(), unit, prof)
    return out


def profiles() -> list[str]:
    """Profile names in spec order."""
    seen: list[str] = []
    for requirement in requirements().values():
        if requirement.profile not in seen:
            seen.append(requirement.profile)
    return seen
