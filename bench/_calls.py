"""Tool call groups: agentlink on each binding beside that binding's floor.

Each group measures its subjects with 1 and with 32 concurrent callers: latency (p50 and
p99, microseconds) and throughput (calls per second). The agentlink subject is a
:class:`~agentlink.runtime.Runtime` hosting the echo agent, called through
``caller.peer("echo").call("echo", ...)`` from another agent. Over HTTP and NATS the echo
agent and the floors' servers run in a process of their own (``bench._serve``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from ._floors import bare_http_floor, direct_orjson, direct_pydantic, httpx_floor, nats_floor
from ._measure import AsyncCall, Sample, compare_calls
from ._payload import ARGUMENTS
from ._procs import served
from ._report import Group
from ._serve import echo_agent
from ._settings import Settings

__all__ = [
    "CALLERS",
    "add_call_figures",
    "agentlink_http",
    "agentlink_inproc",
    "agentlink_remote",
    "check_output",
    "http",
    "inproc",
    "measure",
    "nats",
]

#: Concurrent callers of every call figure.
CALLERS = (1, 32)


def check_output(name: str, output: Any) -> None:
    """Refuse to time a subject that does not echo the arguments."""
    if hasattr(output, "model_dump"):
        output = output.model_dump()
    if output != ARGUMENTS:
        raise RuntimeError(f"{name} answered {output!r}, not the arguments")


async def measure(
    subjects: Mapping[str, AsyncCall], settings: Settings
) -> dict[int, dict[str, Sample]]:
    """Check every subject once, then measure them all at each number of callers."""
    for name, call in subjects.items():
        check_output(name, await call())
    return {
        callers: await compare_calls(subjects, callers=callers, budget=settings.calls)
        for callers in CALLERS
    }


def add_call_figures(
    group: Group,
    results: dict[int, dict[str, Sample]],
    *,
    floors: Mapping[str, str | None],
    anchors: Mapping[str, str] | None = None,
) -> None:
    """p50, p99 and calls/s of every subject at every number of callers; ``floors`` maps
    each subject to its floor subject (None for a floor), in the order to list them."""
    anchors = anchors or {}
    for callers, samples in results.items():
        for name, floor in floors.items():
            sample = samples[name]
            anchor = anchors.get(name)
            for metric, value, unit, better in (
                ("p50", sample.percentile_us(50), "us", "lower"),
                ("p99", sample.percentile_us(99), "us", "lower"),
                ("calls/s", sample.per_second, "calls/s", "higher"),
            ):
                group.add(
                    f"{name} {metric} @{callers}",
                    value,
                    unit,
                    better=better,  # type: ignore[arg-type]
                    floor=None if floor is None else f"{floor} {metric} @{callers}",
                    anchor=None if anchor is None else f"{anchor} {metric} @{callers}",
                )


@asynccontextmanager
async def agentlink_inproc() -> AsyncIterator[AsyncCall]:
    """A Runtime hosting the echo agent and a caller; the call is the caller's."""
    from agentlink.runtime import Agent, Runtime

    caller = Agent("caller", role="decision")
    async with Runtime(agents=[echo_agent(), caller]):
        peer = caller.peer("echo")

        async def call() -> Any:
            return await peer.call("echo", ARGUMENTS)

        yield call


@asynccontextmanager
async def agentlink_remote(transport: Any, address: str) -> AsyncIterator[AsyncCall]:
    """A Runtime on ``transport`` hosting only the caller; the echo agent is ``address``."""
    from agentlink.runtime import Agent, Runtime

    caller = Agent("caller", role="decision")
    async with Runtime(agents=[caller], transport=transport, registry=None):
        peer = caller.peer(address)

        async def call() -> Any:
            return await peer.call("echo", ARGUMENTS)

        yield call


def agentlink_http(base_url: str) -> Any:
    """:func:`agentlink_remote` on HTTP, the echo agent at ``base_url``."""
    from agentlink.transport import HttpTransport

    return agentlink_remote(HttpTransport(routes={"echo": base_url}), "echo")


async def inproc(group: Group, settings: Settings) -> None:
    """In-process (memory binding) against a direct await with orjson, and with pydantic."""
    async with agentlink_inproc() as agentlink:
        results = await measure(
            {
                "direct+orjson": direct_orjson(),
                "direct+pydantic": direct_pydantic(),
                "agentlink": agentlink,
            },
            settings,
        )
    add_call_figures(
        group,
        results,
        floors={
            "direct+orjson": None,
            "direct+pydantic": "direct+orjson",
            "agentlink": "direct+orjson",
        },
        anchors={"agentlink": "direct+pydantic"},
    )


async def http(group: Group, settings: Settings) -> None:
    """HTTP binding against a bare HTTP/1.1 client and httpx, both calling a bare ASGI
    endpoint on uvicorn; every server in another process."""
    async with AsyncExitStack() as stack:
        addresses = await stack.enter_async_context(served("floor-http", "agentlink-http"))
        subjects: dict[str, AsyncCall] = {
            "bare-http": await stack.enter_async_context(bare_http_floor(addresses["floor-http"]))
        }
        floors: dict[str, str | None] = {"bare-http": None}
        anchors: dict[str, str] = {}
        try:
            subjects["httpx"] = await stack.enter_async_context(
                httpx_floor(addresses["floor-http"])
            )
            floors["httpx"] = "bare-http"
            anchors["agentlink"] = "httpx"
        except ImportError:
            group.note = "httpx is not installed (pip install 'agentlink[bench]'): no httpx floor"
        subjects["agentlink"] = await stack.enter_async_context(
            agentlink_http(addresses["agentlink-http"])
        )
        floors["agentlink"] = "bare-http"
        results = await measure(subjects, settings)
    add_call_figures(group, results, floors=floors, anchors=anchors)


async def nats(group: Group, settings: Settings) -> None:
    """NATS binding against bare nats-py request/reply, responders in another process."""
    from agentlink.transport import NatsTransport

    url = await settings.resources.nats_url()
    async with AsyncExitStack() as stack:
        addresses = await stack.enter_async_context(
            served("floor-nats", "agentlink-nats", nats_url=url)
        )
        floor = await stack.enter_async_context(nats_floor(url, addresses["floor-nats"]))
        agentlink = await stack.enter_async_context(
            agentlink_remote(NatsTransport(url), addresses["agentlink-nats"])
        )
        results = await measure({"nats-py": floor, "agentlink": agentlink}, settings)
    add_call_figures(group, results, floors={"nats-py": None, "agentlink": "nats-py"})
