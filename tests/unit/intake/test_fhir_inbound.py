"""Clinic FHIR inbound: realistic resources in both unit systems map to the right events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.events import AppointmentRecordedEvent, ClinicalResultReportedEvent, parse_event
from services.intake.fhir_inbound import FhirResult
from services.intake.rejection import ReasonCode
from services.intake.service import IntakeDomain
from services.intake.settings import IntakeSettings
from services.intake.submission import Accepted
from tests.unit.intake import examples as ex


def _map(
    domain: IntakeDomain, resource: dict[str, Any], clinic: bytes | None = b"clinic-north"
) -> FhirResult:
    return domain.fhir.map_record(json.dumps(resource).encode(), clinic_header=clinic)


def _data(accepted: Accepted) -> Any:
    """The payload of an accepted event (its type depends on the resource mapped)."""
    return accepted.event.data


def _code(result: FhirResult) -> ReasonCode:
    assert result.rejection is not None
    return result.rejection.code


def _one(domain: IntakeDomain, resource: dict[str, Any], **kw: Any) -> Any:
    result = _map(domain, resource, **kw)
    assert result.rejection is None, result.rejection.reason
    (accepted,) = result.accepted
    event = parse_event(accepted.value)
    assert event == accepted.event
    assert accepted.key == b"p-000123"
    return event


def _measurement(domain: IntakeDomain, resource: dict[str, Any]) -> Any:
    event = _one(domain, resource)
    assert isinstance(event, ClinicalResultReportedEvent)
    return event.data.measurement


@pytest.mark.parametrize(
    ("resource", "kind", "value", "unit", "original"),
    [
        (ex.hba1c_percent(7.8), "hba1c", 7.8, "%", None),
        (ex.hba1c_ifcc(62), "hba1c", 7.82, "%", (62, "mmol/mol")),
        (ex.observation("17856-6", valueQuantity=ex.quantity(8.1, "%")), "hba1c", 8.1, "%", None),
        (ex.glucose_mg(148), "glucose", 148, "mg/dL", None),
        (ex.glucose_mmol(8.2), "glucose", 147.6, "mg/dL", (8.2, "mmol/L")),
        (
            ex.observation("15074-8", valueQuantity=ex.quantity(3.1, "mmol/L")),
            "glucose",
            55.8,
            "mg/dL",
            (3.1, "mmol/L"),
        ),
        (ex.uacr_mg_g(18), "uacr", 18, "mg/g", None),
        (ex.uacr_mg_mmol(3.4), "uacr", 30.1, "mg/g", (3.4, "mg/mmol")),
        (
            ex.observation("9318-7", valueQuantity=ex.quantity(45, "mg/g{creat}")),
            "uacr",
            45,
            "mg/g",
            None,
        ),
        (ex.egfr(74), "egfr", 74, "mL/min/1.73m2", None),
        (
            ex.observation("48642-3", valueQuantity=ex.quantity(58, "mL/min/{1.73_m2}")),
            "egfr",
            58,
            "mL/min/1.73m2",
            None,
        ),
    ],
    ids=[
        "a1c-pct",
        "a1c-ifcc",
        "a1c-hplc",
        "glu-mg",
        "glu-mmol",
        "glu-blood-mmol",
        "uacr-mg-g",
        "uacr-mg-mmol",
        "uacr-annotated",
        "egfr",
        "egfr-legacy",
    ],
)
def test_lab_quantities_in_both_unit_systems(
    domain: IntakeDomain,
    resource: dict[str, Any],
    kind: str,
    value: float,
    unit: str,
    original: tuple[float, str] | None,
) -> None:
    measurement = _measurement(domain, resource)
    assert measurement.kind == kind
    assert measurement.value == pytest.approx(value)
    assert measurement.unit == unit
    assert measurement.source.value == "clinic_lab"
    if original is None:
        assert getattr(measurement, "original", None) is None
    else:
        assert (measurement.original.value, measurement.original.unit) == original


def test_result_envelope_identity_and_time(domain: IntakeDomain) -> None:
    event = _one(domain, ex.hba1c_percent(id_="lab-778"))
    assert event.source == "peerlink://clinic/clinic-north"
    assert event.data.clinic_id == "clinic-north"
    assert event.data.result_id == "obs-lab-778"
    # 09:30 at +01:00 is 08:30 UTC; the envelope time is the clinical time, not `issued`.
    assert event.time.isoformat() == "2026-03-02T08:30:00+00:00"
    assert event.data.measurement.effective_at == event.time
    assert event.subject == "p-000123"


def test_same_resource_twice_is_the_same_event_and_amendment_is_new(domain: IntakeDomain) -> None:
    first = _one(domain, ex.hba1c_percent(7.8))
    again = _one(domain, ex.hba1c_percent(7.8))
    amended = _one(domain, ex.hba1c_percent(7.6, status="amended"))
    assert first.id == again.id
    assert amended.id != first.id
    assert amended.data.result_id == first.data.result_id  # the engine supersedes by result id
    assert amended.data.measurement.status.value == "amended"


@pytest.mark.parametrize(
    ("status", "mapped"),
    [
        ("final", "final"),
        ("amended", "amended"),
        ("corrected", "corrected"),
        ("preliminary", "preliminary"),
        ("entered-in-error", "entered_in_error"),
        ("cancelled", "entered_in_error"),
    ],
)
def test_observation_status_mapping(domain: IntakeDomain, status: str, mapped: str) -> None:
    assert _measurement(domain, ex.hba1c_percent(status=status)).status.value == mapped


def test_blood_pressure_panel(domain: IntakeDomain) -> None:
    measurement = _measurement(domain, ex.blood_pressure(142, 88))
    assert (measurement.kind, measurement.systolic, measurement.diastolic) == (
        "blood_pressure",
        142,
        88,
    )
    assert measurement.unit == "mmHg"
    older_panel = ex.blood_pressure(128, 79)
    older_panel["code"]["coding"][0]["code"] = "55284-4"
    assert _measurement(domain, older_panel).systolic == 128


def test_phq9_with_item9_component_and_phq2(domain: IntakeDomain) -> None:
    phq9 = _measurement(domain, ex.phq9(total=12, item9_answer="LA6570-1"))
    assert (phq9.kind, phq9.total, phq9.item9) == ("phq9", 12, 2)
    plain = _measurement(domain, ex.phq9(total=4, item9_answer=None))
    assert plain.item9 is None
    quantity_total = ex.observation(
        "44261-6", valueQuantity={"value": 9, "code": "{score}", "system": ex.UCUM}
    )
    assert _measurement(domain, quantity_total).total == 9
    phq2 = _measurement(domain, ex.phq2(3))
    assert (phq2.kind, phq2.total) == ("phq2", 3)


def test_us_core_style_phq9_bundle_folds_items_into_the_total(domain: IntakeDomain) -> None:
    items = [
        ex.observation(code, id_=f"item-{code}", valueInteger=1)
        for code in (
            "44250-9",
            "44255-8",
            "44259-0",
            "44254-1",
            "44251-7",
            "44258-2",
            "44252-5",
            "44253-3",
        )
    ]
    item9 = ex.observation(
        "44260-8",
        id_="item-9",
        valueCodeableConcept={"coding": [{"system": ex.LOINC, "code": "LA6569-3"}]},
    )
    total = ex.observation(
        "44261-6", id_="phq9-total", valueInteger=9, effective="2026-03-02T11:00:00+01:00"
    )
    panel = ex.observation(
        "44249-1", id_="phq9-panel", hasMember=[{"reference": "Observation/item-9"}]
    )
    result = _map(domain, ex.bundle(panel, *items, item9, total))
    assert result.rejection is None, result.rejection.reason
    (accepted,) = result.accepted
    measurement = _data(accepted).measurement
    # item 9 found by time + participant although the total is not linked to it
    assert (measurement.total, measurement.item9) == (9, 1)


def test_phq9_total_takes_item9_from_has_member(domain: IntakeDomain) -> None:
    item9 = ex.observation("44260-8", id_="i9", effective="2026-03-01T10:00:00Z", valueInteger=3)
    total = ex.observation(
        "44261-6",
        id_="t",
        valueInteger=20,
        component=[],
        hasMember=[{"reference": "Observation/i9"}],
    )
    result = _map(domain, ex.bundle(total, item9))
    assert result.rejection is None
    assert _data(result.accepted[0]).measurement.item9 == 3


def test_retinal_exam_procedure_and_ai_screening(domain: IntakeDomain) -> None:
    exam = _measurement(domain, ex.procedure("722161008"))
    assert (exam.kind, exam.retinopathy_found, exam.status.value) == ("retinal_exam", None, "final")
    screening = ex.observation(
        "105914-6", valueCodeableConcept={"coding": [{"system": ex.LOINC, "code": "LA18643-9"}]}
    )
    assert _measurement(domain, screening).retinopathy_found is False
    retracted = _measurement(domain, ex.procedure("722161008", status="entered-in-error"))
    assert retracted.status.value == "entered_in_error"


@pytest.mark.parametrize(
    ("outcome", "found"),
    [
        ({"system": "http://loinc.org", "code": "LA18643-9"}, False),
        ({"system": "http://snomed.info/sct", "code": "4855003"}, True),
        ({"system": "http://snomed.info/sct", "code": "385669000"}, None),
    ],
    ids=["no-retinopathy", "retinopathy", "other-outcome"],
)
def test_retinal_exam_finding_comes_from_the_procedure_outcome(
    domain: IntakeDomain, outcome: dict[str, str], found: bool | None
) -> None:
    """A negative exam earns the 24-month interval, so the outcome must not be dropped."""
    resource = {**ex.procedure("722161008"), "outcome": {"coding": [outcome]}}
    assert _measurement(domain, resource).retinopathy_found is found
    screening = ex.observation("105914-6", valueCodeableConcept={"coding": [outcome]})
    assert _measurement(domain, screening).retinopathy_found is found


def test_foot_exam_components_combine_within_a_bundle(domain: IntakeDomain) -> None:
    components = [
        ex.procedure(code, performed=f"2026-03-01T10:0{i}:00Z")
        for i, code in enumerate(("401191002", "134388005", "91161007"))
    ]
    result = _map(domain, ex.bundle(*components))
    assert result.rejection is None
    (accepted,) = result.accepted
    measurement = _data(accepted).measurement
    assert (measurement.kind, measurement.comprehensive) == ("foot_exam", True)
    assert _data(accepted).result_id.startswith("foot-")
    alone = _measurement(domain, ex.procedure("401191002"))
    assert alone.comprehensive is False
    two = _map(domain, ex.bundle(*components[:2]))
    assert [_data(a).measurement.comprehensive for a in two.accepted] == [False, False]


@pytest.mark.parametrize(
    ("status", "mapped"), [("fulfilled", "kept"), ("noshow", "missed"), ("cancelled", "cancelled")]
)
def test_appointment_outcomes(domain: IntakeDomain, status: str, mapped: str) -> None:
    event = _one(domain, ex.appointment_resource(status))
    assert isinstance(event, AppointmentRecordedEvent)
    assert event.data.status == mapped
    assert event.data.appointment_id == "appt-a-1"
    assert event.data.purpose == "eye"
    assert event.data.scheduled_for.isoformat() == "2026-03-10T13:00:00+00:00"


def test_encounter_records_the_outcome_of_its_appointment(domain: IntakeDomain) -> None:
    event = _one(domain, ex.encounter("finished"))
    assert (event.data.status, event.data.appointment_id) == ("kept", "appt-a-1")
    assert event.data.purpose == "other"
    without = ex.encounter("cancelled")
    del without["appointment"]
    assert _one(domain, without).data.appointment_id == "enc-enc-1"


def test_subject_mapping_variants(domain: IntakeDomain) -> None:
    contained = ex.hba1c_percent()
    contained["subject"] = {"reference": "#pat"}
    contained["contained"] = [
        {
            "resourceType": "Patient",
            "id": "pat",
            "identifier": [
                {"system": "urn:oid:1.2.3", "value": "MRN-1"},
                {"system": ex.KEY_SYSTEM, "value": "p-000123"},
            ],
        }
    ]
    assert _one(domain, contained).subject == "p-000123"
    for reference in (
        "Patient/pat-9",
        "urn:uuid:00000000-0000-0000-0000-000000000000",
        "https://ehr.example/fhir/Patient/pat-9/_history/2",
    ):
        observation = ex.hba1c_percent(id_="o-1")
        observation["subject"] = {"reference": reference}
        patient = {
            "resourceType": "Patient",
            "id": "pat-9",
            "identifier": [{"system": ex.KEY_SYSTEM, "value": "p-000123"}],
        }
        result = _map(domain, ex.bundle(patient, observation))
        assert result.rejection is None, (reference, result.rejection)
        assert result.accepted[0].event.subject == "p-000123"


def test_participant_key_system_is_configurable() -> None:
    domain = IntakeDomain.from_settings(ex.settings(participant_key_system="urn:oid:9.9.9"))
    observation = ex.hba1c_percent()
    observation["subject"] = {"identifier": {"system": "urn:oid:9.9.9", "value": "p-42x"}}
    result = _map(domain, observation)
    assert result.rejection is None
    assert result.accepted[0].key == b"p-42x"
    assert _code(_map(domain, ex.hba1c_percent())) is ReasonCode.FHIR_SUBJECT


def test_clinic_from_header_or_meta_source(domain: IntakeDomain) -> None:
    observation = ex.hba1c_percent()
    observation["meta"] = {"source": "peerlink://clinic/clinic-south"}
    assert _one(domain, observation, clinic=None).data.clinic_id == "clinic-south"
    assert _one(domain, observation, clinic=b"clinic-north").data.clinic_id == "clinic-north"
    plain = _one(domain, ex.hba1c_percent(), clinic=None)
    assert plain.data.clinic_id is None
    assert plain.source == "peerlink://clinic"


def test_date_only_is_midnight_in_the_configured_zone() -> None:
    domain = IntakeDomain.from_settings(ex.settings(fhir_date_zone="America/New_York"))
    event = _one(domain, ex.hba1c_percent(effective="2026-03-02"))
    assert event.data.measurement.effective_at.isoformat() == "2026-03-02T05:00:00+00:00"


def test_bundle_publishes_valid_entries_and_dead_letters_the_rest(domain: IntakeDomain) -> None:
    result = _map(
        domain,
        ex.bundle(
            ex.hba1c_percent(id_="a"),
            ex.observation("2093-3", id_="chol", valueQuantity=ex.quantity(180, "mg/dL")),
            {"resourceType": "Practitioner", "id": "dr"},
            ex.glucose_mmol(id_="g"),
            ex.hba1c_percent(60, id_="absurd"),
        ),
    )
    assert [_data(a).result_id for a in result.accepted] == ["obs-a", "obs-g"]
    assert result.rejection is not None
    assert result.rejection.code is ReasonCode.FHIR_UNKNOWN_CODE
    assert result.rejection.detail.startswith("2 problems: ")
    assert "entry[1] Observation: Observation.code" in result.rejection.reason
    assert "entry[4] Observation: " in result.rejection.reason
    assert "60" not in result.rejection.reason


def test_resource_without_identity_is_rejected(domain: IntakeDomain) -> None:
    anonymous = ex.hba1c_percent()
    del anonymous["id"]
    assert _code(_map(domain, anonymous)) is ReasonCode.FHIR_IDENTITY
    anonymous["identifier"] = [{"system": "urn:oid:1.2", "value": "acc-991"}]
    event = _one(domain, anonymous)
    assert event.data.result_id.startswith("obs-")
    assert "acc-991" not in event.data.result_id


def test_long_logical_ids_are_hashed_into_the_short_code(domain: IntakeDomain) -> None:
    event = _one(domain, ex.hba1c_percent(id_="x" * 64))
    assert len(event.data.result_id) <= 64


def test_settings_reject_a_bad_zone() -> None:
    with pytest.raises(ValueError, match="IANA"):
        IntakeSettings(fhir_date_zone="Mars/Olympus")


def test_phq9_item9_alone_becomes_a_result_of_its_own(domain: IntakeDomain) -> None:
    """Item 9 (44260-8) answered "more than half the days" without a total: a PHQ-9 result
    with item9 2 and no total, so the engine can raise the suicide-risk red flag (RF14)."""
    answer = {"coding": [{"system": ex.LOINC, "code": "LA6570-1"}]}
    measurement = _measurement(domain, ex.observation("44260-8", valueCodeableConcept=answer))
    assert (measurement.kind, measurement.total, measurement.item9) == ("phq9", None, 2)
