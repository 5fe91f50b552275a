"""The compiled document builder: exactly ``model_dump(exclude_none=True)`` + normalisation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, field_serializer

from schemas.events import EVENT_ADAPTER, EVENT_MODELS, ConsentChanged
from services.intake.normalise import (
    NormalisationError,
    _BuilderCompiler,
    custom_serialisation,
    derive_event_id,
    encode_document,
    event_document,
    normalise_document,
)
from services.intake.rejection import Rejection
from services.intake.service import IntakeDomain
from services.intake.submission import Accepted, content_digest
from tests.unit.intake import examples as ex


def _reference(event: Any) -> dict[str, Any]:
    document: dict[str, Any] = event.model_dump(exclude_none=True)
    normalise_document(document)
    return document


def _assert_same(event: Any) -> None:
    built = event_document(event)
    assert built is not None
    reference = _reference(event)
    assert built == reference
    # Same keys in the same order at every level, so the same wire bytes.
    assert encode_document(built) == encode_document(reference)


def _examples(model: type[BaseModel]) -> list[dict[str, Any]]:
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    items = extra["examples"]
    assert isinstance(items, list)
    return [item for item in items if isinstance(item, dict)]


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_event_model_is_built_like_its_dump(model: type[BaseModel]) -> None:
    for example in _examples(model):
        _assert_same(EVENT_ADAPTER.validate_python(example))


@pytest.mark.parametrize("builder", ex.VALID_BUILDERS, ids=lambda b: b.__name__)
def test_submissions_are_built_like_their_dump(builder: Any) -> None:
    _assert_same(EVENT_ADAPTER.validate_python(builder(event_id="evt-1")))


_OFFSETS = ["+00:00", "Z", "+01:00", "-05:00", "+05:45", "-12:00", "+14:00", ".5+02:00", ".1Z"]
_MEASUREMENTS: list[dict[str, Any]] = [
    {"kind": "hba1c", "value": 62, "unit": "mmol/mol"},
    {"kind": "hba1c", "value": 7.82, "unit": "%", "original": {"value": 62, "unit": "mmol/mol"}},
    {"kind": "glucose", "value": 7.4, "unit": "mmol/L", "context": "post_meal", "meter_hi": True},
    {
        "kind": "glucose",
        "value": 133.2,
        "unit": "mg/dL",
        "original": {"value": 7.4, "unit": "mmol/L"},
    },
    {"kind": "blood_pressure", "systolic": 150, "diastolic": 90, "unit": "mmHg"},
    {"kind": "egfr", "value": 55.5, "unit": "mL/min/1.73m2"},
    {"kind": "uacr", "value": 3.4, "unit": "mg/mmol"},
    {"kind": "phq9", "item9": 1},
    {"kind": "retinal_exam"},
    {"kind": "foot_exam", "iwgdf_risk": 2},
    {"kind": "ketones", "level": "trace", "status": "amended"},
]


def _times(value: Any, offsets: st.DataObject) -> None:
    """Rewrite every timestamp of a submission with a drawn offset (and fraction)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and item.startswith("2026-") and "T" in item:
                value[key] = item[:19] + offsets.draw(st.sampled_from(_OFFSETS))
            else:
                _times(item, offsets)
    elif isinstance(value, list):
        for item in value:
            _times(item, offsets)


@st.composite
def _contacts(draw: st.DrawFn) -> dict[str, Any]:
    submission = ex.contact(event_id="evt-1")
    data = submission["data"]
    data["observations"] = [
        {**copy.deepcopy(m), "effective_at": ex.T, "source": "self_report"}
        for m in draw(st.lists(st.sampled_from(_MEASUREMENTS), max_size=4))
    ]
    if draw(st.booleans()):
        data["hypo_event"] = {"level": 3, "needed_assistance": True, "occurred_at": ex.T}
        if draw(st.booleans()):
            glucose = {"kind": "glucose", "value": 2.8, "unit": "mmol/L", "source": "cgm"}
            data["hypo_event"]["glucose"] = {**glucose, "effective_at": ex.T}
    if draw(st.booleans()):
        data["red_flags"] = [{"code": "RF11", "observed_at": ex.T}, {"code": "RF1"}]
    if draw(st.booleans()):
        data["adherence"] = {"taking_as_prescribed": False, "reason": None}
    if draw(st.booleans()):
        data["supporter_role"] = None
    if draw(st.booleans()):
        data["detail"] = {"kind": "group_session", "session_id": "g-1", "session_number": 2}
        data["detail"] |= {"attended": True, "facilitator": "peer"}
    return submission


@st.composite
def _results(draw: st.DrawFn) -> dict[str, Any]:
    submission = ex.result(event_id="evt-2")
    measurement = copy.deepcopy(draw(st.sampled_from(_MEASUREMENTS)))
    submission["data"]["measurement"] = {**measurement, "effective_at": ex.T, "source": "cgm"}
    return submission


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_contacts(), _results(), st.sampled_from(ex.VALID_BUILDERS).map(lambda b: b())),
    st.data(),
)
def test_valid_events_are_built_like_their_dump(
    submission: dict[str, Any], data: st.DataObject
) -> None:
    submission = json.loads(json.dumps(submission))
    submission.setdefault("id", "evt-3")
    _times(submission, data)
    _assert_same(EVENT_ADAPTER.validate_python(submission))


_DOMAIN = IntakeDomain.from_settings(ex.settings())


def _general_path(submission: dict[str, Any]) -> Accepted | Rejection:
    """What SubmissionValidator.from_object returns, step by step without the compiled
    builder or any inlining: model_dump, registry, normalise_document, encode, digest."""
    derive = submission.get("id") is None
    event = EVENT_ADAPTER.validate_python({**submission, "id": "pending"} if derive else submission)
    document = event.model_dump(exclude_none=True)
    refused = _DOMAIN.registry.check(document)
    if refused is not None:
        return refused
    try:
        normalise_document(document)
    except NormalisationError as exc:
        return exc.rejection
    if derive:
        document["id"] = derive_event_id(document)
    value = encode_document(document)
    return Accepted(
        event_id=document["id"],
        key=document["subject"].encode(),
        value=value,
        derived_id=derive,
        digest=content_digest(value),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_contacts(), _results(), st.sampled_from(ex.VALID_BUILDERS).map(lambda b: b())),
    st.data(),
)
def test_the_validator_returns_what_the_general_path_does(
    submission: dict[str, Any], data: st.DataObject
) -> None:
    """Both paths inline the document, the encoding and the digest: same result, same class."""
    submission = json.loads(json.dumps(submission))
    if data.draw(st.booleans()):
        submission.pop("id", None)  # derived
    if data.draw(st.booleans()):
        submission["source"] = "peerlink://programme/prog-unknown"
    if data.draw(st.booleans()) and "measurement" in submission["data"]:
        measurement = submission["data"]["measurement"]
        if measurement.get("unit") == "%":  # contradicts what it says it was
            measurement["original"] = {"value": 75, "unit": "mmol/mol"}
    _times(submission, data)
    expected = _general_path(submission)
    # from_object: the builder; from_bytes: the document schema (services/intake/documents.py).
    for outcome in (
        _DOMAIN.validator.from_object(submission),
        _DOMAIN.validator.from_bytes(json.dumps(submission).encode()),
    ):
        assert outcome == expected
        assert type(outcome) is type(expected)


def test_an_event_that_does_not_normalise_is_left_to_the_dump_path() -> None:
    submission = ex.result(value=7.8, unit="%", event_id="evt-4")
    submission["data"]["measurement"]["original"] = {"value": 75, "unit": "mmol/mol"}
    event = EVENT_ADAPTER.validate_python(submission)
    assert event_document(event) is None
    with pytest.raises(NormalisationError):
        normalise_document(event.model_dump(exclude_none=True))


def test_a_time_that_overflows_in_utc_is_left_to_the_dump_path() -> None:
    event = EVENT_ADAPTER.validate_python(
        ex.consent(event_id="e-5", time="0001-01-01T00:30:00+01:00")
    )
    assert event_document(event) is None


class _Custom(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: float

    @field_serializer("value")
    def _rounded(self, value: float) -> float:
        return round(value)


class _Holder(BaseModel):
    custom: _Custom
    name: str


def test_models_that_serialise_other_than_their_fields_get_no_builder() -> None:
    assert custom_serialisation(_Holder.__pydantic_core_schema__)
    assert not any(custom_serialisation(m.__pydantic_core_schema__) for m in EVENT_MODELS)


def test_unknown_field_types_get_no_builder() -> None:
    class Loose(BaseModel):
        anything: Any
        mapping: dict[str, int]

    assert not _BuilderCompiler().compile(Loose)


class _LongerConsent(ConsentChanged):
    note: str = "kept out of the dump of a ConsentChanged field"


def test_an_instance_of_a_subclass_is_left_to_the_dump_path() -> None:
    submission = ex.consent(event_id="e-6")
    submission["data"] = _LongerConsent(clinic_id="clinic-north", share_with_clinic=True)
    event = EVENT_ADAPTER.validate_python(submission)
    assert type(event.data) is _LongerConsent
    assert event_document(event) is None
