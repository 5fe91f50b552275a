"""The topic registry: one place that names every Kafka topic PeerLink reads or writes.

The services, the topic bootstrapper (`peerlink kafka up` / `peerlink topics create`), the
AsyncAPI export and docker-compose all read this table, so a topic is declared once.

Every keyed topic uses the same partition count so that all topics are co-partitioned by the
participant key: partition *n* of every topic holds the same participants, which is what lets
the care-gap engine keep per-partition state (ARCHITECTURE.md, "Services").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DEFAULT_PARTITIONS",
    "TOPICS",
    "CleanupPolicy",
    "Topic",
    "TopicKey",
    "topic",
]

#: Co-partitioning: every participant-keyed topic has this many partitions.
DEFAULT_PARTITIONS = 4

_DAY_MS = 24 * 60 * 60 * 1000


class CleanupPolicy(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"
    COMPACT_DELETE = "compact,delete"


class TopicKey(StrEnum):
    """What the record key of a topic is."""

    PARTICIPANT = "participant_key"
    #: Raw submissions: the key is whatever the sender set (or none); intake re-keys.
    SENDER_DEFINED = "sender_defined"
    #: Clock ticks are written to every partition explicitly, without a key.
    NONE = "none"


@dataclass(frozen=True, kw_only=True)
class Topic:
    """One Kafka topic and its contract."""

    name: str
    description: str
    key: TopicKey
    #: Dotted path of the pydantic model (or union alias) of the record value.
    payload: str
    content_type: str = "application/json"
    partitions: int = DEFAULT_PARTITIONS
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE
    #: None means "broker default"; -1 means "keep forever".
    retention_ms: int | None = 7 * _DAY_MS
    #: Extra topic-level configs passed to the broker when the topic is created.
    configs: dict[str, str] = field(default_factory=dict)
    #: Who writes and who reads the topic (services, or outside systems in brackets).
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()

    def topic_configs(self) -> dict[str, str]:
        """The broker configs this topic is created with."""
        configs = {"cleanup.policy": self.cleanup_policy.value, **self.configs}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        return configs


TOPICS: tuple[Topic, ...] = (
    Topic(
        name="peer.intake.raw",
        description="Raw JSON submissions from peer apps, CHW platforms and call centres. "
        "Any bytes may arrive; intake validates them.",
        key=TopicKey.SENDER_DEFINED,
        payload="schemas.events.Event",
        retention_ms=7 * _DAY_MS,
        producers=("[peer apps]", "[CHW platforms]", "[call centres]"),
        consumers=("intake",),
    ),
    Topic(
        name="clinic.fhir.inbound",
        description="FHIR R4 Observation, Procedure, Encounter or Appointment resources (alone "
        "or in a Bundle) sent by clinics; intake maps them to clinical-result events.",
        key=TopicKey.SENDER_DEFINED,
        payload="fhir:R4",
        content_type="application/fhir+json; fhirVersion=4.0",
        retention_ms=7 * _DAY_MS,
        producers=("[clinic EHRs]",),
        consumers=("intake",),
    ),
    Topic(
        name="peer.events.v1",
        description="Validated, normalised, deduplicated events keyed by participant, as "
        "CloudEvents in structured content mode (the JSON event format is the value).",
        key=TopicKey.PARTICIPANT,
        payload="schemas.events.Event",
        content_type="application/cloudevents+json; charset=UTF-8",
        retention_ms=-1,
        producers=("intake",),
        consumers=("caregaps", "evaluation"),
    ),
    Topic(
        name="peer.intake.dlq",
        description="Rejected submissions: original bytes, key and headers plus x-dlq-* "
        "reason headers.",
        key=TopicKey.SENDER_DEFINED,
        payload="bytes",
        content_type="application/octet-stream",
        retention_ms=30 * _DAY_MS,
        producers=("intake",),
        consumers=("[operators]",),
    ),
    Topic(
        name="caregaps.clock.v1",
        description="Clock ticks written to every partition; they open time-driven gaps so the "
        "engine output is a function of the input log alone.",
        key=TopicKey.NONE,
        payload="schemas.events.Event",
        retention_ms=7 * _DAY_MS,
        producers=("clock",),
        consumers=("caregaps",),
    ),
    Topic(
        name="caregaps.changes.v1",
        description="Per-participant care-gap snapshot plus delta, one record per change.",
        key=TopicKey.PARTICIPANT,
        payload="schemas.events.Event",
        retention_ms=-1,
        producers=("caregaps",),
        consumers=("fhir_publisher", "evaluation", "[peer apps]"),
    ),
    Topic(
        name="caregaps.state.changelog",
        description="Compacted changelog of the engine's per-participant state.",
        key=TopicKey.PARTICIPANT,
        payload="services.caregaps.state.ParticipantState",
        cleanup_policy=CleanupPolicy.COMPACT,
        retention_ms=None,
        configs={"min.cleanable.dirty.ratio": "0.1", "segment.ms": str(_DAY_MS)},
        producers=("caregaps",),
        consumers=("caregaps",),
    ),
    Topic(
        name="fhir.publisher.dlq",
        description="Care-gap change records the FHIR publisher could not decode or map, with "
        "the original bytes and x-dlq-* reason headers; nothing reaches a clinic topic.",
        key=TopicKey.PARTICIPANT,
        payload="bytes",
        content_type="application/octet-stream",
        retention_ms=30 * _DAY_MS,
        producers=("fhir_publisher",),
        consumers=("[operators]",),
    ),
    Topic(
        name="fhir.r4.careplan",
        description="FHIR R4 CarePlan per participant and clinic (US Core CarePlan shape).",
        key=TopicKey.PARTICIPANT,
        payload="fhir:R4/CarePlan",
        content_type="application/fhir+json; fhirVersion=4.0",
        retention_ms=-1,
        producers=("fhir_publisher",),
        consumers=("[clinic EHRs]",),
    ),
    Topic(
        name="fhir.r4.communication",
        description="FHIR R4 Communication per alert or red flag the clinic must see.",
        key=TopicKey.PARTICIPANT,
        payload="fhir:R4/Communication",
        content_type="application/fhir+json; fhirVersion=4.0",
        retention_ms=-1,
        producers=("fhir_publisher",),
        consumers=("[clinic EHRs]",),
    ),
    Topic(
        name="fhir.r4.detectedissue",
        description="Opt-in, per clinic: DEQM-style DetectedIssue per open care gap.",
        key=TopicKey.PARTICIPANT,
        payload="fhir:R4/DetectedIssue",
        content_type="application/fhir+json; fhirVersion=4.0",
        retention_ms=-1,
        producers=("fhir_publisher",),
        consumers=("[clinic EHRs]",),
    ),
)

_BY_NAME = {t.name: t for t in TOPICS}


def topic(name: str) -> Topic:
    """Look up a registered topic by its logical name (raises KeyError when unknown)."""
    return _BY_NAME[name]
