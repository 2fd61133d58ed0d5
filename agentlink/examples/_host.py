"""Host one group of an example's agents: the child process of a distributed demo.

::

    python -m agentlink.examples._host job-shop machines --seed 7 --fast \\
        --http 127.0.0.1:0 --registry http://127.0.0.1:8700/agents/registry

It serves until SIGTERM or SIGINT, then deregisters its agents and exits with status 0.
``agentlink demo NAME --transport http|nats`` starts one per group. An example that is not
one of :data:`~agentlink.examples.EXAMPLES` is named by ``MODULE:OBJECT`` instead (its
:attr:`Example.name` is then that spec), so examples of one's own run distributed too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import anyio

from agentlink.transport import HttpTransport, Transport

from . import EXAMPLES, load
from ._multiprocess import serve_group
from ._scenario import Example, Settings


def resolve(name: str) -> Example:
    """The example called ``name``, or the one at ``MODULE:OBJECT``."""
    if name in EXAMPLES or ":" not in name:
        return load(name)
    module, _, attribute = name.partition(":")
    example = getattr(importlib.import_module(module), attribute)
    if not isinstance(example, Example):
        raise TypeError(f"{name} is not an Example")
    return example


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agentlink.examples._host")
    parser.add_argument("example", help="the example's name (job-shop) or MODULE:OBJECT")
    parser.add_argument("group", help="the group of agents to host")
    parser.add_argument("--seed", type=int, default=Settings().seed)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--registry", required=True, help="the registry's address")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--http", metavar="HOST:PORT", help="serve over HTTP here")
    where.add_argument("--nats", metavar="URL", help="serve over this NATS server")
    return parser.parse_args(argv)


def _transport(args: argparse.Namespace) -> Transport:
    if args.nats is not None:
        from agentlink.transport import NatsTransport

        nats: Transport = NatsTransport(args.nats)
        return nats
    host, _, port = args.http.rpartition(":")
    return HttpTransport(host=host, port=int(port))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and serve the group until told to stop."""
    args = _arguments(argv)
    example = resolve(args.example)
    settings = Settings(seed=args.seed, fast=args.fast)
    if args.group not in example.build(settings):
        print(f"{args.example} has no group {args.group!r}", file=sys.stderr)
        return 2
    anyio.run(
        lambda: serve_group(
            example, args.group, settings, transport=_transport(args), registry=args.registry
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
