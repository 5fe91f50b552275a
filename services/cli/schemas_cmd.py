"""``peerlink schemas export``: regenerate (or check) the generated contract artefacts."""

from __future__ import annotations

import argparse
from typing import Any

from schemas import export

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("schemas", help="contract artefacts (JSON Schema, AsyncAPI)")
    commands = parser.add_subparsers(dest="schemas_command", required=True)
    export_parser = commands.add_parser(
        "export", help="write JSON Schema per event type, examples and the AsyncAPI document"
    )
    export_parser.add_argument(
        "--check", action="store_true", help="only report drift; exit 1 when files are stale"
    )
    export_parser.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    if args.check:
        problems = export.check()
        for problem in problems:
            print(f"schemas: {problem}")
        if problems:
            print("schemas: run `peerlink schemas export` to regenerate")
            return 1
        print("schemas: generated artefacts are up to date")
        return 0
    written = export.write()
    print(f"schemas: wrote {len(written)} files under {export.GENERATED_DIR}")
    return 0
