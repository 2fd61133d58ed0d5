from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The NATS binding needs asyncio; the examples run on the same backend everywhere.
    return "asyncio"
