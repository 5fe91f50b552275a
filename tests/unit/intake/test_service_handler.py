"""The Kafka batch handler, without a broker: outputs, DLQ headers, duplicates, breaker."""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from schemas.events import parse_event
from services.intake.breaker import BreakerPolicy, InvalidShareBreaker
from services.intake.metrics import IntakeMetrics
from services.intake.service import (
    DLQ_TOPIC,
    EVENTS_TOPIC,
    FHIR_TOPIC,
    RAW_TOPIC,
    IntakeDomain,
    IntakeHandler,
    event_record,
)
from services.intake.submission import Accepted
from services.runtime import OutRecord, PartitionBatch, PauseConsumption, ServiceMetrics
from tests.unit.intake import examples as ex


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = b"p-000123"
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 1_772_443_800_000
    extra: dict[str, Any] = field(default_factory=dict)


def _handler(domain: IntakeDomain, **policy: Any) -> IntakeHandler:
    values = {"window": 50, "min_samples": 10, "max_invalid_ratio": 0.5, "pause_s": 0.01, **policy}
    return IntakeHandler(
        domain=domain,
        breaker=InvalidShareBreaker(BreakerPolicy(**values)),
        metrics=IntakeMetrics(base=ServiceMetrics(service="intake-test")),
    )


def _batch(records: list[Record], topic: str = RAW_TOPIC, partition: int = 0) -> PartitionBatch:
    return PartitionBatch(topic=topic, partition=partition, records=records)


def _event(record: OutRecord) -> Any:
    assert record.value is not None
    return parse_event(record.value)


def _raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


async def test_valid_and_invalid_records_keep_their_order(domain: IntakeDomain) -> None:
    handler = _handler(domain)
    records = [
        Record(0, _raw(ex.contact(event_id="e-0"))),
        Record(1, b"{not json", headers=(("traceparent", b"00-1"),)),
        Record(2, _raw(ex.consent(event_id="e-2", participant="p-000777")), key=b"p-000777"),
    ]
    outputs = await handler(_batch(records))
    assert [o.topic for o in outputs] == [EVENTS_TOPIC, DLQ_TOPIC, EVENTS_TOPIC]
    first, dlq, last = outputs
    assert first.key == b"p-000123"
    assert last.key == b"p-000777"
    assert _event(first).id == "e-0"
    # CloudEvents structured mode: the value is the event; no ce_* attribute headers.
    assert first.headers == (("content-type", b"application/cloudevents+json; charset=UTF-8"),)
    headers = dict(dlq.headers)
    assert dlq.value == b"{not json"
    assert dlq.key == b"p-000123"
    assert headers["traceparent"] == b"00-1"
    assert headers["x-dlq-reason"].startswith(b"invalid_json: ")
    assert headers["x-dlq-error-class"] == b"JSONDecodeError"
    assert headers["x-dlq-original-topic"] == RAW_TOPIC.encode()
    assert headers["x-dlq-original-offset"] == b"1"
    assert headers["x-dlq-service-version"] == b"0.1.0-test"
    metrics = handler.metrics
    assert metrics.accepted.labels(input="raw")._value.get() == 2
    assert metrics.rejected.labels(input="raw", reason="invalid_json")._value.get() == 1


def _keyword_record(accepted: Accepted) -> OutRecord:
    """The event record as OutRecord's own constructor builds it (the reference)."""
    return OutRecord(
        topic=EVENTS_TOPIC,
        key=accepted.key,
        value=accepted.value,
        headers=(("content-type", b"application/cloudevents+json; charset=UTF-8"),),
    )


async def test_raw_path_builds_the_event_records_of_event_record(domain: IntakeDomain) -> None:
    """The raw path and event_record build the tuple positionally; both must equal the
    keyword-built OutRecord, field for field and of the same class."""
    handler = _handler(domain)
    submissions = [b(event_id=f"e-{i}") for i, b in enumerate(ex.VALID_BUILDERS)] + [ex.contact()]
    outputs = await handler(_batch([Record(i, _raw(s)) for i, s in enumerate(submissions)]))
    expected = []
    for submission in submissions:
        accepted = domain.validator.from_bytes(_raw(submission))
        assert isinstance(accepted, Accepted)
        assert event_record(accepted) == _keyword_record(accepted)
        expected.append(_keyword_record(accepted))
    assert outputs == expected
    assert all(type(o) is OutRecord and o.partition is None for o in outputs)
    other = Accepted("e-9", b"p-000123", b"{}", False, 0)
    assert event_record(other) == _keyword_record(other)


async def test_duplicates_are_dropped_but_redelivery_is_produced_again(
    domain: IntakeDomain,
) -> None:
    handler = _handler(domain)
    value = _raw(ex.contact())  # no id: derived, identical for identical content
    first = await handler(_batch([Record(0, value), Record(1, value)]))
    assert [o.topic for o in first] == [EVENTS_TOPIC]
    assert handler.metrics.duplicate.labels(input="raw")._value.get() == 1
    # The processor rewinds after a failed send: same offsets, same outputs.
    again = await handler(_batch([Record(0, value), Record(1, value)]))
    assert [o.value for o in again] == [o.value for o in first]


async def test_the_same_offset_in_another_partition_is_another_position(
    domain: IntakeDomain,
) -> None:
    handler = _handler(domain)
    value = _raw(ex.contact())
    assert len(await handler(_batch([Record(5, value)], partition=0))) == 1
    assert await handler(_batch([Record(5, value)], partition=1)) == []
    assert len(await handler(_batch([Record(5, value)], partition=0))) == 1  # a re-delivery


async def test_the_duplicate_window_holds_no_object_for_the_cyclic_collector(
    domain: IntakeDomain,
) -> None:
    """Remembered positions and fingerprints are atoms: a container per event would be
    examined by every young collection for as long as the window keeps it."""
    handler = _handler(domain)
    records = [Record(n, _raw(ex.contact(event_id=f"e-{n}"))) for n in range(50)]
    assert len(await handler(_batch(records, partition=3))) == 50
    dedup = domain.dedup
    remembered = [*dedup._seen.values(), *dedup._positions.values(), *dedup._digests.values()]
    assert len(remembered) == 150
    assert [value for value in remembered if gc.is_tracked(value)] == []


async def test_same_id_with_other_content_is_dead_lettered_not_dropped(
    domain: IntakeDomain,
) -> None:
    """A second, different event under an id already published goes to the DLQ with reason
    ``conflicting_id``; the first version stays the only one on peer.events.v1."""
    handler = _handler(domain)
    first = {**ex.contact(), "id": "evt-same-id"}
    other = {**ex.contact(), "id": "evt-same-id"}
    other["data"] = {**other["data"], "duration_min": 5}
    outputs = await handler(_batch([Record(0, _raw(first)), Record(1, _raw(other))]))
    assert [o.topic for o in outputs] == [EVENTS_TOPIC, DLQ_TOPIC]
    assert dict(outputs[1].headers)["x-dlq-reason"].startswith(b"conflicting_id")
    assert outputs[1].value == _raw(other)


async def test_fhir_records_use_the_clinic_header(domain: IntakeDomain) -> None:
    handler = _handler(domain)
    bundle = ex.bundle(
        ex.hba1c_percent(id_="a"), ex.observation("2093-3", valueQuantity=ex.quantity(1, "mg/dL"))
    )
    record = Record(
        5, _raw(bundle), key=b"clinic-key", headers=(("x-peerlink-clinic-id", b"clinic-north"),)
    )
    outputs = await handler(_batch([record], topic=FHIR_TOPIC, partition=2))
    assert [o.topic for o in outputs] == [EVENTS_TOPIC, DLQ_TOPIC]
    assert _event(outputs[0]).data.clinic_id == "clinic-north"
    assert outputs[0].key == b"p-000123"  # re-keyed by participant
    dlq = dict(outputs[1].headers)
    assert dlq["x-dlq-original-partition"] == b"2"
    assert dlq["x-dlq-reason"].startswith(b"fhir_unknown_code: entry[1] Observation")


async def test_breaker_trips_on_a_flood_and_counts_each_record_once(domain: IntakeDomain) -> None:
    handler = _handler(domain)
    bad = [Record(i, b"garbage") for i in range(12)]
    with pytest.raises(PauseConsumption) as caught:
        await handler(_batch(bad))
    assert "invalid share 100%" in caught.value.reason
    assert handler.metrics.breaker_trips._value.get() == 1
    # After the pause the same (rewound) batch is dead-lettered, not counted again.
    outputs = await handler(_batch(bad))
    assert len(outputs) == 12
    assert all(o.topic == DLQ_TOPIC for o in outputs)
    assert handler.breaker.samples == 0


async def test_mixed_traffic_below_the_threshold_does_not_trip(domain: IntakeDomain) -> None:
    handler = _handler(domain)
    records = [
        Record(i, b"garbage" if i % 3 == 0 else _raw(ex.contact(event_id=f"e-{i}")))
        for i in range(30)
    ]
    outputs = await handler(_batch(records))
    assert len(outputs) == 30
    assert handler.breaker.invalid_share == pytest.approx(10 / 30)


async def test_an_internal_error_is_dead_lettered_not_raised(
    domain: IntakeDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _handler(domain)

    def explode(_: bytes | None) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(domain.validator, "from_bytes", explode)
    (dlq,) = await handler(_batch([Record(0, b"{}")]))
    assert (
        dict(dlq.headers)["x-dlq-reason"]
        == b"internal_error: unexpected RuntimeError while validating"
    )
