"""FHIR R4 resources a clinic sends back on ``clinic.fhir.inbound``, as plain JSON dicts.

Codes follow reference/care_gap_rules.md section 3: HbA1c LOINC 4548-4 (%) or 59261-8
(mmol/mol), blood-pressure panel 85354-9 with systolic 8480-6 and diastolic 8462-4
components, eGFR 98979-8, UACR 9318-7, PHQ-9 total 44261-6 (item 9: 44260-8), retinal exam
SNOMED 722161008, foot exam SNOMED 401191002 (with 134388005 and 91161007 when
comprehensive); appointments as Appointment (fulfilled / noshow / cancelled) or Encounter
(finished).

The patient reference carries the participant key as a logical identifier beside the clinic's
own literal Patient id, so intake (which keeps no state) can key the result without a lookup.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from schemas.measurements import (
    NGSP_PERCENT_AT_IFCC_ZERO,
    NGSP_PERCENT_PER_IFCC,
    UACR_MG_G_PER_MG_MMOL,
)

__all__ = [
    "APPOINTMENT_PURPOSE_SYSTEM",
    "CLINIC_RESULT_SYSTEM",
    "CLINIC_SOURCE_PREFIX",
    "FOOT_EXAM_CODES",
    "PARTICIPANT_IDENTIFIER_SYSTEM",
    "appointment",
    "bp_panel",
    "bundle",
    "egfr",
    "encounter",
    "foot_exam",
    "hba1c",
    "patient_reference",
    "phq9",
    "retinal_exam",
    "retinal_screen_ai",
    "uacr",
]

#: Identifier system of PeerLink participant keys on clinic resources.
PARTICIPANT_IDENTIFIER_SYSTEM = "urn:peerlink:participant-key"
#: Identifier system prefix of the clinic's own result ids (one system per clinic).
CLINIC_RESULT_SYSTEM = "urn:peerlink:clinic-result"
#: ``meta.source`` naming the sending clinic (intake also reads the clinic header).
CLINIC_SOURCE_PREFIX = "urn:peerlink:clinic:"
#: Code system of an appointment's purpose (the AppointmentRecorded vocabulary).
APPOINTMENT_PURPOSE_SYSTEM = "urn:peerlink:appointment-purpose"

_LOINC = "http://loinc.org"
_SNOMED = "http://snomed.info/sct"
_UCUM = "http://unitsofmeasure.org"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_NS = uuid.UUID("6f0c1d52-8d1e-5c7a-9b1e-2f4a3c5d6e7f")

Resource = dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def patient_reference(participant_key: str, patient_id: str) -> Resource:
    return {
        "reference": f"Patient/{patient_id}",
        "identifier": {"system": PARTICIPANT_IDENTIFIER_SYSTEM, "value": participant_key},
    }


def _meta(clinic_id: str) -> Resource:
    return {"source": f"{CLINIC_SOURCE_PREFIX}{clinic_id}"}


def _coding(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _category(code: str) -> list[Resource]:
    return [{"coding": [{"system": _OBS_CATEGORY, "code": code}]}]


def _observation(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    issued: datetime,
    category: str,
    code: Resource,
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": _meta(clinic_id),
        "identifier": [{"system": f"{CLINIC_RESULT_SYSTEM}:{clinic_id}", "value": resource_id}],
        "status": "final",
        "category": _category(category),
        "code": code,
        "subject": subject,
        "effectiveDateTime": _iso(effective),
        "issued": _iso(issued),
        "performer": [{"reference": f"Organization/{clinic_id}"}],
    }


def _quantity(value: float, unit: str, ucum: str | None = None) -> Resource:
    return {"value": value, "unit": unit, "system": _UCUM, "code": ucum or unit}


def hba1c(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    issued: datetime,
    percent: float,
    si_units: bool,
) -> Resource:
    """HbA1c in % (4548-4) or, for IFCC-reporting clinics, mmol/mol (59261-8)."""
    if si_units:
        code = _coding(
            _LOINC, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"
        )
        # Inverse of the IFCC master equation [rules 3.5].
        ifcc = (percent - NGSP_PERCENT_AT_IFCC_ZERO) / NGSP_PERCENT_PER_IFCC
        quantity = _quantity(round(ifcc), "mmol/mol")
    else:
        code = _coding(_LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
        quantity = _quantity(round(percent, 1), "%")
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=issued,
        category="laboratory",
        code=code,
    )
    resource["valueQuantity"] = quantity
    return resource


def bp_panel(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    systolic: int,
    diastolic: int,
) -> Resource:
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=effective,
        category="vital-signs",
        code=_coding(_LOINC, "85354-9", "Blood pressure panel with all children optional"),
    )
    resource["component"] = [
        {
            "code": _coding(_LOINC, "8480-6", "Systolic blood pressure"),
            "valueQuantity": _quantity(systolic, "mmHg", "mm[Hg]"),
        },
        {
            "code": _coding(_LOINC, "8462-4", "Diastolic blood pressure"),
            "valueQuantity": _quantity(diastolic, "mmHg", "mm[Hg]"),
        },
    ]
    return resource


def egfr(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    issued: datetime,
    value: float,
) -> Resource:
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=issued,
        category="laboratory",
        code=_coding(
            _LOINC,
            "98979-8",
            "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
            "Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)",
        ),
    )
    resource["valueQuantity"] = _quantity(round(value), "mL/min/1.73m2", "mL/min/{1.73_m2}")
    return resource


def uacr(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    issued: datetime,
    mg_per_g: float,
    si_units: bool,
) -> Resource:
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=issued,
        category="laboratory",
        code=_coding(_LOINC, "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
    )
    if si_units:
        # mg/g -> mg/mmol (creatinine 113.12 g/mol) [rules 3.5].
        mg_per_mmol = mg_per_g / UACR_MG_G_PER_MG_MMOL
        resource["valueQuantity"] = _quantity(round(mg_per_mmol, 1), "mg/mmol")
    else:
        resource["valueQuantity"] = _quantity(round(mg_per_g, 1), "mg/g")
    return resource


def phq9(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    total: int,
    item9: int,
) -> Resource:
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=effective,
        category="survey",
        code=_coding(_LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    )
    resource["valueInteger"] = total
    resource["component"] = [
        {
            "code": _coding(
                _LOINC,
                "44260-8",
                "Thoughts that you would be better off dead, or of hurting yourself in some way",
            ),
            "valueInteger": item9,
        }
    ]
    return resource


def _procedure(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    performed: datetime,
    code: Resource,
) -> Resource:
    return {
        "resourceType": "Procedure",
        "id": resource_id,
        "meta": _meta(clinic_id),
        "identifier": [{"system": f"{CLINIC_RESULT_SYSTEM}:{clinic_id}", "value": resource_id}],
        "status": "completed",
        "code": code,
        "subject": subject,
        "performedDateTime": _iso(performed),
        "performer": [{"actor": {"reference": f"Organization/{clinic_id}"}}],
    }


#: LOINC answer "No apparent retinopathy" and SNOMED "Retinopathy due to diabetes mellitus".
_NO_RETINOPATHY = ("http://loinc.org", "LA18643-9", "No apparent retinopathy")
_RETINOPATHY = (_SNOMED, "4855003", "Retinopathy due to diabetes mellitus")


def retinal_exam(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    performed: datetime,
    retinopathy: bool,
) -> Resource:
    """A dilated retinal exam by an eye-care professional, with its finding as outcome."""
    resource = _procedure(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        performed=performed,
        code=_coding(_SNOMED, "722161008", "Diabetic retinal eye exam"),
    )
    resource["outcome"] = _coding(*(_RETINOPATHY if retinopathy else _NO_RETINOPATHY))
    return resource


def retinal_screen_ai(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    effective: datetime,
    retinopathy: bool,
) -> Resource:
    """Autonomous AI retinopathy screening (LOINC 105914-6, accepted by CMS131 [rules 2.1])."""
    resource = _observation(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        effective=effective,
        issued=effective,
        category="exam",
        code=_coding(_LOINC, "105914-6", "Eye DR screening by autonomous AI"),
    )
    resource["valueCodeableConcept"] = _coding(*(_RETINOPATHY if retinopathy else _NO_RETINOPATHY))
    return resource


#: Visual inspection, sensory (monofilament) and pulse exam: all three on one day make a
#: comprehensive foot exam (rules 5, DM-FOOT-DUE).
FOOT_EXAM_CODES: tuple[tuple[str, str], ...] = (
    ("401191002", "Visual examination of foot"),
    ("134388005", "Sensory examination of foot"),
    ("91161007", "Pulse examination of foot"),
)


def foot_exam(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    performed: datetime,
    component: int = 0,
) -> Resource:
    """One component of a foot exam (``component`` indexes ``FOOT_EXAM_CODES``)."""
    code, display = FOOT_EXAM_CODES[component]
    return _procedure(
        resource_id=resource_id,
        clinic_id=clinic_id,
        subject=subject,
        performed=performed,
        code=_coding(_SNOMED, code, display),
    )


def _purpose() -> Resource:
    return _coding(APPOINTMENT_PURPOSE_SYSTEM, "diabetes_review", "Diabetes review")


def appointment(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    start: datetime,
    minutes: int,
    status: str,
) -> Resource:
    """A diabetes review appointment: ``fulfilled``, ``noshow`` or ``cancelled``."""
    return {
        "resourceType": "Appointment",
        "id": resource_id,
        "meta": _meta(clinic_id),
        "identifier": [{"system": f"{CLINIC_RESULT_SYSTEM}:{clinic_id}", "value": resource_id}],
        "status": status,
        "serviceType": [_purpose()],
        "start": _iso(start),
        "end": _iso(start + timedelta(minutes=minutes)),
        "participant": [
            {"actor": subject, "status": "accepted"},
            {"actor": {"reference": f"Organization/{clinic_id}"}, "status": "accepted"},
        ],
    }


def encounter(
    *,
    resource_id: str,
    clinic_id: str,
    subject: Resource,
    start: datetime,
    minutes: int,
) -> Resource:
    """A kept (finished) ambulatory diabetes visit."""
    return {
        "resourceType": "Encounter",
        "id": resource_id,
        "meta": _meta(clinic_id),
        "identifier": [{"system": f"{CLINIC_RESULT_SYSTEM}:{clinic_id}", "value": resource_id}],
        "status": "finished",
        "class": {"system": _ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "serviceType": _purpose(),
        "subject": subject,
        "period": {"start": _iso(start), "end": _iso(start + timedelta(minutes=minutes))},
        "serviceProvider": {"reference": f"Organization/{clinic_id}"},
    }


def _full_url(resource: Resource) -> str:
    name = f"{resource['resourceType']}/{resource['id']}"
    return f"urn:uuid:{uuid.uuid5(_NS, name)}"


def bundle(bundle_id: str, clinic_id: str, resources: list[Resource]) -> Resource:
    """A collection Bundle of results sent together."""
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": _meta(clinic_id),
        "type": "collection",
        "entry": [{"fullUrl": _full_url(resource), "resource": resource} for resource in resources],
    }
