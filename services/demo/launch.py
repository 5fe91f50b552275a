"""``python -m services.demo.launch <cli module> <args...>``: run one ``peerlink`` sub-command.

The demo starts services through this so that a service's command works as soon as its CLI
module exists, independent of the order of ``services.cli._COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m services.demo.launch <cli module> <args...>", file=sys.stderr)
        return 2
    module_name, rest = args[0], args[1:]
    if not module_name.startswith("services.cli."):
        print(f"launch: {module_name} is not a services.cli module", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="peerlink")
    subparsers = parser.add_subparsers(dest="command", required=True)
    importlib.import_module(module_name).register(subparsers)
    parsed = parser.parse_args(rest)
    result: int = parsed.handler(parsed)
    return result


if __name__ == "__main__":
    sys.exit(main())
