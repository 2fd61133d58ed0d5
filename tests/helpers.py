"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that must finish without suspending (sans-IO code under test)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("coroutine suspended; sans-IO code must not wait")
