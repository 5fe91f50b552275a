"""``peerlink intake run|openapi|hash-token``.

``run`` starts the intake service (Kafka processor + HTTP API) from ``PEERLINK_INTAKE_*`` and
``PEERLINK_KAFKA_*`` settings; ``openapi`` prints the HTTP API's OpenAPI document; ``hash-token``
reads a bearer token on stdin and prints the SHA-256 digest to configure in
``PEERLINK_INTAKE_TOKENS`` (so plain tokens never go into configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = ["register"]

_Subparsers = Any  # argparse's private _SubParsersAction type


def _fail(message: str) -> int:
    print(f"peerlink: error: {message}", file=sys.stderr, flush=True)
    return 1


def _settings() -> Any:
    from services.intake.settings import IntakeSettings

    return IntakeSettings()


def _run(args: argparse.Namespace) -> int:
    from services.intake.runner import run_intake
    from services.runtime import KafkaSettings, configure_logging, tune_gc

    try:
        settings = _settings()
        kafka = KafkaSettings()
    except ValidationError as exc:
        # Field names only: a value may be a secret.
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        return _fail(f"invalid settings: {fields}")
    if args.no_http and args.no_kafka:
        return _fail("nothing to run: --no-http and --no-kafka together")
    if args.port is not None:
        settings = settings.model_copy(update={"http_port": args.port})
    configure_logging(settings.service)
    tune_gc()
    asyncio.run(
        run_intake(
            settings=settings, kafka=kafka, consume=not args.no_kafka, serve_http=not args.no_http
        )
    )
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from services.intake.http_api import EventPublisher, build_openapi, create_app
    from services.intake.metrics import IntakeMetrics
    from services.intake.service import IntakeDomain
    from services.runtime import Health, KafkaSettings, ServiceMetrics

    settings = _settings()
    app = create_app(
        domain=IntakeDomain.from_settings(settings),
        publisher=EventPublisher(KafkaSettings()),
        metrics=IntakeMetrics(base=ServiceMetrics(service=settings.service)),
        health=Health(),
    )
    text = json.dumps(build_openapi(app, max_batch=settings.http_max_batch), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _hash_token(_: argparse.Namespace) -> int:
    from services.intake.auth import hash_token

    token = sys.stdin.readline().strip()
    if not token:
        return _fail("no token on stdin")
    print(hash_token(token))
    return 0


def register(subparsers: _Subparsers) -> None:
    intake = subparsers.add_parser("intake", help="the intake service (validation front door)")
    intake_sub = intake.add_subparsers(dest="intake_command", required=True)

    run = intake_sub.add_parser("run", help="run the Kafka processor and the HTTP API")
    run.add_argument("--no-http", action="store_true", help="Kafka path only (ops port serves)")
    run.add_argument("--no-kafka", action="store_true", help="HTTP API only")
    run.add_argument("--port", type=int, help="HTTP port (default $PEERLINK_INTAKE_HTTP_PORT)")
    run.set_defaults(handler=_run)

    openapi = intake_sub.add_parser("openapi", help="print the HTTP API's OpenAPI document")
    openapi.add_argument("--output", help="write to this file instead of stdout")
    openapi.set_defaults(handler=_openapi)

    hashed = intake_sub.add_parser(
        "hash-token", help="read a bearer token on stdin, print its SHA-256 for the settings"
    )
    hashed.set_defaults(handler=_hash_token)
