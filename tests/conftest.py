from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

from tests.helpers import run_sync


@pytest.fixture
def drive() -> Any:
    return run_sync


# CI runs the property tests with a fixed seed, so a run is reproducible; locally they
# explore new inputs each time.
if os.environ.get("CI"):
    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.load_profile("ci")
