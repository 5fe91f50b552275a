"""The Kafka path: ``peer.intake.raw`` and ``clinic.fhir.inbound`` -> ``peer.events.v1`` or DLQ.

The runtime :class:`~services.runtime.Processor` does the at-least-once part (poll, hand each
partition batch to :class:`IntakeHandler`, send every output and await its acks, then commit
that partition). The handler turns each input record into exactly one of:

* one or more events on ``peer.events.v1`` (key = participant key = envelope ``subject``),
  in input order, so one participant's events keep their order within an input partition
  (senders that need per-participant order key their raw records by participant too);
* a dead-letter record on ``peer.intake.dlq`` with the original key, bytes and headers plus
  ``x-dlq-*`` reason headers (a Bundle may yield both: its valid entries and the record);
* nothing, when every event is a duplicate of one already published within the window.

Before returning, the handler feeds the breaker; if the invalid share is too high it raises
``PauseConsumption`` so the processor rewinds the batch, pauses and reports unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from prometheus_client import Counter

from schemas.topics import topic as registry_topic
from services.intake.breaker import InvalidShareBreaker
from services.intake.dedup import Admission, DuplicateFilter
from services.intake.fhir_inbound import (
    CLINIC_ID_HEADER,
    FhirInboundMapper,
    FhirMapperConfig,
)
from services.intake.metrics import IntakeMetrics
from services.intake.programmes import ProgrammeRegistry
from services.intake.rejection import ReasonCode, Rejection, conflicting_id
from services.intake.settings import IntakeSettings
from services.intake.submission import Accepted, SubmissionValidator
from services.runtime import (
    ConsumerPolicy,
    Health,
    KafkaSettings,
    OutRecord,
    PartitionBatch,
    PauseConsumption,
    Processor,
    ServiceMetrics,
    dead_letter,
    get_logger,
    hash_key,
)

__all__ = [
    "DLQ_TOPIC",
    "EVENTS_TOPIC",
    "EVENT_HEADERS",
    "FHIR_TOPIC",
    "RAW_TOPIC",
    "IntakeDomain",
    "IntakeHandler",
    "RecordOutcome",
    "build_processor",
    "event_record",
]

RAW_TOPIC: Final = "peer.intake.raw"
FHIR_TOPIC: Final = "clinic.fhir.inbound"
EVENTS_TOPIC: Final = "peer.events.v1"
DLQ_TOPIC: Final = "peer.intake.dlq"

_log = get_logger("peerlink.intake")


@dataclass(frozen=True, kw_only=True)
class IntakeDomain:
    """The pure parts of intake, built once from settings and shared by Kafka and HTTP."""

    settings: IntakeSettings
    registry: ProgrammeRegistry
    validator: SubmissionValidator
    fhir: FhirInboundMapper
    dedup: DuplicateFilter

    @classmethod
    def from_settings(
        cls, settings: IntakeSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> IntakeDomain:
        registry = ProgrammeRegistry.from_settings(settings.programmes)
        validator = SubmissionValidator(
            registry=registry, max_message_bytes=settings.max_message_bytes
        )
        fhir = FhirInboundMapper(
            config=FhirMapperConfig(
                participant_key_system=settings.participant_key_system,
                date_zone=ZoneInfo(settings.fhir_date_zone),
                max_message_bytes=settings.max_fhir_message_bytes,
            ),
            validator=validator,
        )
        dedup = DuplicateFilter(
            window_s=settings.dedup_window_s, max_entries=settings.dedup_max_entries, clock=clock
        )
        return cls(
            settings=settings, registry=registry, validator=validator, fhir=fhir, dedup=dedup
        )


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What one input record became (``accepted`` excludes duplicates)."""

    accepted: tuple[Accepted, ...]
    duplicates: tuple[str, ...]
    rejection: Rejection | None

    @property
    def invalid(self) -> bool:
        return self.rejection is not None


#: CloudEvents' Kafka binding, structured content mode: the whole event is the value, in the
#: JSON event format, and this header says so (a binary-mode reader would otherwise look for
#: ``ce_*`` attribute headers). The media type is the topic's registered one.
EVENT_HEADERS: Final = (("content-type", registry_topic(EVENTS_TOPIC).content_type.encode()),)

#: OutRecord's keyword-capable ``__new__`` is a Python-level call; the event path builds the
#: tuple directly, positionally (a unit test holds it equal to the keyword form).
_tuple_new: Final = tuple.__new__


def event_record(accepted: Accepted) -> OutRecord:
    return _tuple_new(OutRecord, (EVENTS_TOPIC, accepted.value, accepted.key, EVENT_HEADERS, None))


def _internal_error(topic: str, partition: int, record: Any, exc: Exception) -> Rejection:
    """Log the bug (called inside the ``except`` block, for the traceback) and code it."""
    _log.exception(
        "intake failed on a record",
        extra={"topic": topic, "partition": partition, "offset": record.offset},
    )
    return Rejection(
        code=ReasonCode.INTERNAL_ERROR,
        detail=f"unexpected {type(exc).__name__} while validating",
        error_class=type(exc).__name__,
    )


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class IntakeHandler:
    """The processor's batch handler (see the module docstring)."""

    def __init__(
        self,
        *,
        domain: IntakeDomain,
        breaker: InvalidShareBreaker,
        metrics: IntakeMetrics,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.breaker = breaker
        self.metrics = metrics
        self._wall_clock = wall_clock
        self._version = domain.settings.service_version
        self._service = domain.settings.service
        # Highest offset already counted by the breaker per partition: a batch re-delivered
        # after a rewind must not count twice.
        self._counted: dict[tuple[str, int], int] = {}
        # Labelled counter children per (input, reason), looked up once: labels() costs more
        # than the rest of counting a rejection, and a flood of bad input is all rejections.
        # Filled on first use, so a reason still appears in the metrics only once it happened.
        self._rejection_counters: dict[tuple[str, ReasonCode], tuple[Counter, Counter]] = {}
        self._position_bases: dict[tuple[str, int], int] = {}

    def _position_base(self, topic: str, partition: int) -> int:
        """Add a record's offset to get its position in the duplicate window.

        A record's position is one int, (index of its partition) << 64 | offset (Kafka offsets
        are below 2**63): a tuple would be an object for the cyclic collector to examine
        for as long as the window remembers it (services/intake/dedup.py).
        """
        base = self._position_bases.get((topic, partition))
        if base is None:
            base = self._position_bases[(topic, partition)] = len(self._position_bases) << 64
        return base

    def classify(self, topic: str, partition: int, record: Any) -> RecordOutcome:
        """Validate one record and drop duplicates; never raises for any input."""
        position = self._position_base(topic, partition) + int(record.offset)
        try:
            if topic == FHIR_TOPIC:
                clinic = _header(record.headers or (), CLINIC_ID_HEADER)
                result = self.domain.fhir.map_record(record.value, clinic_header=clinic)
                accepted, rejection = result.accepted, result.rejection
            else:
                single = self.domain.validator.from_bytes(record.value)
                if isinstance(single, Rejection):
                    return RecordOutcome(accepted=(), duplicates=(), rejection=single)
                admission = self.domain.dedup.admit(single.event_id, position, single.digest)
                if admission is Admission.CONFLICT:
                    return RecordOutcome(accepted=(), duplicates=(), rejection=conflicting_id())
                if admission is Admission.DUPLICATE:
                    return RecordOutcome(accepted=(), duplicates=(single.event_id,), rejection=None)
                return RecordOutcome(accepted=(single,), duplicates=(), rejection=None)
        except Exception as exc:  # a bug must not stop the partition: DLQ it, replay later
            return RecordOutcome(
                accepted=(), duplicates=(), rejection=_internal_error(topic, partition, record, exc)
            )
        fresh: list[Accepted] = []
        duplicates: list[str] = []
        for item in accepted:
            admission = self.domain.dedup.admit(item.event_id, position, item.digest)
            if admission is Admission.CONFLICT:
                rejection = rejection or conflicting_id()
            elif admission is Admission.DUPLICATE:
                duplicates.append(item.event_id)
            else:
                fresh.append(item)
        return RecordOutcome(
            accepted=tuple(fresh), duplicates=tuple(duplicates), rejection=rejection
        )

    async def __call__(self, batch: PartitionBatch) -> list[OutRecord]:
        fhir = batch.topic == FHIR_TOPIC
        source = "fhir" if fhir else "raw"
        outputs: list[OutRecord] = []
        counted_upto = self._counted.get((batch.topic, batch.partition), -1)
        if fhir:
            accepted_count, duplicate_count = self._handle_fhir(batch, counted_upto, outputs)
        else:
            accepted_count, duplicate_count = self._handle_raw(batch, counted_upto, outputs)
        oldest_ms = None
        for record in batch.records:
            if record.timestamp is not None and record.timestamp > 0:
                oldest_ms = record.timestamp
                break
        # Metrics per batch, not per record: prometheus calls would cost more than validating.
        if accepted_count:
            self.metrics.accepted.labels(input=source).inc(accepted_count)
        if duplicate_count:
            self.metrics.duplicate.labels(input=source).inc(duplicate_count)
            self.metrics.base.duplicates.inc(duplicate_count)
        if oldest_ms is not None:
            # The batch's oldest record: the worst latency in it.
            self.metrics.record_latency.observe(max(0.0, self._wall_clock() - oldest_ms / 1000))
        self._counted[(batch.topic, batch.partition)] = max(
            counted_upto, int(batch.records[-1].offset)
        )
        self.metrics.invalid_share.set(self.breaker.invalid_share)
        if self.breaker.should_trip():
            reason = self.breaker.trip()
            self.metrics.breaker_trips.inc()
            raise PauseConsumption(reason, self.breaker.policy.pause_s)
        return outputs

    def _handle_fhir(
        self, batch: PartitionBatch, counted_upto: int, outputs: list[OutRecord]
    ) -> tuple[int, int]:
        accepted_count = duplicate_count = 0
        outcomes: list[bool] = []  # invalid or not, of records the breaker has not counted yet
        try:
            for record in batch.records:
                outcome = self.classify(batch.topic, batch.partition, record)
                for accepted in outcome.accepted:
                    outputs.append(event_record(accepted))
                accepted_count += len(outcome.accepted)
                if outcome.duplicates:
                    duplicate_count += len(outcome.duplicates)
                    _log.debug("duplicate dropped", extra={"event_ids": list(outcome.duplicates)})
                if outcome.rejection is not None:
                    outputs.append(self._dead_letter(batch, record, outcome.rejection))
                if record.offset > counted_upto:
                    outcomes.append(outcome.invalid)
        finally:
            self.breaker.record_all(outcomes)
        return accepted_count, duplicate_count

    def _handle_raw(
        self, batch: PartitionBatch, counted_upto: int, outputs: list[OutRecord]
    ) -> tuple[int, int]:
        """:meth:`classify` of each raw record, unrolled: one submission, at most one event."""
        topic, partition = batch.topic, batch.partition
        validate = self.domain.validator.from_bytes
        admit = self.domain.dedup.admit
        append = outputs.append
        new, duplicate = Admission.NEW, Admission.DUPLICATE
        base = self._position_base(topic, partition)
        accepted_count = duplicate_count = 0
        outcomes: list[bool] = []  # invalid or not, of records the breaker has not counted yet
        count = outcomes.append
        try:
            for record in batch.records:
                offset: int = record.offset
                rejection: Rejection | None = None
                try:
                    result = validate(record.value)
                    if isinstance(result, Rejection):
                        rejection = result
                    else:
                        admission = admit(result.event_id, base + offset, result.digest)
                        if admission is new:
                            append(event_record(result))
                            accepted_count += 1
                        elif admission is duplicate:
                            duplicate_count += 1
                            _log.debug("duplicate dropped", extra={"event_ids": [result.event_id]})
                        else:
                            rejection = conflicting_id()
                except Exception as exc:  # a bug must not stop the partition: DLQ it, replay later
                    rejection = _internal_error(topic, partition, record, exc)
                if rejection is not None:
                    append(self._dead_letter(batch, record, rejection))
                if offset > counted_upto:
                    count(rejection is not None)
        finally:
            self.breaker.record_all(outcomes)
        return accepted_count, duplicate_count

    def _dead_letter(self, batch: PartitionBatch, record: Any, rejection: Rejection) -> OutRecord:
        source = "fhir" if batch.topic == FHIR_TOPIC else "raw"
        counters = self._rejection_counters.get((source, rejection.code))
        if counters is None:
            counters = (
                self.metrics.rejected.labels(input=source, reason=rejection.code.value),
                self.metrics.base.dead_lettered.labels(reason=rejection.code.value),
            )
            self._rejection_counters[(source, rejection.code)] = counters
        for counter in counters:
            counter.inc()
        _log.info(
            "record dead-lettered",
            extra={
                "topic": batch.topic,
                "partition": batch.partition,
                "offset": record.offset,
                "reason": rejection.code.value,
                "participant": hash_key(record.key),
            },
        )
        return dead_letter(
            dlq_topic=DLQ_TOPIC,
            original_topic=batch.topic,
            partition=batch.partition,
            offset=int(record.offset),
            key=record.key,
            value=record.value,
            headers=tuple(record.headers or ()),
            reason=rejection.reason,
            error_class=rejection.error_class,
            attempts=1,
            service=self._service,
            service_version=self._version,
        )


def build_processor(
    *,
    settings: IntakeSettings,
    kafka: KafkaSettings,
    health: Health,
    metrics: ServiceMetrics,
    domain: IntakeDomain | None = None,
    intake_metrics: IntakeMetrics | None = None,
    group_instance_id: str | None = None,
) -> tuple[Processor, IntakeHandler]:
    """The consumer-group member that runs the Kafka path (started with ``run()``)."""
    domain = domain or IntakeDomain.from_settings(settings)
    handler = IntakeHandler(
        domain=domain,
        breaker=InvalidShareBreaker(settings.breaker_policy()),
        metrics=intake_metrics or IntakeMetrics(base=metrics),
    )
    policy = ConsumerPolicy(
        group_id=settings.group_id,
        topics=(RAW_TOPIC, FHIR_TOPIC),
        max_records=settings.max_poll_records,
        group_instance_id=group_instance_id,
    )
    processor = Processor(
        settings=kafka, policy=policy, handler=handler, health=health, metrics=metrics
    )
    return processor, handler
