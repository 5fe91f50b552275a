"""Malformed payloads are rejected with an error that names the field and the problem."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import (
    ClinicalResultReportedEvent,
    ParticipantEnrolledEvent,
    PeerContactLoggedEvent,
    parse_event,
)


def _example(model: type[Any], index: int = 0) -> dict[str, Any]:
    return copy.deepcopy(model.model_config["json_schema_extra"]["examples"][index])


def _contact() -> dict[str, Any]:
    return _example(PeerContactLoggedEvent)


def _result() -> dict[str, Any]:
    return _example(ClinicalResultReportedEvent)


def _errors(payload: Any) -> list[dict[str, Any]]:
    raw = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    with pytest.raises(ValidationError) as caught:
        parse_event(raw)
    return [dict(e) for e in caught.value.errors(include_url=False)]


def _locs(errors: list[dict[str, Any]]) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in errors}


def test_missing_envelope_field_is_named() -> None:
    payload = _contact()
    del payload["source"]
    errors = _errors(payload)
    assert _locs(errors) == {"peerlink.contact.logged.source"}
    assert errors[0]["type"] == "missing"


def test_missing_payload_field_is_named() -> None:
    payload = _contact()
    del payload["data"]["outcome"]
    assert _locs(_errors(payload)) == {"peerlink.contact.logged.data.outcome"}


def test_wrong_type_is_named() -> None:
    payload = _contact()
    payload["data"]["duration_min"] = "forty-five"
    errors = _errors(payload)
    assert _locs(errors) == {"peerlink.contact.logged.data.duration_min"}
    assert errors[0]["type"] == "int_parsing"


@pytest.mark.parametrize(
    "path",
    [("time",), ("data", "measurement", "effective_at")],
    ids=["envelope-time", "clinical-date"],
)
def test_naive_timestamps_are_rejected(path: tuple[str, ...]) -> None:
    payload = _result()
    target = payload
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = "2026-03-02T09:30:00"
    errors = _errors(payload)
    assert errors[0]["type"] == "timezone_aware"


def test_impossible_date_is_rejected() -> None:
    payload = _contact()
    payload["time"] = "2026-02-30T10:00:00Z"
    assert _errors(payload)[0]["type"] == "datetime_from_date_parsing"


def test_unknown_event_type_is_rejected_with_the_allowed_types() -> None:
    payload = _contact()
    payload["type"] = "peerlink.contact.deleted"
    errors = _errors(payload)
    assert errors[0]["type"] == "union_tag_invalid"
    assert "peerlink.contact.logged" in errors[0]["msg"]


@pytest.mark.parametrize(
    "where", ["envelope", "payload", "nested"], ids=["envelope", "payload", "nested"]
)
def test_unknown_fields_are_rejected(where: str) -> None:
    payload = _contact()
    target = {
        "envelope": payload,
        "payload": payload["data"],
        "nested": payload["data"]["observations"][0],
    }[where]
    target["note"] = "free text must never ride along"
    errors = _errors(payload)
    assert errors[0]["type"] == "extra_forbidden"
    assert errors[0]["loc"][-1] == "note"


@pytest.mark.parametrize(
    ("kind", "unit"),
    [("hba1c", "mg/dL"), ("hba1c", "percent"), ("glucose", "mmol/mol"), ("glucose", "mg/dl")],
)
def test_wrong_units_are_rejected(kind: str, unit: str) -> None:
    payload = _result()
    payload["data"]["measurement"] = {
        "kind": kind,
        "value": 7.1,
        "unit": unit,
        "effective_at": "2026-03-02T09:30:00Z",
        "source": "clinic_lab",
    }
    errors = _errors(payload)
    assert errors[0]["type"] == "literal_error"
    assert errors[0]["loc"][-1] == "unit"


@pytest.mark.parametrize(
    ("measurement", "needle"),
    [
        ({"kind": "hba1c", "value": 60, "unit": "%"}, "HbA1c"),
        ({"kind": "hba1c", "value": 300, "unit": "mmol/mol"}, "HbA1c"),
        ({"kind": "glucose", "value": 5, "unit": "mg/dL"}, "glucose"),
        ({"kind": "glucose", "value": 120, "unit": "mmol/L"}, "glucose"),
        (
            {"kind": "blood_pressure", "systolic": 80, "diastolic": 120, "unit": "mmHg"},
            "diastolic",
        ),
        ({"kind": "phq9", "total": 2, "item9": 3}, "item 9"),
    ],
    ids=["a1c-60pct", "a1c-300mmol", "glucose-5mg", "glucose-120mmol", "bp-inverted", "phq9"],
)
def test_clinically_impossible_values_are_rejected_with_reason(
    measurement: dict[str, Any], needle: str
) -> None:
    payload = _result()
    payload["data"]["measurement"] = {
        **measurement,
        "effective_at": "2026-03-02T09:30:00Z",
        "source": "clinic_lab",
    }
    errors = _errors(payload)
    assert needle in errors[0]["msg"]


def test_phq9_needs_a_total_or_an_item9_answer() -> None:
    payload = _result()
    payload["data"]["measurement"] = {
        "kind": "phq9",
        "effective_at": "2026-03-02T09:30:00Z",
        "source": "peer_measured",
    }
    assert "needs a total score, an item 9 answer, or both" in _errors(payload)[0]["msg"]
    payload["data"]["measurement"]["item9"] = 1
    assert parse_event(json.dumps(payload)).data.measurement.item9 == 1  # type: ignore[union-attr]


def test_bridged_call_cannot_be_logged_by_a_group_model() -> None:
    payload = _example(PeerContactLoggedEvent, 1)
    payload["data"]["support_model"] = "peer_led_group"
    errors = _errors(payload)
    assert "bridged_call detail cannot be logged by the peer_led_group model" in errors[0]["msg"]


def test_participant_key_pattern_rejects_spaces_and_injection() -> None:
    payload = _contact()
    payload["subject"] = "Robert'); DROP TABLE--"
    errors = _errors(payload)
    assert _locs(errors) == {"peerlink.contact.logged.subject"}
    assert errors[0]["type"] == "string_pattern_mismatch"


def test_consent_without_a_clinic_is_rejected() -> None:
    payload = _example(ParticipantEnrolledEvent)
    del payload["data"]["clinic_id"]
    assert "requires clinic_id" in _errors(payload)[0]["msg"]


def test_invalid_json_is_a_validation_error() -> None:
    assert _errors(b"{not json")[0]["type"] == "json_invalid"


def test_error_reports_do_not_need_the_input_to_explain() -> None:
    """Reasons go into DLQ headers, so they must read well without quoting the input."""
    payload = _contact()
    payload["subject"] = "Jane Doe 555-0100"
    error = _errors(payload)[0]
    assert "Jane" not in error["msg"]
