"""The ``agentlink`` command line. Arguments are parsed here; the work lives in the library."""

from ._app import app, main

__all__ = ["app", "main"]
