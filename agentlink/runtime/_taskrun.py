"""Running tasks: the async side of the sans-IO task machine.

:class:`~agentlink.core._tasks.TaskRecord` decides what may happen; this module makes it
happen in time: it runs the work in the runtime's task group under a cancel scope, wakes
long polls when a task changes, and parks the work while it waits for input or approval.

A task enters ``working`` when its work first waits for something, reports progress or an
artifact, or ends; work that asks for input before anything else goes from ``submitted``
straight to ``input-required``, as the transition table allows.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from agentlink.core._tasks import TaskRecord, TaskTable
from agentlink.model import (
    Artifact,
    InputRequest,
    RpcError,
    Task,
    TaskEvent,
    TaskNotCancelable,
    ToolExecutionError,
)

__all__ = ["RunningTask", "TaskManager"]

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
Work = Callable[["RunningTask"], Awaitable[Any]]


class RunningTask:
    """One task and the machinery to run, pause, wake and cancel it."""

    __slots__ = (
        "_changed",
        "_input",
        "_input_ready",
        "_scope",
        "_starting",
        "record",
        "requester",
    )

    def __init__(self, record: TaskRecord, requester: str | None) -> None:
        self.record = record
        self.requester = requester
        self._changed = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._input_ready: anyio.Event | None = None
        self._input: Any = None
        # The work runs but has not been recorded as working yet (see the module docstring).
        self._starting = False

    @property
    def id(self) -> str:
        return self.record.id

    def snapshot(self) -> Task:
        return self.record.snapshot()

    def changed(self) -> None:
        """Wake everyone waiting for news of this task."""
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_after(self, seq: int, timeout: float) -> None:
        """Return once the task has an event newer than ``seq``, or ``timeout`` passed."""
        if self.record.seq > seq or self.record.terminal or timeout <= 0:
            return
        with anyio.move_on_after(timeout):
            while self.record.seq <= seq:
                await self._changed.wait()

    def events_after(self, seq: int, limit: int | None = None) -> list[TaskEvent]:
        return self.record.events_after(seq, limit)

    def _begin(self) -> None:
        """Record that the work runs, once, unless it has moved on without doing so."""
        if self._starting:
            self._starting = False
            if self.record.state == "submitted":
                self.record.start(time.time())
                self.changed()

    async def _begun(self) -> None:
        # Started beside the work, so it runs once the work first waits for anything.
        self._begin()

    def progress(self, fraction: float | None, message: str | None) -> None:
        self._begin()
        self.record.progress(time.time(), fraction, message)
        self.changed()

    def artifact(self, artifact: Artifact) -> None:
        self._begin()
        self.record.add_artifact(time.time(), artifact)
        self.changed()

    async def request_input(self, request: InputRequest) -> Any:
        """Pause in ``input-required`` until :meth:`provide_input` is called."""
        self._starting = False  # asking first: submitted -> input-required
        ready = self._input_ready = anyio.Event()
        self.record.require_input(time.time(), request)
        self.changed()
        await ready.wait()
        value, self._input = self._input, None
        return value

    def provide_input(self, value: Any) -> None:
        self.record.provide_input(time.time())
        self._input = value
        if self._input_ready is not None:
            self._input_ready.set()
            self._input_ready = None
        self.changed()

    def cancel(self, reason: str | None) -> None:
        """Cancel the task; the work, if running, is cancelled at its next checkpoint.

        Raises:
            TaskNotCancelable: the task already ended.
        """
        if self.record.terminal:
            raise TaskNotCancelable(
                f"task {self.id} is {self.record.state}",
                data={"task_id": self.id, "state": self.record.state},
            )
        self.record.cancel(time.time(), reason)
        if self._scope is not None:
            self._scope.cancel()
        self.changed()

    async def run(self, work: Work) -> None:
        """Run ``work`` to the end and record how it ended. Never raises."""
        async with anyio.create_task_group() as tg:
            if self.record.state == "submitted":
                self._starting = True
                tg.start_soon(self._begun)
            with anyio.CancelScope() as scope:
                self._scope = scope
                try:
                    output = await work(self)
                except RpcError as exc:
                    self._begin()
                    if not self.record.terminal:
                        self.record.fail(time.time(), exc)
                except Exception as exc:
                    self._begin()
                    if not self.record.terminal:
                        self.record.fail(
                            time.time(), ToolExecutionError(str(exc) or type(exc).__name__)
                        )
                else:
                    self._begin()
                    if not self.record.terminal:
                        self.record.complete(time.time(), output)
                finally:
                    self._scope = None
        self.changed()


class TaskManager:
    """The tasks of one agent: create, look up, launch, forget."""

    def __init__(self, spawn: Spawn, *, max_tasks: int | None = 10_000) -> None:
        self.table = TaskTable(max_tasks=max_tasks, max_events=1_000)
        self._running: dict[str, RunningTask] = {}
        self._spawn = spawn

    def create(self, tool: str | None, requester: str | None) -> RunningTask:
        now = time.time()
        self._forget(now)
        record = self.table.create(now, tool=tool)
        task = RunningTask(record, requester)
        self._running[record.id] = task
        return task

    def get(self, task_id: str) -> RunningTask:
        """Raises :class:`TaskNotFound` for an unknown id."""
        record = self.table.get(task_id)
        return self._running[record.id]

    def list(self, state: str | None = None) -> list[RunningTask]:
        return [self._running[r.id] for r in self.table.list_tasks(state=state)]  # type: ignore[arg-type]

    def open_count(self, requester: str | None) -> int:
        """How many tasks of ``requester`` have not ended."""
        return sum(
            1 for t in self._running.values() if t.requester == requester and not t.record.terminal
        )

    def launch(self, task: RunningTask, work: Work) -> None:
        """Start ``work`` for ``task`` in the runtime's task group."""

        async def runner() -> None:
            await task.run(work)

        self._spawn(runner)

    def _forget(self, now: float) -> None:
        # Finished tasks stay readable for an hour; then their memory is given back.
        if len(self.table) > 1_000:
            for task_id in self.table.forget(now, 3_600.0):
                self._running.pop(task_id, None)
