"""Clinical measurements with explicit units and plausibility limits.

Units are part of the type: an HbA1c is ``%`` (NGSP) or ``mmol/mol`` (IFCC), a glucose is
``mg/dL`` or ``mmol/L``, blood pressure is ``mmHg``. Values outside physiologically possible
ranges are rejected at the contract so that an HbA1c of 60 % never reaches the rules.
Conversions follow care_gap_rules.md section 3.5 (IFCC master equation; glucose / 18.0).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.base import ContractModel, examples

__all__ = [
    "GLUCOSE_MG_DL_PER_MMOL_L",
    "NGSP_PERCENT_AT_IFCC_ZERO",
    "NGSP_PERCENT_PER_IFCC",
    "UACR_MG_G_PER_MG_MMOL",
    "BloodPressure",
    "Dds2",
    "Egfr",
    "FootExam",
    "Glucose",
    "GlucoseContext",
    "Hba1c",
    "Ketones",
    "Measurement",
    "MeasurementSource",
    "OriginalQuantity",
    "Phq2",
    "Phq9",
    "ResultStatus",
    "RetinalExam",
    "Uacr",
    "glucose_mg_dl",
    "hba1c_percent",
    "uacr_mg_g",
]

#: IFCC master equation, NGSP (%) = 0.0915 x IFCC (mmol/mol) + 2.15 (care_gap_rules.md 3.5).
NGSP_PERCENT_PER_IFCC = 0.0915
NGSP_PERCENT_AT_IFCC_ZERO = 2.15
#: mg/dL per mmol/L of glucose (molar mass 180.16 g/mol / 10).
GLUCOSE_MG_DL_PER_MMOL_L = 18.0
#: mg/g per mg/mmol of albumin/creatinine (creatinine 113.12 g/mol; care_gap_rules.md 3.5).
UACR_MG_G_PER_MG_MMOL = 8.84


def _ngsp_percent(ifcc_mmol_mol: float) -> float:
    """The IFCC master equation, unrounded."""
    return NGSP_PERCENT_PER_IFCC * ifcc_mmol_mol + NGSP_PERCENT_AT_IFCC_ZERO


def hba1c_percent(value: float, unit: str) -> float:
    """HbA1c in NGSP % from % or IFCC mmol/mol (NGSP = 0.0915 x IFCC + 2.15)."""
    if unit == "%":
        return value
    if unit == "mmol/mol":
        return round(_ngsp_percent(value), 2)
    raise ValueError(f"unknown HbA1c unit {unit!r}")


def glucose_mg_dl(value: float, unit: str) -> float:
    if unit == "mg/dL":
        return value
    if unit == "mmol/L":
        return round(value * GLUCOSE_MG_DL_PER_MMOL_L, 1)
    raise ValueError(f"unknown glucose unit {unit!r}")


def uacr_mg_g(value: float, unit: str) -> float:
    if unit == "mg/g":
        return value
    if unit == "mg/mmol":
        return round(value * UACR_MG_G_PER_MG_MMOL, 1)
    raise ValueError(f"unknown UACR unit {unit!r}")


def _rounded_within(
    convert: Callable[[float, str], float], measurement: Any, low: float, high: float
) -> bool:
    """Whether a measurement's value, converted and rounded as ``convert`` does, is in range.

    The plausibility checks first compare the unrounded conversion, which costs a fraction of
    ``round()``: rounding is monotonic and the bounds are exact at its precision, so a value in
    range before rounding is in range after. Only one outside is checked again here.
    """
    return bool(low <= convert(measurement.value, measurement.unit) <= high)


class MeasurementSource(StrEnum):
    """Provenance: rules treat self-report differently from a lab result."""

    SELF_REPORT = "self_report"
    METER_REVIEWED = "meter_reviewed"
    CGM = "cgm"
    PEER_MEASURED = "peer_measured"
    CLINIC_LAB = "clinic_lab"
    CLINIC_EHR = "clinic_ehr"


class ResultStatus(StrEnum):
    """Only final/amended/corrected results close gaps (care_gap_rules.md 6.5)."""

    FINAL = "final"
    AMENDED = "amended"
    CORRECTED = "corrected"
    PRELIMINARY = "preliminary"
    ENTERED_IN_ERROR = "entered_in_error"


class GlucoseContext(StrEnum):
    FASTING = "fasting"
    PRE_MEAL = "pre_meal"
    POST_MEAL = "post_meal"
    RANDOM = "random"
    BEDTIME = "bedtime"


class OriginalQuantity(ContractModel):
    """The value and unit as submitted, kept when intake converts to the canonical unit."""

    model_config = examples({"value": 53, "unit": "mmol/mol"})

    value: float
    unit: str = Field(min_length=1, max_length=32)


class _Measurement(ContractModel):
    effective_at: AwareDatetime = Field(description="Clinical date-time, with a time zone.")
    source: MeasurementSource
    status: ResultStatus = ResultStatus.FINAL


_T = "2026-03-02T09:30:00+00:00"


class Hba1c(_Measurement):
    model_config = examples(
        {"kind": "hba1c", "value": 7.8, "unit": "%", "effective_at": _T, "source": "clinic_lab"},
        {
            "kind": "hba1c",
            "value": 62,
            "unit": "mmol/mol",
            "effective_at": _T,
            "source": "clinic_lab",
        },
    )

    kind: Literal["hba1c"] = "hba1c"
    value: float
    unit: Literal["%", "mmol/mol"]
    original: OriginalQuantity | None = None

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        # 3-20 % (9-195 mmol/mol) spans every HbA1c a lab reports; beyond is a unit mix-up.
        percent = self.value if self.unit == "%" else _ngsp_percent(self.value)
        # Checked as hba1c_percent rounds it only when outside (see _rounded_within).
        if not 3.0 <= percent <= 20.0 and not _rounded_within(hba1c_percent, self, 3.0, 20.0):
            raise ValueError("HbA1c is outside the possible range 3-20 % (9-195 mmol/mol)")
        return self

    @property
    def percent(self) -> float:
        return hba1c_percent(self.value, self.unit)


class Glucose(_Measurement):
    model_config = examples(
        {
            "kind": "glucose",
            "value": 148,
            "unit": "mg/dL",
            "context": "fasting",
            "effective_at": _T,
            "source": "meter_reviewed",
        },
        {
            "kind": "glucose",
            "value": 2.8,
            "unit": "mmol/L",
            "context": "random",
            "effective_at": _T,
            "source": "self_report",
        },
    )

    kind: Literal["glucose"] = "glucose"
    value: float
    unit: Literal["mg/dL", "mmol/L"]
    context: GlucoseContext = GlucoseContext.RANDOM
    #: The meter showed "HI" (above its range); value then carries the meter's upper limit.
    meter_hi: bool = False
    original: OriginalQuantity | None = None

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        mg_dl = self.value
        if self.unit != "mg/dL":
            mg_dl *= GLUCOSE_MG_DL_PER_MMOL_L
        if not 10 <= mg_dl <= 1500 and not _rounded_within(glucose_mg_dl, self, 10, 1500):
            raise ValueError("glucose is outside the possible range 10-1500 mg/dL (0.6-83 mmol/L)")
        return self

    @property
    def mg_dl(self) -> float:
        return glucose_mg_dl(self.value, self.unit)


class BloodPressure(_Measurement):
    model_config = examples(
        {
            "kind": "blood_pressure",
            "systolic": 142,
            "diastolic": 88,
            "unit": "mmHg",
            "reading_number": 2,
            "device": "automated",
            "effective_at": _T,
            "source": "peer_measured",
        }
    )

    kind: Literal["blood_pressure"] = "blood_pressure"
    systolic: int = Field(ge=50, le=300)
    diastolic: int = Field(ge=20, le=200)
    unit: Literal["mmHg"]
    #: CHW protocols measure up to three times before flagging (CHWConnect).
    reading_number: int = Field(default=1, ge=1, le=3)
    #: Patient-conveyed readings count only from automated devices (NCQA BPD).
    device: Literal["automated", "manual", "unknown"] = "unknown"
    #: Symptoms reported with the reading (chest pain, breathlessness, vision change...).
    with_symptoms: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.diastolic >= self.systolic:
            raise ValueError("diastolic pressure must be below systolic pressure")
        return self


class Egfr(_Measurement):
    model_config = examples(
        {
            "kind": "egfr",
            "value": 74,
            "unit": "mL/min/1.73m2",
            "effective_at": _T,
            "source": "clinic_lab",
        }
    )

    kind: Literal["egfr"] = "egfr"
    value: float = Field(ge=1, le=200)
    unit: Literal["mL/min/1.73m2"]


class Uacr(_Measurement):
    model_config = examples(
        {"kind": "uacr", "value": 18, "unit": "mg/g", "effective_at": _T, "source": "clinic_lab"}
    )

    kind: Literal["uacr"] = "uacr"
    value: float = Field(ge=0)
    unit: Literal["mg/g", "mg/mmol"]
    original: OriginalQuantity | None = None

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        mg_g = self.value if self.unit == "mg/g" else self.value * UACR_MG_G_PER_MG_MMOL
        if mg_g > 30_000 and not _rounded_within(uacr_mg_g, self, 0, 30_000):
            raise ValueError("UACR is above the possible 30000 mg/g")
        return self

    @property
    def mg_g(self) -> float:
        return uacr_mg_g(self.value, self.unit)


class Phq2(_Measurement):
    model_config = examples(
        {"kind": "phq2", "total": 3, "effective_at": _T, "source": "peer_measured"}
    )

    kind: Literal["phq2"] = "phq2"
    total: int = Field(ge=0, le=6)


class Phq9(_Measurement):
    model_config = examples(
        {"kind": "phq9", "total": 12, "item9": 0, "effective_at": _T, "source": "clinic_ehr"},
        {"kind": "phq9", "item9": 2, "effective_at": _T, "source": "peer_measured"},
    )

    kind: Literal["phq9"] = "phq9"
    #: None when only item 9 was asked: a suicide-risk answer must never be dropped because
    #: the rest of the questionnaire was not completed (care_gap_rules.md 4, RF14).
    total: int | None = Field(default=None, ge=0, le=27)
    #: Item 9 (LOINC 44260-8) is kept separately: any answer above 0 is a red flag (RF14).
    item9: int | None = Field(default=None, ge=0, le=3)

    @model_validator(mode="after")
    def _item_within_total(self) -> Self:
        if self.total is None and self.item9 is None:
            raise ValueError("PHQ-9 needs a total score, an item 9 answer, or both")
        if self.item9 is not None and self.total is not None and self.item9 > self.total:
            raise ValueError("PHQ-9 item 9 cannot exceed the total score")
        return self


class Dds2(_Measurement):
    """Diabetes Distress Scale, two items scored 1-6 (Fisher 2008)."""

    model_config = examples(
        {"kind": "dds2", "item1": 4, "item2": 3, "effective_at": _T, "source": "peer_measured"}
    )

    kind: Literal["dds2"] = "dds2"
    item1: int = Field(ge=1, le=6)
    item2: int = Field(ge=1, le=6)

    @property
    def mean(self) -> float:
        return (self.item1 + self.item2) / 2


class RetinalExam(_Measurement):
    model_config = examples(
        {
            "kind": "retinal_exam",
            "retinopathy_found": False,
            "effective_at": _T,
            "source": "clinic_ehr",
        }
    )

    kind: Literal["retinal_exam"] = "retinal_exam"
    #: None when the report is not yet known (an exam was done but not read).
    retinopathy_found: bool | None = None


class FootExam(_Measurement):
    model_config = examples(
        {
            "kind": "foot_exam",
            "comprehensive": True,
            "iwgdf_risk": 1,
            "effective_at": _T,
            "source": "clinic_ehr",
        }
    )

    kind: Literal["foot_exam"] = "foot_exam"
    #: Only a comprehensive exam (inspection + monofilament + pulses) closes the foot gap.
    comprehensive: bool = True
    iwgdf_risk: int | None = Field(default=None, ge=0, le=3)


class Ketones(_Measurement):
    model_config = examples(
        {"kind": "ketones", "level": "moderate", "effective_at": _T, "source": "self_report"}
    )

    kind: Literal["ketones"] = "ketones"
    level: Literal["negative", "trace", "small", "moderate", "large"]


Measurement = Annotated[
    Hba1c
    | Glucose
    | BloodPressure
    | Egfr
    | Uacr
    | Phq2
    | Phq9
    | Dds2
    | RetinalExam
    | FootExam
    | Ketones,
    Field(discriminator="kind"),
]
