"""Sans-IO protocol machinery: codec, dispatch, task machine, deadlines, idempotency.

Nothing here does I/O or reads a clock: bytes and dicts go in, replies and events come
out, and the current time is an argument.
"""
