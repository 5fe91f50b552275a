"""``peerlink caregaps run`` (the engine) and ``peerlink clock tick|run`` (the pipeline clock)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _run_engine(args: argparse.Namespace) -> int:
    from services.caregaps.service import SERVICE, run_engine
    from services.caregaps.settings import EngineSettings
    from services.runtime import configure_logging, tune_gc

    overrides: dict[str, Any] = {}
    for name in ("group_id", "instance_id", "ops_port", "policy_file"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.no_clock_hold:
        overrides["hold_for_clock"] = False
    configure_logging(SERVICE)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_engine(settings=EngineSettings(**overrides)))
    return 0


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--at needs a time zone, e.g. 2026-09-03T00:00:00Z")
    return moment.astimezone(UTC)


def _tick(args: argparse.Namespace) -> int:
    from services.caregaps.clock import emit_ticks
    from services.runtime.settings import KafkaSettings

    at = args.at or datetime.now(UTC)
    placed = asyncio.run(emit_ticks(KafkaSettings(), at))
    where = ", ".join(f"p{p}@{offset}" for p, offset in sorted(placed.items()))
    print(f"peerlink: clock tick {at.isoformat()} written ({where})", flush=True)
    return 0


def _run_clock(args: argparse.Namespace) -> int:
    from services.caregaps.clock import run_clock
    from services.caregaps.settings import ClockSettings
    from services.runtime.health import Health
    from services.runtime.logging import configure_logging
    from services.runtime.metrics import ServiceMetrics
    from services.runtime.ops_http import OpsServer
    from services.runtime.settings import KafkaSettings

    configure_logging("clock")
    settings = ClockSettings()
    interval = args.interval or settings.interval_s

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        health = Health(stall_after_s=max(60.0, 3 * interval))
        ops = (
            OpsServer(
                health,
                ServiceMetrics(service="clock"),
                host=settings.ops_host,
                port=settings.ops_port,
            )
            if settings.ops_port
            else None
        )
        if ops is not None:
            await ops.start()
        try:
            return await run_clock(KafkaSettings(), interval, stop=stop, health=health)
        finally:
            if ops is not None:
                await ops.stop()

    count = asyncio.run(main())
    print(f"peerlink: clock stopped after {count} ticks", file=sys.stderr, flush=True)
    return 0


def register(subparsers: _Subparsers) -> None:
    caregaps = subparsers.add_parser("caregaps", help="the care-gap engine")
    sub = caregaps.add_subparsers(dest="caregaps_command", required=True)
    run = sub.add_parser(
        "run",
        help="consume peer.events.v1 and ticks, publish caregaps.changes.v1 exactly once "
        "(settings: PEERLINK_CAREGAPS_*)",
    )
    run.add_argument("--group-id", help="consumer group (default peerlink-caregaps)")
    run.add_argument("--instance-id", help="static group membership id of this instance")
    run.add_argument("--ops-port", type=int, help="health and metrics port (default 8082)")
    run.add_argument("--policy-file", type=Path, help="YAML/JSON threshold overrides")
    run.add_argument(
        "--no-clock-hold",
        action="store_true",
        help="process events on arrival instead of in the clock-aligned order",
    )
    run.set_defaults(handler=_run_engine)

    clock = subparsers.add_parser("clock", help="the pipeline clock (caregaps.clock.v1)")
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    tick = clock_sub.add_parser("tick", help="write one tick to every partition")
    tick.add_argument("--at", type=_parse_time, help="tick time, ISO 8601 with zone (default now)")
    tick.set_defaults(handler=_tick)
    loop = clock_sub.add_parser("run", help="tick every --interval seconds until stopped")
    loop.add_argument(
        "--interval",
        type=float,
        help="seconds between ticks (default PEERLINK_CLOCK_INTERVAL_S, else 5)",
    )
    loop.set_defaults(handler=_run_clock)
