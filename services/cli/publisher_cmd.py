"""``peerlink fhir-publisher run`` and ``peerlink fhir-publisher golden [--write]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _run(args: argparse.Namespace) -> int:
    from services.fhir_publisher.config import PublisherSettings
    from services.fhir_publisher.service import run_service
    from services.runtime import tune_gc

    overrides: dict[str, Any] = {}
    if args.ops_port is not None:
        overrides["ops_port"] = args.ops_port
    if args.validation is not None:
        overrides["validation"] = args.validation
    tune_gc()
    asyncio.run(run_service(PublisherSettings(**overrides)))
    return 0


def _golden(args: argparse.Namespace) -> int:
    from services.fhir_publisher.golden import GOLDEN_DIR, diff_goldens, write_goldens

    directory = Path(args.dir) if args.dir else GOLDEN_DIR
    if args.write:
        written = write_goldens(directory)
        print(f"peerlink: wrote {len(written)} golden files under {directory}", flush=True)
        return 0
    problems = diff_goldens(directory)
    for line in problems:
        print(f"peerlink: golden {line}", file=sys.stderr, flush=True)
    if problems:
        print("peerlink: regenerate with `peerlink fhir-publisher golden --write`", file=sys.stderr)
        return 1
    print("peerlink: golden FHIR resources match the mapping", flush=True)
    return 0


def register(subparsers: _Subparsers) -> None:
    publisher = subparsers.add_parser(
        "fhir-publisher", help="publish consent-gated FHIR R4 resources for clinics"
    )
    sub = publisher.add_subparsers(dest="publisher_command", required=True)

    run = sub.add_parser(
        "run", help="consume caregaps.changes.v1 and publish FHIR (settings: PEERLINK_PUBLISHER_*)"
    )
    run.add_argument("--ops-port", type=int, help="health and metrics port (default 8083)")
    run.add_argument(
        "--validation",
        choices=("quick", "rules", "model"),
        help="per-resource check before publishing (default quick)",
    )
    run.set_defaults(handler=_run)

    golden = sub.add_parser(
        "golden", help="compare the golden FHIR examples with the mapping (or --write them)"
    )
    golden.add_argument("--write", action="store_true", help="regenerate the golden files")
    golden.add_argument("--dir", help="golden folder (default schemas/golden/)")
    golden.set_defaults(handler=_golden)
