"""Every example gives the same result with its groups in separate OS processes (over
HTTP, and job-shop over NATS too) as in one process; a child that dies fails the run
with its output."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agentlink.examples import EXAMPLES, Settings, load, run_in_process
from agentlink.examples._multiprocess import find_nats_server, run_distributed
from agentlink.examples._scenario import ExampleFailed

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
FAST = Settings(seed=7, fast=True)


def available(name: str) -> None:
    if importlib.util.find_spec(EXAMPLES[name]) is None:
        pytest.skip(f"{EXAMPLES[name]} is not written yet")


@pytest.mark.parametrize("name", list(EXAMPLES))
async def test_example_over_http_equals_the_in_process_run(name: str) -> None:
    available(name)
    example = load(name)
    local = await run_in_process(example, FAST)
    remote = await run_distributed(example, FAST, binding="http")
    assert remote.data == local.data
    assert remote.artifacts == local.artifacts
    assert remote.headline == local.headline


@pytest.mark.skipif(find_nats_server() is None, reason="no nats-server")
async def test_job_shop_over_nats_equals_the_in_process_run() -> None:
    example = load("job-shop")
    local = await run_in_process(example, FAST)
    remote = await run_distributed(example, FAST, binding="nats")
    assert remote.data == local.data
    assert remote.data["makespan"] >= 55


async def test_a_child_that_dies_fails_the_run_with_its_story(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The child process imports the example by MODULE:OBJECT from the repository root.
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    from tests.examples.broken_example import EXAMPLE

    with pytest.raises(ExampleFailed, match="'faulty' process exited with status 3 while"):
        await run_distributed(EXAMPLE, FAST, binding="http")
