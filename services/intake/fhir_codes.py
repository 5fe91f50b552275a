"""The clinic codes intake maps, with their units (care_gap_rules.md section 3).

Anything not listed here is dead-lettered as an unknown code, never guessed. For HbA1c and
glucose the LOINC property fixes the unit (a mass-fraction code arriving in mmol/mol is a
contradiction and is rejected); UACR codes accept both mass ratio units because the contract
converts between them. Units must be UCUM codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "BP_PANELS",
    "BP_UNIT",
    "CONTEXT_RESOURCE_TYPES",
    "DIASTOLIC",
    "FOOT_EXAM_COMPONENTS",
    "LOINC",
    "PHQ2_ITEMS",
    "PHQ2_PANEL",
    "PHQ2_TOTAL",
    "PHQ9_ITEM9",
    "PHQ9_ITEMS",
    "PHQ9_PANEL",
    "PHQ9_TOTAL",
    "PHQ_ITEM9_ANSWERS",
    "PURPOSE_SYSTEM",
    "QUANTITY_CODES",
    "RETINAL_EXAM_OBSERVATIONS",
    "RETINAL_EXAM_PROCEDURES",
    "RETINOPATHY_ABSENT",
    "SNOMED",
    "SYSTOLIC",
    "UCUM",
    "QuantityRule",
    "purpose_of",
]

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
#: Our own code system for an appointment's purpose (the AppointmentRecorded vocabulary).
PURPOSE_SYSTEM: Final = "urn:peerlink:appointment-purpose"

QuantityKind = Literal["hba1c", "glucose", "egfr", "uacr"]


@dataclass(frozen=True, slots=True)
class QuantityRule:
    kind: QuantityKind
    label: str
    #: UCUM code -> the contract's unit string.
    units: dict[str, str]
    source: Literal["clinic_lab", "clinic_ehr"] = "clinic_lab"


_HBA1C_NGSP = QuantityRule(kind="hba1c", label="HbA1c (NGSP)", units={"%": "%"})
_HBA1C_IFCC = QuantityRule(kind="hba1c", label="HbA1c (IFCC)", units={"mmol/mol": "mmol/mol"})
_GLUCOSE_MASS = QuantityRule(kind="glucose", label="glucose (mass)", units={"mg/dL": "mg/dL"})
_GLUCOSE_MOLAR = QuantityRule(kind="glucose", label="glucose (molar)", units={"mmol/L": "mmol/L"})
_GLUCOMETER = QuantityRule(
    kind="glucose", label="glucose (glucometer)", units={"mg/dL": "mg/dL"}, source="clinic_ehr"
)
_EGFR = QuantityRule(kind="egfr", label="eGFR", units={"mL/min/{1.73_m2}": "mL/min/1.73m2"})
_UACR = QuantityRule(
    kind="uacr",
    label="UACR",
    units={
        "mg/g": "mg/g",
        "mg/g{creat}": "mg/g",
        "mg/mmol": "mg/mmol",
        "mg/mmol{creat}": "mg/mmol",
    },
)

#: LOINC code -> how its valueQuantity maps to a measurement.
QUANTITY_CODES: Final[dict[str, QuantityRule]] = {
    # HbA1c: VSAC 2.16.840.1.113883.3.464.1003.198.12.1013, plus IFCC 59261-8.
    "4548-4": _HBA1C_NGSP,
    "17856-6": _HBA1C_NGSP,
    "4549-2": _HBA1C_NGSP,
    "17855-8": _HBA1C_NGSP,
    "96595-4": _HBA1C_NGSP,
    "59261-8": _HBA1C_IFCC,
    # Glucose: mass concentration in mg/dL, substance concentration in mmol/L.
    "2339-0": _GLUCOSE_MASS,
    "2345-7": _GLUCOSE_MASS,
    "41653-7": _GLUCOMETER,
    "14749-6": _GLUCOSE_MOLAR,
    "15074-8": _GLUCOSE_MOLAR,
    # eGFR: VSAC 2.16.840.1.113883.3.6929.3.1000 (CKD-EPI 2021 first; legacy codes kept).
    **dict.fromkeys(
        (
            "98979-8",
            "98980-6",
            "62238-1",
            "69405-9",
            "50210-4",
            "94677-2",
            "77147-7",
            "48642-3",
            "48643-1",
            "88293-6",
            "88294-4",
            "50044-7",
            "70969-1",
        ),
        _EGFR,
    ),
    # UACR: quantitative codes of VSAC 2.16.840.1.113883.3.6929.3.1007 (test strips excluded:
    # semi-quantitative results need a lab confirmation, care_gap_rules.md 6.6).
    **dict.fromkeys(
        (
            "9318-7",
            "14959-1",
            "32294-1",
            "13705-9",
            "14958-3",
            "44292-1",
            "59159-4",
            "76401-9",
            "77253-3",
            "77254-1",
        ),
        _UACR,
    ),
}

#: Blood-pressure panels (85354-9; 55284-4 is the older systolic+diastolic panel).
BP_PANELS: Final = frozenset({"85354-9", "55284-4"})
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
BP_UNIT: Final = "mm[Hg]"

PHQ2_PANEL: Final = "55757-9"
PHQ2_TOTAL: Final = "55758-7"
PHQ9_PANEL: Final = "44249-1"
PHQ9_TOTAL: Final = "44261-6"
PHQ9_ITEM9: Final = "44260-8"
#: PHQ-2 items are PHQ-9 items 1 and 2.
PHQ2_ITEMS: Final = frozenset({"44250-9", "44255-8"})
PHQ9_ITEMS: Final = PHQ2_ITEMS | frozenset(
    {"44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", PHQ9_ITEM9}
)
#: LOINC answer list LL358-3 (PHQ frequency) -> item score.
PHQ_ITEM9_ANSWERS: Final = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}

#: Retinal or dilated eye exam procedures (VSAC 2.16.840.1.113883.3.464.1003.115.12.1088).
RETINAL_EXAM_PROCEDURES: Final = frozenset(
    {"722161008", "274798009", "308110009", "314972008", "314971001"}
)
#: Autonomous AI diabetic retinopathy screening (CMS131).
RETINAL_EXAM_OBSERVATIONS: Final = frozenset({"105914-6"})
#: "No apparent retinopathy" (LOINC answer, CMS131).
RETINOPATHY_ABSENT: Final = "LA18643-9"
#: "Retinopathy due to diabetes mellitus" (SNOMED CT) as an exam finding.
RETINOPATHY_PRESENT: Final = "4855003"

#: Diabetic foot exam components; all three on one day make a comprehensive exam.
FOOT_EXAM_COMPONENTS: Final = {
    "401191002": "visual inspection",
    "134388005": "sensory (monofilament)",
    "91161007": "pedal pulses",
}

#: Resources a Bundle may carry as context (subject, performer, specimen): not events.
CONTEXT_RESOURCE_TYPES: Final = frozenset(
    {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "Specimen",
        "Device",
        "MessageHeader",
        "Provenance",
    }
)

_PURPOSES: Final = frozenset(
    {"diabetes_review", "eye", "foot", "lab", "behavioural_health", "other"}
)
_LAB_CODES: Final = frozenset(QUANTITY_CODES)


def purpose_of(codings: list[tuple[str | None, str | None]]) -> str:
    """The AppointmentRecorded purpose from (system, code) pairs, "other" when none is known."""
    for system, code in codings:
        if system == PURPOSE_SYSTEM and code in _PURPOSES:
            return code
    for system, code in codings:
        if system == SNOMED and code in RETINAL_EXAM_PROCEDURES:
            return "eye"
        if system == SNOMED and code in FOOT_EXAM_COMPONENTS:
            return "foot"
        if system == LOINC and code in _LAB_CODES:
            return "lab"
        if system == LOINC and code in {PHQ2_PANEL, PHQ2_TOTAL, PHQ9_PANEL, PHQ9_TOTAL}:
            return "behavioural_health"
    return "other"
