"""The batch handler without Kafka: outputs, headers, dead letters, withheld metric, logs."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from schemas.caregaps import ClinicalCoding, PatientLink
from schemas.events import ConsentChanged, ConsentChangedEvent
from schemas.vocabulary import GapCode
from services.fhir_publisher import CONTENT_TYPE, PublisherSettings
from services.fhir_publisher.examples import T0, change_event, make_change, make_gap, opened
from services.fhir_publisher.service import FhirPublisher, trace_id
from services.runtime import PartitionBatch, ServiceMetrics
from services.runtime.logging import JsonFormatter

KEY = b"p-000123"


def _record(value: bytes | None, offset: int = 0, headers: tuple[Any, ...] = ()) -> Any:
    return SimpleNamespace(key=KEY, value=value, headers=headers, offset=offset, partition=0)


def _event_bytes(**kwargs: Any) -> bytes:
    return change_event(make_change(**kwargs)).model_dump_json().encode()


def _flagged(**kwargs: Any) -> bytes:
    flag = make_gap(GapCode.REDFLAG_RF12)
    return _event_bytes(open_gaps=[flag], delta=[opened(flag)], **kwargs)


def _publisher(**overrides: Any) -> FhirPublisher:
    return FhirPublisher(PublisherSettings(**overrides), ServiceMetrics(service="test"))


def _sample(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _handle(publisher: FhirPublisher, *records: Any) -> list[Any]:
    batch = PartitionBatch(topic="caregaps.changes.v1", partition=0, records=list(records))
    return await publisher.handle(batch)


async def test_outputs_topics_keys_and_headers() -> None:
    publisher = _publisher()
    outs = await _handle(publisher, _record(_flagged(sequence=5)))
    assert [o.topic for o in outs] == ["fhir.r4.careplan", "fhir.r4.communication"]
    for out in outs:
        assert out.key == KEY
        body = orjson.loads(out.value)
        headers = dict(out.headers)
        assert set(headers) == {
            "content-type",
            "fhir-resource-type",
            "fhir-id",
            "fhir-version-id",
            "source-change-id",
            "trace-id",
            "traceparent",
        }
        assert headers["content-type"] == CONTENT_TYPE.encode()
        assert headers["fhir-resource-type"].decode() == body["resourceType"]
        assert headers["fhir-id"].decode() == body["id"]
        assert headers["fhir-version-id"].decode() == body["meta"]["versionId"]
        assert len(headers["trace-id"]) == 32
        assert headers["traceparent"].startswith(b"00-" + headers["trace-id"] + b"-")
    assert dict(outs[0].headers)["fhir-version-id"] == b"5"


async def test_headers_carry_no_phi() -> None:
    link = PatientLink(identifier_system="urn:oid:1.2.3", identifier_value="MRN4455")
    outs = await _handle(_publisher(), _record(_flagged(patient=link)))
    assert b"MRN4455" in outs[0].value  # the clinic needs it in the resource...
    for out in outs:
        for _, value in out.headers:
            assert b"MRN4455" not in value  # ...but never in headers
            assert b"pat-7f3a" not in value


async def test_replay_is_byte_identical() -> None:
    raw = _flagged(sequence=3)
    first = await _handle(_publisher(), _record(raw, offset=10))
    again = await _handle(_publisher(), _record(raw, offset=99))
    assert first == again


async def test_incoming_traceparent_is_continued() -> None:
    parent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    outs = await _handle(_publisher(), _record(_flagged(), headers=(("traceparent", parent),)))
    assert dict(outs[0].headers)["trace-id"] == b"4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id("c-1", [("traceparent", b"garbage")]) == trace_id("c-1")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_value"),
        (b"{not json", "invalid_event"),
        (b'{"type": "peerlink.caregaps.changed"}', "invalid_event"),
        (
            ConsentChangedEvent(
                id="evt-consent-1",
                type="peerlink.participant.consent_changed",
                source="peerlink://intake",
                time=T0,
                subject="p-000123",
                data=ConsentChanged(clinic_id="clinic-north", share_with_clinic=False),
            )
            .model_dump_json()
            .encode(),
            "unexpected_event_type",
        ),
    ],
)
async def test_bad_input_is_dead_lettered(value: bytes | None, reason: str) -> None:
    publisher = _publisher()
    (out,) = await _handle(publisher, _record(value, offset=7))
    assert out.topic == "fhir.publisher.dlq"
    assert out.key == KEY
    assert out.value == value
    headers = dict(out.headers)
    assert headers["x-dlq-reason"] == reason.encode()
    assert headers["x-dlq-original-offset"] == b"7"
    assert headers["x-dlq-service"] == b"fhir_publisher"
    assert _sample(publisher.metrics, "peerlink_records_dead_lettered_total", reason=reason) == 1


async def test_unmappable_change_is_dead_lettered_not_blocking() -> None:
    gap = make_gap(GapCode.A1C_DUE).model_copy(
        update={"coding": ClinicalCoding(system="not a uri", code="x", display="x")}
    )
    bad = _event_bytes(open_gaps=[gap])
    good = _flagged(sequence=2)
    outs = await _handle(_publisher(), _record(bad, 0), _record(good, 1))
    assert [o.topic for o in outs] == [
        "fhir.publisher.dlq",
        "fhir.r4.careplan",
        "fhir.r4.communication",
    ]
    assert dict(outs[0].headers)["x-dlq-reason"] == b"invalid_gap_coding"


async def test_withheld_changes_produce_nothing_and_are_counted() -> None:
    publisher = _publisher()
    outs = await _handle(
        publisher,
        _record(_flagged(consent=False)),
        _record(_flagged(consent=False, consent_since=None)),
        _record(_flagged(consent_clinic="clinic-south")),
    )
    assert outs == []
    metric = "peerlink_records_withheld_total"
    assert _sample(publisher.metrics, metric, reason="consent_withdrawn") == 1
    assert _sample(publisher.metrics, metric, reason="no_consent") == 1
    assert _sample(publisher.metrics, metric, reason="consent_other_clinic") == 1


async def test_detected_issue_per_clinic_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PEERLINK_PUBLISHER_CLINICS",
        json.dumps({"clinic-north": {"detected_issue": True, "patient_reference": "identifier"}}),
    )
    settings = PublisherSettings()
    assert settings.clinic("clinic-north").detected_issue
    assert not settings.clinic("clinic-east").detected_issue
    publisher = FhirPublisher(settings, ServiceMetrics(service="test"))
    outs = await _handle(publisher, _record(_flagged()))
    assert [o.topic for o in outs] == [
        "fhir.r4.careplan",
        "fhir.r4.communication",
        "fhir.r4.detectedissue",
    ]


@pytest.mark.parametrize("mode", ["quick", "rules", "model"])
async def test_validation_modes_publish_the_same_bytes(mode: str) -> None:
    outs = await _handle(_publisher(validation=mode), _record(_flagged()))
    reference = await _handle(_publisher(), _record(_flagged()))
    assert outs == reference


@pytest.mark.parametrize(("mode", "check"), [("quick", "quick_check"), ("rules", "check_resource")])
async def test_invalid_output_never_leaves(
    monkeypatch: pytest.MonkeyPatch, mode: str, check: str
) -> None:
    publisher = _publisher(validation=mode)
    monkeypatch.setattr(
        f"services.fhir_publisher.service.{check}", lambda *args: ["broken on purpose"]
    )
    (out,) = await _handle(publisher, _record(_flagged()))
    assert dict(out.headers)["x-dlq-reason"] == b"invalid_output"


async def test_a_mapping_bug_is_caught_by_the_default_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A template regression (here: a blank string) never reaches a clinic topic."""
    publisher = _publisher()
    original = publisher.mapper._careplan

    def broken(ctx: Any) -> Any:
        resource = original(ctx)
        resource.body["title"] = "  "
        return resource

    monkeypatch.setattr(publisher.mapper, "_careplan", broken)
    (out,) = await _handle(publisher, _record(_flagged()))
    assert dict(out.headers)["x-dlq-reason"] == b"invalid_output"


async def test_logs_pass_the_phi_guard(caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter("fhir-publisher", strict=True)
    with caplog.at_level(logging.DEBUG, logger="peerlink.fhir_publisher"):
        await _handle(
            _publisher(), _record(_flagged(consent=False)), _record(b"junk"), _record(_flagged())
        )
    assert caplog.records
    for record in caplog.records:
        line = formatter.format(record)  # strict: raises on a non-whitelisted field
        assert "p-000123" not in line
        assert "pat-7f3a" not in line
