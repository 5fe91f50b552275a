"""Structured JSON logs that cannot carry PHI.

Log calls pass only whitelisted fields: ids, counts, topic coordinates, coded reasons and
hashed participant keys. Anything else raises in tests and is dropped in production, so a
payload, a name or free text never reaches a log line by accident.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["ALLOWED_FIELDS", "JsonFormatter", "configure_logging", "get_logger", "hash_key"]

#: The only structured fields a log line may carry.
ALLOWED_FIELDS = frozenset(
    {
        "event_id",
        "event_ids",
        "change_id",
        "resource_id",
        "resource_type",
        "participant",  # always a hash_key() value
        "topic",
        "partition",
        "offset",
        "offsets",
        "group",
        "count",
        "accepted",
        "rejected",
        "duplicates",
        "reason",
        "error_class",
        "attempt",
        "delay_s",
        "elapsed_ms",
        "status",
        "service",
        "port",
        "partitions",
        "state",
        "version",
        "path",
        "method",
        "programme",
        "build",
    }
)

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_KEY_SALT = os.environ.get("PEERLINK_LOG_KEY_SALT", "peerlink").encode()


def hash_key(participant_key: str | bytes | None) -> str:
    """A short, salted, one-way tag for a participant key, safe for logs and metrics."""
    if participant_key is None:
        return "-"
    raw = participant_key if isinstance(participant_key, bytes) else participant_key.encode()
    return hashlib.blake2b(raw, key=_KEY_SALT[:64], digest_size=8).hexdigest()


class JsonFormatter(logging.Formatter):
    """One JSON object per line; unknown ``extra`` fields are dropped (or fail in strict mode)."""

    def __init__(self, service: str, *, strict: bool = False) -> None:
        super().__init__()
        self._service = service
        self._strict = strict

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            # Our own calls pass values via ``extra`` (whitelisted), never as format args.
            "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name in _STANDARD_ATTRS or name.startswith("_"):
                continue
            if name not in ALLOWED_FIELDS:
                if self._strict:
                    raise ValueError(f"log field {name!r} is not allowed (PHI guard)")
                continue
            line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception class only: messages of validation errors can quote input values.
            line["error_class"] = record.exc_info[0].__name__
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str | None = None, *, strict: bool = False) -> None:
    """Route all logging to stderr as JSON lines for ``service``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, strict=strict))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("PEERLINK_LOG_LEVEL", "INFO")).upper())
    # Library loggers may print record contents at debug level; keep them at warning.
    for noisy in ("aiokafka", "kafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
