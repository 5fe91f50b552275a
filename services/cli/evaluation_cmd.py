"""``peerlink evaluation run|metrics`` and ``peerlink report``."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["register"]

#: Kept in step with schemas.vocabulary.SupportModel (checked by a test); listed here so
#: ``peerlink --help`` does not import the contracts.
_MODELS = (
    "professional_led_group",
    "peer_led_group",
    "peer_coach",
    "community_health_worker",
    "telephone_peer_partner",
    "online_community",
)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _fail(message: str) -> int:
    print(f"peerlink: error: {message}", file=sys.stderr, flush=True)
    return 1


def _period(args: argparse.Namespace, extent: tuple[float, float] | None) -> Any:
    from services.evaluation.metrics import Period, default_period

    data = default_period(extent)
    start = args.start or min(data.start, args.end or data.start)
    end = args.end or max(data.end, start)
    return Period(start, end)


def _run(args: argparse.Namespace) -> int:
    from services.evaluation.service import run_service
    from services.evaluation.settings import EvaluationSettings
    from services.runtime import configure_logging, tune_gc

    overrides: dict[str, Any] = {}
    if args.db:
        overrides["db_path"] = Path(args.db)
    if args.port:
        overrides["http_port"] = args.port
    if args.ops_port:
        overrides["ops_port"] = args.ops_port
    configure_logging("evaluation")
    tune_gc()
    asyncio.run(run_service(EvaluationSettings(**overrides)))
    return 0


def _metrics(args: argparse.Namespace) -> int:
    from services.evaluation.metrics import compute_metrics
    from services.evaluation.store import EvaluationStore, StoreVersionError

    if not Path(args.db).exists():
        return _fail(f"no evaluation store at {args.db}")
    try:
        store = EvaluationStore(args.db)
    except (StoreVersionError, sqlite3.DatabaseError) as exc:
        return _fail(f"cannot open {args.db}: {exc}")
    with store:
        if args.programme not in store.programmes():
            return _fail(f"programme {args.programme} is not in the store")
        try:
            period = _period(args, store.extent())
        except ValueError as exc:
            return _fail(str(exc))
        result = compute_metrics(
            store.load(args.programme),
            period=period,
            programme_id=args.programme,
            model=args.model,
            min_cell=args.min_cell,
        )
    print(result.model_dump_json(indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
    from services.evaluation.report import write_report
    from services.evaluation.store import EvaluationStore, StoreVersionError

    if not Path(args.db).exists():
        return _fail(f"no evaluation store at {args.db}")
    try:
        with EvaluationStore(args.db) as store:
            period = _period(args, store.extent())
        written = write_report(args.db, args.out, period=period, min_cell=args.min_cell)
    except (StoreVersionError, sqlite3.DatabaseError) as exc:
        return _fail(f"cannot read {args.db}: {exc}")
    except ValueError as exc:
        return _fail(str(exc))
    print(f"peerlink: report written to {written} ({period.start} to {period.end})")
    return 0


def _add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="evaluation store (SQLite file)")
    parser.add_argument(
        "--from", dest="start", type=_day, help="first day, YYYY-MM-DD (default: first data day)"
    )
    parser.add_argument(
        "--to", dest="end", type=_day, help="last day, YYYY-MM-DD (default: last data day)"
    )
    parser.add_argument(
        "--min-cell",
        type=int,
        default=11,
        help="suppress figures resting on fewer participants (default 11)",
    )


def register(subparsers: Any) -> None:
    evaluation = subparsers.add_parser("evaluation", help="programme evaluation service")
    commands = evaluation.add_subparsers(dest="evaluation_command", required=True)
    run = commands.add_parser(
        "run", help="consume events into the store and serve the metrics API (until Ctrl-C)"
    )
    run.add_argument("--db", help="store path (default $PEERLINK_EVALUATION_DB_PATH)")
    run.add_argument(
        "--port", type=int, help="HTTP API port (default $PEERLINK_EVALUATION_HTTP_PORT or 8084)"
    )
    run.add_argument(
        "--ops-port",
        type=int,
        help="separate port for health and metrics (default $PEERLINK_EVALUATION_OPS_PORT; "
        "unset: served on the API port)",
    )
    run.set_defaults(handler=_run)

    metrics = commands.add_parser("metrics", help="print one programme's figures as JSON")
    _add_window(metrics)
    metrics.add_argument("--programme", required=True, help="programme id")
    metrics.add_argument("--model", choices=_MODELS, help="restrict to one peer-support model")
    metrics.set_defaults(handler=_metrics)

    report = subparsers.add_parser("report", help="write the self-contained HTML evaluation report")
    _add_window(report)
    report.add_argument("--out", required=True, help="HTML file to write")
    report.set_defaults(handler=_report)
