"""The fhir-publisher service: ``caregaps.changes.v1`` -> FHIR R4 topics, at least once.

Wiring only: the shared :class:`Processor` consumes read_committed, calls :meth:`handle` per
partition batch, sends every output and awaits its acknowledgement (acks=all, idempotent),
and commits the input offsets only then. The handler is a pure function of the records, so
a restart or replay re-publishes identical resources (same ids, versions, bytes, headers)
and never new ids.

Per record:

* undecodable input, another event type, or a change that cannot be mapped to valid FHIR
  goes to the dead-letter topic with the original bytes and coded reason headers (bad input
  never blocks the partition and is never silently dropped);
* a change without consent to share with its clinic is withheld: nothing is produced and
  ``peerlink_records_withheld{reason}`` counts it (red flags of such participants stay on
  ``caregaps.changes.v1``, the peer side);
* otherwise the CarePlan, then Communications, then opt-in DetectedIssues are produced,
  keyed by the participant key, with PHI-free headers (resource type, logical id, version,
  source change id, trace context).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import signal
from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from schemas.events import CareGapsChangedEvent, parse_event
from services.fhir_publisher.checks import check_resource, quick_check, validate_model
from services.fhir_publisher.config import PublisherSettings
from services.fhir_publisher.mapping import CONTENT_TYPE, FhirResource, Mapper, MappingError
from services.fhir_publisher.naming import Naming
from services.runtime import (
    ConsumerPolicy,
    Health,
    KafkaSettings,
    OpsServer,
    OutRecord,
    PartitionBatch,
    Processor,
    ServiceMetrics,
    configure_logging,
    dead_letter,
    get_logger,
    hash_key,
    header,
)

__all__ = ["SERVICE", "FhirPublisher", "build_processor", "run_service", "trace_id"]

SERVICE: Final = "fhir_publisher"
_VERSION: Final = "0.1.0"
_YIELD_EVERY: Final = 64
_TRACEPARENT: Final = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")

_log = get_logger("peerlink.fhir_publisher")


def trace_id(change_id: str, headers: Sequence[tuple[str, bytes]] = ()) -> str:
    """The W3C trace id: the incoming ``traceparent``'s, else derived from the change id.

    Deriving it (instead of a random one) keeps replayed output byte-identical.
    """
    for name, value in headers:
        if name == "traceparent":
            match = _TRACEPARENT.fullmatch(value.decode("ascii", "replace").strip())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
    return hashlib.blake2b(change_id.encode(), digest_size=16, person=b"peerlink-trace").hexdigest()


class FhirPublisher:
    """The batch handler: input records -> output records (no I/O of its own)."""

    def __init__(
        self,
        settings: PublisherSettings,
        metrics: ServiceMetrics,
        mapper: Mapper | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.mapper = mapper or Mapper(Naming(base=settings.identifier_base))
        self._topics = {
            "CarePlan": settings.careplan_topic,
            "Communication": settings.communication_topic,
            "DetectedIssue": settings.detectedissue_topic,
        }

    async def handle(self, batch: PartitionBatch) -> list[OutRecord]:
        outputs: list[OutRecord] = []
        for number, record in enumerate(batch.records, start=1):
            outputs.extend(self.records_for(batch, record))
            if number % _YIELD_EVERY == 0:
                # Mapping is CPU-bound: let the consumer's heartbeat task run, or a long batch
                # on a busy machine ends in a session timeout and a rebalance.
                await asyncio.sleep(0)
        return outputs

    def records_for(self, batch: PartitionBatch, record: Any) -> list[OutRecord]:
        """Outputs of one input record (dead letter, nothing, or FHIR resources)."""
        value: bytes | None = record.value
        if value is None:
            return [self._dead_letter(batch, record, "empty_value", "NoValue")]
        try:
            event = parse_event(value)
        except ValidationError:
            return [self._dead_letter(batch, record, "invalid_event", "ValidationError")]
        if not isinstance(event, CareGapsChangedEvent):
            return [self._dead_letter(batch, record, "unexpected_event_type", "TypeError")]
        change = event.data
        # Identity comes from the validated subject; the record key only routes (they match
        # when the engine is right, and the output stays co-partitioned with the input).
        participant = event.subject
        key: bytes = record.key or participant.encode()
        clinic = self.settings.clinic(change.clinic_id or "")
        try:
            result = self.mapper.map_change(change, participant, clinic)
            if result.withheld is not None:
                self.metrics.withheld.labels(reason=result.withheld.value).inc()
                _log.debug(
                    "change withheld",
                    extra={
                        "change_id": change.change_id,
                        "participant": hash_key(key),
                        "reason": result.withheld.value,
                    },
                )
                return []
            published = [(resource, self._checked(resource)) for resource in result.resources]
        except MappingError as exc:
            return [self._dead_letter(batch, record, exc.reason, "MappingError")]
        trace = trace_id(change.change_id, record.headers or ())
        return [
            self._out(resource, raw, key, change.change_id, trace) for resource, raw in published
        ]

    def _checked(self, resource: FhirResource) -> bytes:
        """The resource's JSON, once it passed the configured check."""
        raw = resource.to_json()
        mode = self.settings.validation
        problems = (
            quick_check(resource.body, raw) if mode == "quick" else check_resource(resource.body)
        )
        if problems:
            raise MappingError("invalid_output")
        if mode == "model":
            try:
                validate_model(resource.body)
            except ValidationError as exc:
                raise MappingError("invalid_output") from exc
        return raw

    def _out(
        self, resource: FhirResource, raw: bytes, key: bytes, change_id: str, trace: str
    ) -> OutRecord:
        span = hashlib.blake2b(
            f"{resource.id}|{resource.version_id}".encode(), digest_size=8
        ).hexdigest()
        return OutRecord(
            topic=self._topics[resource.resource_type],
            key=key,
            value=raw,
            headers=(
                header("content-type", CONTENT_TYPE),
                header("fhir-resource-type", resource.resource_type),
                header("fhir-id", resource.id),
                header("fhir-version-id", resource.version_id),
                header("source-change-id", change_id),
                header("trace-id", trace),
                header("traceparent", f"00-{trace}-{span}-01"),
            ),
        )

    def _dead_letter(
        self, batch: PartitionBatch, record: Any, reason: str, error_class: str
    ) -> OutRecord:
        self.metrics.dead_lettered.labels(reason=reason).inc()
        _log.warning(
            "change dead-lettered",
            extra={
                "reason": reason,
                "topic": batch.topic,
                "partition": batch.partition,
                "offset": record.offset,
                "participant": hash_key(record.key),
            },
        )
        return dead_letter(
            dlq_topic=self.settings.dlq_topic,
            original_topic=batch.topic,
            partition=batch.partition,
            offset=int(record.offset),
            key=record.key,
            value=record.value,
            headers=list(record.headers or ()),
            reason=reason,
            error_class=error_class,
            attempts=1,
            service=SERVICE,
            service_version=_VERSION,
        )


def build_processor(
    settings: PublisherSettings,
    kafka: KafkaSettings,
    *,
    health: Health | None = None,
    metrics: ServiceMetrics | None = None,
) -> tuple[Processor, FhirPublisher]:
    """The processor and its handler, unstarted (tests and benchmarks run them directly)."""
    metrics = metrics or ServiceMetrics(service=SERVICE)
    publisher = FhirPublisher(settings, metrics)
    processor = Processor(
        settings=kafka,
        policy=ConsumerPolicy(
            group_id=settings.group_id,
            topics=(settings.input_topic,),
            isolation_level="read_committed",
            max_records=settings.max_records,
            group_instance_id=settings.group_instance_id,
        ),
        handler=publisher.handle,
        health=health or Health(),
        metrics=metrics,
    )
    return processor, publisher


async def run_service(
    settings: PublisherSettings | None = None,
    kafka: KafkaSettings | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the ops endpoints and the processor until SIGTERM/SIGINT (or ``stop`` is set)."""
    settings = settings or PublisherSettings()
    kafka = kafka or KafkaSettings()
    if stop is None:
        configure_logging("fhir-publisher", settings.log_level)
    if settings.validation == "model":
        # Pre-import the R4B classes so the first record does not pay for it.
        validate_model(
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": "Patient/x"},
            }
        )
    health = Health()
    metrics = ServiceMetrics(service=SERVICE)
    processor, _ = build_processor(settings, kafka, health=health, metrics=metrics)
    ops = OpsServer(health, metrics, host=settings.ops_host, port=settings.ops_port)
    await ops.start()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, processor.stop)
    watcher = asyncio.create_task(_stop_when(stop, processor)) if stop is not None else None
    _log.info(
        "fhir publisher starting", extra={"group": settings.group_id, "port": settings.ops_port}
    )
    try:
        await processor.run()
    finally:
        if watcher is not None:
            watcher.cancel()
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await ops.stop()
        _log.info("fhir publisher stopped", extra={"group": settings.group_id})


async def _stop_when(event: asyncio.Event | None, processor: Processor) -> None:
    if event is not None:
        await event.wait()
        processor.stop()
