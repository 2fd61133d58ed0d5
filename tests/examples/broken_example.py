"""An example whose worker process dies in the middle of the run (for the failure tests).

Distributed runs import it in the child as ``tests.examples.broken_example:EXAMPLE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentlink.examples import DRIVER, Example, Outcome, Progress, Settings
from agentlink.runtime import Agent


def build(settings: Settings) -> dict[str, list[Agent]]:
    probe = Agent("probe", role="demand")
    worker = Agent("worker", role="execution")

    @worker.tool
    async def crash() -> dict[str, bool]:
        """Die at once, as a process killed by a fault would."""
        os._exit(3)

    return {DRIVER: [probe], "faulty": [worker]}


async def drive(agents: Mapping[str, Agent], settings: Settings, progress: Progress) -> Outcome:
    await agents["probe"].peer("worker").call("crash", timeout=30)
    return Outcome(name=EXAMPLE.name, seed=settings.seed, headline="not reached")


EXAMPLE = Example(
    name="tests.examples.broken_example:EXAMPLE",
    title="A worker that crashes",
    build=build,
    drive=drive,
)
