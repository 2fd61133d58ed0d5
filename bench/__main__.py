"""``python -m bench [--quick] [--json FILE] [--markdown FILE] [--only GROUP ...]``"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._run import GROUPS, Options, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure agentlink against the raw floor of each binding and the "
        "official A2A and MCP SDKs; every figure beside its floor, in the same run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs and small sizes (a smoke test)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the tables here, as Markdown"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(GROUPS),
        default=[],
        metavar="GROUP",
        help=f"run these groups only: {', '.join(GROUPS)}",
    )
    args = parser.parse_args(argv)
    options = Options(
        quick=args.quick, json=args.json, markdown=args.markdown, only=tuple(args.only)
    )
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
