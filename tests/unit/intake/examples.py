"""Valid submissions and clinic FHIR resources, shared by unit and integration tests."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from schemas.vocabulary import SupportModel
from services.intake.settings import IntakeSettings

PROGRAMME = "prog-chw-east"
OTHER_PROGRAMME = "prog-tpp-1"
KEY_SYSTEM = "urn:peerlink:participant-key"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
T = "2026-03-02T09:30:00+00:00"

#: Bearer tokens of the two test programmes; settings hold only their SHA-256 digests.
TOKENS = {PROGRAMME: "chw-secret", OTHER_PROGRAMME: "tpp-secret"}
TOKEN_HASHES = {p: hashlib.sha256(token.encode()).hexdigest() for p, token in TOKENS.items()}


def settings(**overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "programmes": {
            PROGRAMME: tuple(SupportModel),
            OTHER_PROGRAMME: (SupportModel.TELEPHONE_PEER_PARTNER,),
        },
        "tokens": TOKEN_HASHES,
        "service_version": "0.1.0-test",
    }
    values.update(overrides)
    return IntakeSettings(**values)


def envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    participant: str = "p-000123",
    event_id: str | None = None,
    time: str = T,
    source: str = f"peerlink://programme/{PROGRAMME}",
) -> dict[str, Any]:
    submission: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "time": time,
        "subject": participant,
        "data": data,
    }
    if event_id is not None:
        submission["id"] = event_id
    return submission


def enrolled(**kw: Any) -> dict[str, Any]:
    return envelope(
        "peerlink.participant.enrolled",
        {
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "clinic_id": "clinic-north",
            "diabetes_type": "type_2",
            "consent_share_with_clinic": True,
        },
        **kw,
    )


def consent(share: bool = False, **kw: Any) -> dict[str, Any]:
    return envelope(
        "peerlink.participant.consent_changed",
        {"clinic_id": "clinic-north", "share_with_clinic": share},
        **kw,
    )


def exited(**kw: Any) -> dict[str, Any]:
    return envelope("peerlink.participant.exited", {"reason": "completed_programme"}, **kw)


def contact(duration: int = 30, **kw: Any) -> dict[str, Any]:
    return envelope(
        "peerlink.contact.logged",
        {
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "supporter_id": "sup-12",
            "channel": "home_visit",
            "direction": "proactive_by_supporter",
            "outcome": "completed",
            "duration_min": duration,
            "key_functions": ["daily_management"],
            "detail": {"kind": "one_to_one", "action_plan_set": True},
            "observations": [
                {
                    "kind": "blood_pressure",
                    "systolic": 146,
                    "diastolic": 92,
                    "unit": "mmHg",
                    "device": "automated",
                    "effective_at": T,
                    "source": "peer_measured",
                },
                {
                    "kind": "glucose",
                    "value": 7.4,
                    "unit": "mmol/L",
                    "context": "fasting",
                    "effective_at": "2026-03-02T07:10:00-05:00",
                    "source": "meter_reviewed",
                },
            ],
        },
        **kw,
    )


def result(
    value: float = 7.8, unit: str = "%", result_id: str = "lab-1", **kw: Any
) -> dict[str, Any]:
    return envelope(
        "peerlink.clinical.result_reported",
        {
            "result_id": result_id,
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "measurement": {
                "kind": "hba1c",
                "value": value,
                "unit": unit,
                "effective_at": T,
                "source": "peer_measured",
            },
        },
        **kw,
    )


def appointment(status: str = "missed", **kw: Any) -> dict[str, Any]:
    return envelope(
        "peerlink.appointment.recorded",
        {
            "appointment_id": "appt-88",
            "clinic_id": "clinic-north",
            "status": status,
            "scheduled_for": "2026-03-10T14:00:00+01:00",
            "purpose": "diabetes_review",
        },
        **kw,
    )


VALID_BUILDERS = (enrolled, consent, exited, contact, result, appointment)


def valid_submission(index: int, participant: str) -> dict[str, Any]:
    """A valid submission of a rotating type, unique per (index, participant)."""
    builder = VALID_BUILDERS[index % len(VALID_BUILDERS)]
    submission = builder(participant=participant)
    submission["id"] = f"evt-{participant}-{index:05d}"
    return submission


def deep(value: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(value)


# --------------------------------------------------------------------------- FHIR


def subject(key: str = "p-000123") -> dict[str, Any]:
    return {"identifier": {"system": KEY_SYSTEM, "value": key}}


def quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def observation(
    code: str,
    *,
    id_: str | None = None,
    key: str = "p-000123",
    effective: str = "2026-03-02T09:30:00+01:00",
    status: str = "final",
    **value: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id_ or f"obs-{code}",
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": subject(key),
        "effectiveDateTime": effective,
        "issued": "2026-03-03T10:00:00Z",
    }
    resource.update(value)
    return resource


def hba1c_percent(value: float = 7.8, **kw: Any) -> dict[str, Any]:
    return observation("4548-4", valueQuantity=quantity(value, "%"), **kw)


def hba1c_ifcc(value: float = 62, **kw: Any) -> dict[str, Any]:
    return observation("59261-8", valueQuantity=quantity(value, "mmol/mol"), **kw)


def glucose_mg(value: float = 148, **kw: Any) -> dict[str, Any]:
    return observation("2345-7", valueQuantity=quantity(value, "mg/dL"), **kw)


def glucose_mmol(value: float = 8.2, **kw: Any) -> dict[str, Any]:
    return observation("14749-6", valueQuantity=quantity(value, "mmol/L"), **kw)


def uacr_mg_g(value: float = 18, **kw: Any) -> dict[str, Any]:
    return observation("9318-7", valueQuantity=quantity(value, "mg/g"), **kw)


def uacr_mg_mmol(value: float = 3.4, **kw: Any) -> dict[str, Any]:
    return observation("14959-1", valueQuantity=quantity(value, "mg/mmol"), **kw)


def egfr(value: float = 74, **kw: Any) -> dict[str, Any]:
    return observation("98979-8", valueQuantity=quantity(value, "mL/min/{1.73_m2}"), **kw)


def _component(code: str, **value: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code}]}, **value}


def blood_pressure(systolic: float = 142, diastolic: float = 88, **kw: Any) -> dict[str, Any]:
    return observation(
        "85354-9",
        component=[
            _component("8480-6", valueQuantity=quantity(systolic, "mm[Hg]")),
            _component("8462-4", valueQuantity=quantity(diastolic, "mm[Hg]")),
        ],
        **kw,
    )


def phq9(total: int = 12, item9_answer: str | None = "LA6569-3", **kw: Any) -> dict[str, Any]:
    components = []
    if item9_answer is not None:
        components.append(
            _component(
                "44260-8",
                valueCodeableConcept={"coding": [{"system": LOINC, "code": item9_answer}]},
            )
        )
    return observation("44261-6", valueInteger=total, component=components, **kw)


def phq2(total: int = 3, **kw: Any) -> dict[str, Any]:
    return observation("55758-7", valueInteger=total, **kw)


def procedure(
    code: str,
    *,
    id_: str | None = None,
    key: str = "p-000123",
    performed: str = "2026-03-01T10:00:00Z",
    status: str = "completed",
) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": id_ or f"proc-{code}",
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": subject(key),
        "performedDateTime": performed,
    }


def appointment_resource(
    status: str = "noshow", *, id_: str = "a-1", key: str = "p-000123"
) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": id_,
        "status": status,
        "start": "2026-03-10T14:00:00+01:00",
        "end": "2026-03-10T14:30:00+01:00",
        "serviceType": [
            {"coding": [{"system": "urn:peerlink:appointment-purpose", "code": "eye"}]}
        ],
        "participant": [
            {
                "actor": {
                    "reference": "Patient/pat-1",
                    "identifier": {"system": KEY_SYSTEM, "value": key},
                },
                "status": "accepted",
            },
            {"actor": {"reference": "Practitioner/dr-1"}, "status": "accepted"},
        ],
    }


def encounter(
    status: str = "finished", *, id_: str = "enc-1", key: str = "p-000123"
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": id_,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject(key),
        "appointment": [{"reference": "Appointment/a-1"}],
        "period": {"start": "2026-03-10T14:05:00+01:00", "end": "2026-03-10T14:40:00+01:00"},
    }


def bundle(*resources: dict[str, Any], type_: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": type_,
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }
