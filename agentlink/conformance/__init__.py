"""The conformance fixture: the agent whose behaviour the conformance suite tests against.

::

    async with serve_fixture(HttpTransport(host="127.0.0.1", port=8700)) as server:
        ...  # http://127.0.0.1:8700 is the fixture; /agents/registry its registry

Run the suite against it with ``agentlink conformance run --target URL``; with
``secure=True`` (``agentlink conformance fixture --secure``) it serves the secure mode the
security profile's tests need.
"""

from ._fixture import FIXTURE_ID, FIXTURE_PROFILES, fixture_agent, fixture_security
from ._serve import FixtureServer, serve_fixture

__all__ = [
    "FIXTURE_ID",
    "FIXTURE_PROFILES",
    "FixtureServer",
    "fixture_agent",
    "fixture_security",
    "serve_fixture",
]
