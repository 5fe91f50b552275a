"""``peerlink simulate``: a seeded synthetic programme population, to a JSONL file or Kafka.

    peerlink simulate --participants 500 --months 12 --seed 7 --out cohort.jsonl
    peerlink simulate --kafka                      # PEERLINK_KAFKA_* settings
    peerlink simulate --kafka --sync-group peerlink-intake
    peerlink simulate --programmes                 # the intake programme registry (JSON)

Ticks sent to Kafka carry the current end offset of their ``peer.events.v1`` partition, which
is where the engine places them. ``--sync-group`` (the intake group) first waits until that
group has consumed everything sent, so each day's ticks follow that day's events.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _fail(message: str) -> int:
    print(f"peerlink: error: {message}", file=sys.stderr, flush=True)
    return 1


def _start(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _config(args: argparse.Namespace) -> Any:
    from services.simulator import SimulationConfig

    values: dict[str, Any] = {
        "participants": args.participants,
        "months": args.months,
        "seed": args.seed,
        "start": args.start,
        "tick_every_days": args.tick_days,
        "invalid_share": args.invalid_share,
        "clock_partitions": args.clock_partitions,
    }
    return SimulationConfig(**{k: v for k, v in values.items() if v is not None})


def _programmes(config: Any) -> int:
    import orjson

    from services.simulator import build_cohort

    cohort = build_cohort(config)
    registry = {p.programme_id: [p.model.value] for p in cohort.programmes}
    sys.stdout.write(orjson.dumps(registry, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _to_file(config: Any, out: str) -> int:
    from services.simulator import Progress, build_cohort, simulate, write_jsonl

    cohort = build_cohort(config)
    progress = Progress("simulate", total=float(config.days), unit="days")
    target: Any = sys.stdout.buffer if out == "-" else Path(out)
    write_jsonl(
        simulate(config, cohort), target, start=config.start, end=cohort.end, progress=progress
    )
    return 0


def _to_kafka(config: Any, args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from services.demo.watch import PipelineWatch, StalledError
    from services.runtime.settings import KafkaSettings
    from services.simulator import (
        CLINIC_TOPIC,
        PEER_TOPIC,
        Progress,
        build_cohort,
        send_to_kafka,
        simulate,
    )

    overrides = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    settings = KafkaSettings(**overrides)
    groups: list[str] = args.sync_group or []
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def run() -> None:
        cohort = build_cohort(config)
        watch = PipelineWatch(settings)

        async def place_ticks(_at: datetime) -> dict[int, int]:
            for group in groups:
                # Everything the simulator wrote for intake, consumed by that group.
                await watch.wait_caught_up(
                    {group: (PEER_TOPIC, CLINIC_TOPIC)}, timeout_s=args.sync_timeout
                )
            ends = await watch.end_offsets(["peer.events.v1"])
            return {tp.partition: offset for tp, offset in ends.items()}

        await watch.start()
        try:
            await send_to_kafka(
                simulate(config, cohort),
                settings,
                start=config.start,
                end=cohort.end,
                clock_partitions=config.clock_partitions,
                place_ticks=place_ticks,
                progress=Progress("simulate", total=float(config.days), unit="days"),
            )
        finally:
            await watch.close()

    try:
        asyncio.run(run())
    except (KafkaError, StalledError, ValueError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.programmes:
        return _programmes(config)
    if args.kafka:
        return _to_kafka(config, args)
    if not args.out:
        return _fail("say where to: --out FILE.jsonl (or - for stdout), or --kafka")
    return _to_file(config, args.out)


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="generate a seeded synthetic cohort of all six peer-support models",
        description="Events of a synthetic programme population (docs/simulator.md), in "
        "emission order: peer submissions, clinic FHIR results and daily clock ticks.",
    )
    parser.add_argument("--participants", type=int, help="cohort size (default 500)")
    parser.add_argument("--months", type=int, help="simulated period (default 12)")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same output)")
    parser.add_argument("--start", type=_start, help="first day, YYYY-MM-DD (default 2025-01-06)")
    parser.add_argument("--tick-days", type=int, help="days between clock ticks (default 1)")
    parser.add_argument(
        "--invalid-share", type=float, help="share of extra broken submissions (default 0.005)"
    )
    parser.add_argument(
        "--clock-partitions", type=int, help="partitions of caregaps.clock.v1 (default 4)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help="write JSONL to this file (- for stdout)")
    where.add_argument("--kafka", action="store_true", help="produce to Kafka (PEERLINK_KAFKA_*)")
    where.add_argument(
        "--programmes",
        action="store_true",
        help="print the programme registry for PEERLINK_INTAKE_PROGRAMMES and exit",
    )
    parser.add_argument("--bootstrap-servers", help="override $PEERLINK_KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument(
        "--sync-group",
        action="append",
        metavar="GROUP",
        help="before each day's ticks, wait until this group (intake's) has consumed "
        "everything sent (repeatable)",
    )
    parser.add_argument(
        "--sync-timeout",
        type=float,
        default=120.0,
        help="seconds a synced group may take to catch up (default 120)",
    )
    parser.set_defaults(handler=_simulate)
