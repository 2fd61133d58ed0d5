from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import run_sync


@pytest.fixture
def drive() -> Any:
    return run_sync
