"""``peerlink demo``: the whole pipeline on a local broker with a simulated cohort."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _demo(args: argparse.Namespace) -> int:
    from services.demo.run import DemoConfig, run_demo, with_overrides

    # aiokafka reports every refused connection while the broker starts; the demo reports
    # outcomes itself, in one line each.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = with_overrides(
        DemoConfig(),
        participants=args.participants,
        months=args.months,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
        keep_running=args.keep_running or None,
        bootstrap_servers=args.bootstrap_servers,
        tick_every_days=args.tick_days,
        sync_ticks=False if args.no_sync else None,
        drain_timeout_s=args.timeout,
    )
    return run_demo(config)


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a simulated cohort and summarise what came out",
        description="Starts a local Kafka broker and every service as its own process, "
        "simulates a cohort of all six peer-support models, waits until the pipeline has "
        "drained, prints a summary, writes the output folder, then stops what it started.",
    )
    parser.add_argument("--participants", type=_positive, help="cohort size (default 500)")
    parser.add_argument("--months", type=_positive, help="simulated months (default 12)")
    parser.add_argument("--seed", type=int, help="simulator seed")
    parser.add_argument("--out", help="output folder (default ./out/demo; replaced)")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the stack up until Ctrl-C"
    )
    parser.add_argument(
        "--bootstrap-servers", help="use this Kafka cluster instead of starting a local broker"
    )
    parser.add_argument("--tick-days", type=_positive, help="days between clock ticks (default 1)")
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="do not wait for intake before each day's ticks (faster; a tick may then come "
        "before some of its day's events)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds allowed for the pipeline to catch up (default 300)"
    )
    parser.set_defaults(handler=_demo)
