"""The ``peerlink`` console command.

Each sub-command lives in its own module under ``services.cli`` and exposes
``register(subparsers)``; this module only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: Modules that register sub-commands, in the order they appear in ``--help``.
_COMMAND_MODULES = (
    "services.cli.kafka_cmd",
    "services.cli.schemas_cmd",
    "services.cli.intake_cmd",
    "services.cli.caregaps_cmd",
    "services.cli.publisher_cmd",
    "services.cli.evaluation_cmd",
    "services.cli.simulate_cmd",
    "services.cli.demo_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peerlink",
        description="PeerLink: diabetes peer support linked to clinical care over Kafka.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen sub-command; its return value is the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
