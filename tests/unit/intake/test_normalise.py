"""Normalisation: UTC everywhere, canonical units with the original kept, derived ids."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest

from schemas.events import ClinicalResultReportedEvent, PeerContactLoggedEvent
from schemas.measurements import Glucose, Hba1c, OriginalQuantity, Uacr
from services.intake.normalise import (
    EVENT_ID_NAMESPACE,
    canonical_json,
    derive_event_id,
    encode_deriving_id,
    encode_document,
    normalise_document,
    to_utc,
)
from services.intake.rejection import ReasonCode, Rejection
from services.intake.service import IntakeDomain
from services.intake.submission import Accepted
from tests.unit.intake import examples as ex


def _accept(domain: IntakeDomain, submission: dict[str, Any]) -> Any:
    outcome = domain.validator.from_object(submission)
    assert isinstance(outcome, Accepted), getattr(outcome, "reason", outcome)
    return outcome.event


def test_all_timestamps_become_utc(domain: IntakeDomain) -> None:
    event = _accept(domain, ex.contact(time="2026-03-02T10:30:00+01:00"))
    assert isinstance(event, PeerContactLoggedEvent)
    assert event.time.utcoffset() == timedelta(0)
    assert event.time.hour == 9
    glucose = event.data.observations[1]
    assert glucose.effective_at.utcoffset() == timedelta(0)
    assert glucose.effective_at.hour == 12  # 07:10 at -05:00
    appointment = _accept(domain, ex.appointment())
    assert appointment.data.scheduled_for.isoformat() == "2026-03-10T13:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "unit", "percent"),
    [(62, "mmol/mol", 7.82), (53, "mmol/mol", 7.0), (7.8, "%", 7.8)],
)
def test_hba1c_is_percent_with_the_original_kept(
    domain: IntakeDomain, value: float, unit: str, percent: float
) -> None:
    event = _accept(domain, ex.result(value=value, unit=unit))
    assert isinstance(event, ClinicalResultReportedEvent)
    measurement = event.data.measurement
    assert isinstance(measurement, Hba1c)
    assert measurement.unit == "%"
    assert measurement.value == pytest.approx(percent, abs=0.01)
    if unit == "%":
        assert measurement.original is None
    else:
        assert measurement.original == OriginalQuantity(value=value, unit=unit)


def test_glucose_in_mmol_is_converted_wherever_it_appears(domain: IntakeDomain) -> None:
    submission = ex.contact()
    submission["data"]["hypo_event"] = {
        "level": 2,
        "occurred_at": "2026-03-01T22:00:00-05:00",
        "glucose": {
            "kind": "glucose",
            "value": 2.8,
            "unit": "mmol/L",
            "effective_at": "2026-03-01T22:00:00-05:00",
            "source": "self_report",
        },
    }
    event = _accept(domain, submission)
    observed = event.data.observations[1]
    assert isinstance(observed, Glucose)
    assert (observed.value, observed.unit) == (133.2, "mg/dL")
    assert observed.original == OriginalQuantity(value=7.4, unit="mmol/L")
    hypo = event.data.hypo_event
    assert hypo.glucose.value == pytest.approx(50.4)
    assert hypo.occurred_at.tzinfo is not None
    assert hypo.occurred_at.utcoffset() == timedelta(0)


def test_uacr_in_mg_per_mmol_is_converted(domain: IntakeDomain) -> None:
    submission = ex.result()
    submission["data"]["measurement"] = {
        "kind": "uacr",
        "value": 3.4,
        "unit": "mg/mmol",
        "effective_at": ex.T,
        "source": "clinic_lab",
    }
    measurement = _accept(domain, submission).data.measurement
    assert isinstance(measurement, Uacr)
    assert (measurement.value, measurement.unit) == (30.1, "mg/g")


def test_consistent_original_with_canonical_unit_is_kept(domain: IntakeDomain) -> None:
    submission = ex.result(value=7.82, unit="%")
    submission["data"]["measurement"]["original"] = {"value": 62, "unit": "mmol/mol"}
    measurement = _accept(domain, submission).data.measurement
    assert measurement.original == OriginalQuantity(value=62, unit="mmol/mol")


@pytest.mark.parametrize(
    ("value", "unit", "original", "text"),
    [
        (62, "mmol/mol", {"value": 62, "unit": "mmol/mol"}, "must be absent"),
        (7.8, "%", {"value": 75, "unit": "mmol/mol"}, "does not convert"),
        (7.8, "%", {"value": 7.8, "unit": "mg/dL"}, "not a unit of hba1c"),
    ],
)
def test_contradicting_original_is_rejected(
    domain: IntakeDomain, value: float, unit: str, original: dict[str, Any], text: str
) -> None:
    submission = ex.result(value=value, unit=unit)
    submission["data"]["measurement"]["original"] = original
    outcome = domain.validator.from_object(submission)
    assert isinstance(outcome, Rejection)
    assert outcome.code is ReasonCode.INCONSISTENT_ORIGINAL
    assert text in outcome.detail


def test_normalising_a_normalised_document_changes_nothing(domain: IntakeDomain) -> None:
    event = _accept(domain, ex.contact(event_id="evt-9"))
    document = event.model_dump(exclude_none=True)
    before = encode_document(document)
    normalise_document(document)
    assert encode_document(document) == before


def test_derived_id_is_over_the_wire_form_with_an_empty_id(domain: IntakeDomain) -> None:
    document = _accept(domain, ex.consent(event_id="evt-10")).model_dump(exclude_none=True)
    other = {**document, "id": "evt-11"}
    assert canonical_json(document) == canonical_json(other)
    assert derive_event_id(document) == derive_event_id(other)
    assert canonical_json(document) == encode_document({**document, "id": ""})
    assert b'"id":""' in canonical_json(document)
    # RFC 4122 version-5 UUID over the canonical bytes.
    expected = uuid.uuid5(EVENT_ID_NAMESPACE, canonical_json(document).decode())
    assert derive_event_id(document) == str(expected)


def test_the_id_is_filled_into_the_canonical_bytes_only_where_that_is_exact(
    domain: IntakeDomain,
) -> None:
    """One encoding serves both the id and the wire form, unless another empty "id" precedes
    the envelope's: then the document is encoded again."""
    document = _accept(domain, ex.consent(event_id="evt-12")).model_dump(exclude_none=True)
    ambiguous = {"before": {"id": ""}, **document}
    for case in (document, ambiguous):
        expected_id = derive_event_id(case)
        event_id, value = encode_deriving_id(dict(case))
        assert event_id == expected_id
        assert value == encode_document({**case, "id": expected_id})


def test_times_are_written_in_utc_with_z(domain: IntakeDomain) -> None:
    accepted = domain.validator.from_object(ex.contact(time="2026-03-02T10:30:00+01:00"))
    assert isinstance(accepted, Accepted)
    assert b'"time":"2026-03-02T09:30:00Z"' in accepted.value
    assert b"+01:00" not in accepted.value
    assert b"-05:00" not in accepted.value


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2026-03-02T09:30:00Z", "2026-03-02T09:30:00Z"),
        ("2026-03-02T09:30:00+00:00", "2026-03-02T09:30:00Z"),
        ("2026-03-02T09:30:00-00:00", "2026-03-02T09:30:00Z"),
        ("2026-03-02T09:30:00.250+00:00", "2026-03-02T09:30:00.250000Z"),
        ("2026-03-02T10:30:00+01:00", "2026-03-02T09:30:00Z"),
        ("2026-03-02T03:45:00-05:45", "2026-03-02T09:30:00Z"),
    ],
)
def test_every_utc_spelling_and_offset_is_written_as_the_same_z_time(
    domain: IntakeDomain, sent: str, written: str
) -> None:
    """Whatever the sender's spelling or offset, the same instant gives the same wire form
    and derived id, on both paths."""
    submission = ex.contact(time=sent)
    one_pass = domain.validator.from_bytes(json.dumps(submission).encode())
    assert isinstance(one_pass, Accepted)
    assert one_pass == domain.validator.from_object(submission)
    assert f'"time":"{written}"'.encode() in one_pass.value
    in_utc = domain.validator.from_object(ex.contact(time=written.replace("Z", "+00:00")))
    assert isinstance(in_utc, Accepted)
    assert (in_utc.event_id, in_utc.value) == (one_pass.event_id, one_pass.value)


_PARSED_TIME: Any = pydantic.TypeAdapter(dt.datetime).validate_json


@pytest.mark.parametrize(
    "sent",
    [
        "2026-03-02T10:30:00+01:00",
        "2026-03-02T00:15:00.000001+14:00",
        "2026-12-31T23:59:59.999999-12:00",
        "2024-02-29T03:45:00-05:45",
        "2026-03-02T09:30:00Z",
        "2026-03-02T09:30:00-00:00",
        "0001-01-01T23:00:00+01:00",
    ],
)
def test_to_utc_is_astimezone_for_every_parsed_offset(sent: str) -> None:
    parsed = _PARSED_TIME(f'"{sent}"'.encode())
    utc = to_utc(parsed)
    assert utc.tzinfo is dt.UTC
    assert (utc, utc.fold, repr(utc)) == (parsed, 0, repr(parsed.astimezone(dt.UTC)))


@pytest.mark.parametrize("sent", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_to_utc_refuses_a_time_outside_the_calendar_in_utc(sent: str) -> None:
    parsed = _PARSED_TIME(f'"{sent}"'.encode())
    with pytest.raises(OverflowError):
        parsed.astimezone(dt.UTC)
    with pytest.raises(OverflowError):
        to_utc(parsed)


@pytest.mark.parametrize(
    "tzinfo", [dt.UTC, dt.timezone(timedelta(hours=-3)), ZoneInfo("America/New_York")]
)
def test_to_utc_of_other_tzinfos_is_astimezone(tzinfo: dt.tzinfo) -> None:
    local = dt.datetime(2026, 3, 8, 1, 30, tzinfo=tzinfo)  # New York's spring-forward night
    utc = to_utc(local)
    assert utc.tzinfo is dt.UTC
    assert repr(utc) == repr(local.astimezone(dt.UTC))
