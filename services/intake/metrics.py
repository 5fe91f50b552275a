"""Intake metrics, registered next to the runtime's standard set (same registry).

Labels are the input (``raw``, ``fhir``, ``http``), coded rejection reasons and HTTP status
codes only. The DLQ rate is ``rate(peerlink_records_dead_lettered_total)`` over
``rate(peerlink_records_consumed_total)``; the breaker's own view of it is
``peerlink_intake_invalid_share``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from services.runtime import ServiceMetrics

__all__ = ["IntakeMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(kw_only=True)
class IntakeMetrics:
    base: ServiceMetrics

    def __post_init__(self) -> None:
        registry = self.base.registry
        self.accepted = Counter(
            "peerlink_intake_accepted",
            "Submissions accepted as events (duplicates excluded)",
            ["input"],
            registry=registry,
        )
        self.rejected = Counter(
            "peerlink_intake_rejected",
            "Submissions rejected, by input and coded reason",
            ["input", "reason"],
            registry=registry,
        )
        self.duplicate = Counter(
            "peerlink_intake_duplicates",
            "Events dropped as duplicates within the window, by input",
            ["input"],
            registry=registry,
        )
        self.breaker_trips = Counter(
            "peerlink_intake_breaker_trips",
            "Times the invalid-share breaker paused consumption",
            registry=registry,
        )
        self.invalid_share = Gauge(
            "peerlink_intake_invalid_share",
            "Share of invalid records in the breaker's sliding window",
            registry=registry,
        )
        self.record_latency = Histogram(
            "peerlink_intake_record_latency_seconds",
            "Time from the Kafka timestamp of a batch's oldest record to intake handling it",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "peerlink_intake_http_requests",
            "HTTP submissions by route and status code",
            ["route", "status"],
            registry=registry,
        )
        self.http_publish_seconds = Histogram(
            "peerlink_intake_http_publish_seconds",
            "Time for an HTTP submission's events to be acknowledged by Kafka",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def count_duplicate(self, source: str) -> None:
        self.duplicate.labels(input=source).inc()
        self.base.duplicates.inc()
