"""Prometheus metrics every PeerLink service exposes.

Labels carry topic names, partitions and coded reasons only: never participant keys, event
content or identifiers (no PHI in metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServiceMetrics"]


@dataclass(kw_only=True)
class ServiceMetrics:
    """The standard metric set, registered in a registry of its own (one per service)."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = {"service": self.service}
        self.consumed = Counter(
            "peerlink_records_consumed",
            "Records read from Kafka",
            ["topic"],
            registry=self.registry,
        )
        self.produced = Counter(
            "peerlink_records_produced",
            "Records written to Kafka and acknowledged",
            ["topic"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "peerlink_records_dead_lettered",
            "Records sent to a dead-letter topic, by coded reason",
            ["reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "peerlink_duplicates_dropped",
            "Records dropped as duplicates of an earlier event id",
            registry=self.registry,
        )
        self.withheld = Counter(
            "peerlink_records_withheld",
            "Outputs withheld (e.g. no consent to share with the clinic), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "peerlink_transient_retries",
            "Transient broker errors retried with backoff",
            registry=self.registry,
        )
        self.commits = Counter(
            "peerlink_offset_commits",
            "Offset commits (or committed transactions)",
            registry=self.registry,
        )
        self.processing_seconds = Histogram(
            "peerlink_batch_processing_seconds",
            "Time from a batch being read to its outputs acknowledged and offsets committed",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.lag = Gauge(
            "peerlink_consumer_lag",
            "Records between the committed position and the log end, per partition",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.up = Gauge(
            "peerlink_service_info",
            "Constant 1, labelled with the service name",
            list(labels),
            registry=self.registry,
        )
        self.up.labels(**labels).set(1)

    def exposition(self) -> bytes:
        """The Prometheus text format of this registry."""
        return bytes(generate_latest(self.registry))
