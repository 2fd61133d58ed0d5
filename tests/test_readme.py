"""Every Python block in README.md and docs/ runs, and the README's promises hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in DOCS:
        for i, code in enumerate(BLOCK.findall(path.read_text("utf-8"))):
            blocks.append((f"{path.name}#{i}", code))
    return blocks


@pytest.mark.parametrize(("where", "code"), python_blocks(), ids=[w for w, _ in python_blocks()])
def test_documented_python_runs(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"


def test_quick_tour_prints_what_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    tour = BLOCK.findall(readme.split("## Quick tour", 1)[1])[0]
    assert len(tour.strip().splitlines()) < 40
    for role in ("perception", "demand", "execution", "decision", "evaluation"):
        assert f'role="{role}"' in tour
    script = tmp_path / "tour.py"
    script.write_text(tour, "utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.42 MMT {'feed': 0.8}"
    assert "It prints `0.42 MMT {'feed': 0.8}`" in readme


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "```sh\nmake demo\n```" in readme
    assert "```sh\nmake test\n```" in readme
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^demo: ", makefile, re.M)
    assert re.search(r"^test: ", makefile, re.M)
