"""``peerlink kafka up|down|status`` (local broker) and ``peerlink topics create``.

Each step prints one line; the broker's own output goes to its log file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from schemas.topics import TOPICS
from services.devkafka import (
    KafkaJarFetchError,
    KafkaStartError,
    KafkaToolMissing,
    LocalKafka,
    LocalKafkaConfig,
)
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import (
    BrokerUnreachable,
    TopicAdminError,
    ensure_topics,
    wait_for_broker,
)

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _say(line: str) -> None:
    print(f"peerlink: {line}", flush=True)


def _fail(message: str) -> int:
    print(f"peerlink: error: {message}", file=sys.stderr, flush=True)
    return 1


def _quiet_client_logs() -> None:
    # aiokafka logs every refused connection at ERROR while a broker is starting; our own
    # messages report the outcome.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _local(args: argparse.Namespace) -> LocalKafka:
    config = LocalKafkaConfig.from_env(
        port=args.port,
        version=getattr(args, "version", None),
        controller_port=getattr(args, "controller_port", None),
        state_dir=Path(args.state_dir).expanduser() if args.state_dir else None,
        start_timeout_s=getattr(args, "timeout", None),
    )
    return LocalKafka(config)


def _kafka_up(args: argparse.Namespace) -> int:
    _quiet_client_logs()
    try:
        kafka = _local(args)
        topics = () if args.no_topics else TOPICS
        asyncio.run(kafka.up(topics=topics, report=_say))
    except (KafkaToolMissing, KafkaJarFetchError, KafkaStartError, TopicAdminError) as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    return 0


def _kafka_down(args: argparse.Namespace) -> int:
    kafka = _local(args)
    kafka.down(keep_data=args.keep_data, report=_say)
    return 0


def _kafka_status(args: argparse.Namespace) -> int:
    status = _local(args).status()
    _say(status.describe())
    # Like `systemctl status`: non-zero when it is not running, for scripts.
    return 0 if status.running else 3


def _topics_create(args: argparse.Namespace) -> int:
    _quiet_client_logs()
    overrides = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    settings = KafkaSettings(**overrides)

    async def run() -> list[str]:
        waited = await wait_for_broker(settings, timeout_s=args.timeout)
        _say(f"broker answered at {settings.bootstrap_servers} after {waited:.1f} s")
        return await ensure_topics(settings, replication_factor=args.replication_factor)

    try:
        created = asyncio.run(run())
    except (BrokerUnreachable, TopicAdminError) as exc:
        return _fail(str(exc))
    for name in created:
        _say(f"created topic {name}")
    _say(f"topics: {len(created)} created, {len(TOPICS) - len(created)} already there")
    return 0


def _add_local_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, help="client port on 127.0.0.1 (default $PEERLINK_KAFKA_PORT or 9092)"
    )
    parser.add_argument(
        "--state-dir",
        help="config, data and logs (default $PEERLINK_KAFKA_STATE_DIR or "
        "~/.cache/peerlink/run/<port>)",
    )


def register(subparsers: _Subparsers) -> None:
    kafka = subparsers.add_parser("kafka", help="run a local Kafka broker for development")
    kafka_sub = kafka.add_subparsers(dest="kafka_command", required=True)

    up = kafka_sub.add_parser("up", help="start the local broker and create the registry topics")
    _add_local_options(up)
    up.add_argument("--version", help="Kafka version (default $PEERLINK_KAFKA_VERSION or 4.1.1)")
    up.add_argument("--controller-port", type=int, help="KRaft controller port (default port+1)")
    up.add_argument("--timeout", type=float, help="seconds to wait for the broker (default 90)")
    up.add_argument("--no-topics", action="store_true", help="do not create the registry topics")
    up.set_defaults(handler=_kafka_up)

    down = kafka_sub.add_parser("down", help="stop the local broker and delete its data")
    _add_local_options(down)
    down.add_argument("--keep-data", action="store_true", help="keep topics and offsets")
    down.set_defaults(handler=_kafka_down)

    status = kafka_sub.add_parser("status", help="is the local broker running (exit 3 if not)")
    _add_local_options(status)
    status.set_defaults(handler=_kafka_status)

    topics = subparsers.add_parser("topics", help="manage the registry topics on a cluster")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser(
        "create",
        help="create missing registry topics on $PEERLINK_KAFKA_BOOTSTRAP_SERVERS "
        "(waits for the broker)",
    )
    create.add_argument("--bootstrap-servers", help="override $PEERLINK_KAFKA_BOOTSTRAP_SERVERS")
    create.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker (default 120)"
    )
    create.add_argument("--replication-factor", type=int, default=1, help="default 1")
    create.set_defaults(handler=_topics_create)
