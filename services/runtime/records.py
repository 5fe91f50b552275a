"""Records and policies shared by the Kafka processors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

__all__ = [
    "DLQ_HEADERS",
    "ConsumerPolicy",
    "OutRecord",
    "PartitionBatch",
    "RetryPolicy",
    "dead_letter",
    "header",
]

Header = tuple[str, bytes]


class OutRecord(NamedTuple):
    """A record to produce; ``topic`` is the registry's logical name (the prefix is added).

    A tuple rather than a frozen dataclass: built once per output record, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) takes twice as long.
    """

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    #: Explicit partition (clock ticks); None lets the key decide.
    partition: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionBatch:
    """Records of one input partition, in offset order."""

    topic: str  # logical name
    partition: int
    records: Sequence[Any]  # aiokafka ConsumerRecord

    @property
    def next_offset(self) -> int:
        return int(self.records[-1].offset) + 1


@dataclass(frozen=True, kw_only=True)
class ConsumerPolicy:
    """How a processor consumes (Arroyo-style frozen policy)."""

    group_id: str
    topics: tuple[str, ...]
    #: read_committed so that aborted transactions of the engine are never seen downstream.
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_records: int = 1_000
    poll_timeout_ms: int = 100
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    #: Static membership avoids a rebalance on every rolling restart (aiokafka >= 0.10).
    group_instance_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Bounded exponential backoff for transient broker errors: never a tight loop."""

    initial_delay_s: float = 0.2
    max_delay_s: float = 10.0
    multiplier: float = 2.0

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        return float(
            min(self.max_delay_s, self.initial_delay_s * self.multiplier ** max(0, attempt - 1))
        )


def header(name: str, value: str | int) -> Header:
    return (name, str(value).encode())


#: Headers added to every dead-letter record (streaming_anchors.md section 6, item 9).
DLQ_HEADERS = (
    "x-dlq-reason",
    "x-dlq-error-class",
    "x-dlq-original-topic",
    "x-dlq-original-partition",
    "x-dlq-original-offset",
    "x-dlq-attempts",
    "x-dlq-failed-at",
    "x-dlq-service",
    "x-dlq-service-version",
)


def dead_letter(
    *,
    dlq_topic: str,
    original_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
    reason: str,
    error_class: str,
    attempts: int,
    service: str,
    service_version: str,
    failed_at: datetime | None = None,
) -> OutRecord:
    """A dead-letter record: original key, bytes and headers plus coded reason headers.

    ``reason`` must name the problem without quoting the input (no PHI in headers).
    """
    when = (failed_at or datetime.now(UTC)).isoformat()
    extra = (
        header("x-dlq-reason", reason[:512]),
        header("x-dlq-error-class", error_class),
        header("x-dlq-original-topic", original_topic),
        header("x-dlq-original-partition", partition),
        header("x-dlq-original-offset", offset),
        header("x-dlq-attempts", attempts),
        header("x-dlq-failed-at", when),
        header("x-dlq-service", service),
        header("x-dlq-service-version", service_version),
    )
    kept = tuple((k, v) for k, v in headers if not k.startswith("x-dlq-"))
    return OutRecord(topic=dlq_topic, key=key, value=value, headers=kept + extra)
