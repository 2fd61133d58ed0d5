"""agentlink: an interop standard and reference runtime for industrial AI agents."""

from agentlink.model import PROTOCOL_VERSION

__version__ = "0.1.0"

__all__ = ["PROTOCOL_VERSION", "__version__"]
