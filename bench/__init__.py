"""Benchmarks: agentlink against the raw floor of each binding and the official A2A and MCP SDKs.

Run from the repository root::

    python -m bench [--quick] [--json FILE] [--only GROUP ...]

Every figure is measured beside its floor in the same run, on the same machine, and
reported as a ratio to it: the floor is what the same work costs with nothing but the
underlying library (a direct await with orjson, a bare HTTP/1.1 client against a bare ASGI
endpoint, bare nats-py request/reply). Ratios move much less than absolute figures when the
machine is shared. docs/performance.md explains every figure and the targets.
"""
