"""What each gap code is: kind, communication category, default priority, action and coding.

Rows follow the proposed rules table (care_gap_rules.md section 5) and the red-flag table
(section 4). Codes come from section 3; concepts without a LOINC/SNOMED code there (diabetes
distress, engagement gaps, some red flags) use PeerLink's own code system.

Red flags RF1/RF2 (level 3/2 hypoglycaemia) and RF14 (PHQ-9 item 9) are folded into
DM-HYPO-EVENT and DM-SUICIDE-RISK, the gaps the rules table defines for the same condition,
so that a peer's report and the measurement behind it raise one alert per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from schemas.caregaps import ClinicalCoding
from schemas.vocabulary import CommunicationCategory, GapCode, GapKind, Priority, RedFlagCode

__all__ = [
    "CODINGS",
    "LOINC",
    "PEERLINK_CODE_SYSTEM",
    "RED_FLAG_CODES",
    "RED_FLAG_GAP",
    "SNOMED",
    "SPECS",
    "GapSpec",
    "spec",
]

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
#: PeerLink's own code system, the same base the FHIR publisher uses.
PEERLINK_CODE_SYSTEM: Final = "https://peerlink.example/fhir/CodeSystem/care-gap"


def _c(system: str, code: str, display: str) -> ClinicalCoding:
    return ClinicalCoding(system=system, code=code, display=display)


#: Codings by key; a gap record stores the key (the kidney gap codes what is missing).
CODINGS: Final = MappingProxyType(
    {
        # rules 3.1 (VSAC HbA1c value set)
        "hba1c": _c(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        # rules 3.2 (VSAC Retinal or Dilated Eye Exam)
        "eye": _c(SNOMED, "722161008", "Diabetic retinal eye exam"),
        # rules 3.2 (retired CMS123 foot exam value sets) [secondary in the reference]
        "foot": _c(SNOMED, "401191002", "Diabetic foot examination"),
        # rules 3.1 (VSAC eGFR and UACR value sets)
        "egfr": _c(
            LOINC,
            "98979-8",
            "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
            "Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)",
        ),
        "uacr": _c(LOINC, "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
        # rules 3.1 (FHIR R4 BP profile)
        "bp": _c(LOINC, "85354-9", "Blood pressure panel with all children optional"),
        # rules 3.1 (PHQ-9 panel, total, item 9)
        "phq9-panel": _c(LOINC, "44249-1", "PHQ-9 quick depression assessment panel"),
        "phq9-total": _c(LOINC, "44261-6", "Patient Health Questionnaire 9 item total score"),
        "phq9-item9": _c(
            LOINC,
            "44260-8",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ),
        # rules 3.1: no LOINC code found for the Diabetes Distress Scale
        "dds2": _c(PEERLINK_CODE_SYSTEM, "dds2-distress", "Diabetes distress (DDS-2)"),
        # rules 3.2: 237633009 is marked [UNVERIFIED] in the reference
        "hypo": _c(SNOMED, "237633009", "Hypoglycemia due to diabetes mellitus"),
        # rules 3.2 [secondary]
        "dka": _c(SNOMED, "420422005", "Ketoacidosis due to diabetes mellitus"),
        # rules 3.1
        "glucose": _c(LOINC, "2339-0", "Glucose [Mass/volume] in Blood"),
        # rules 3.2: 371087003 is marked [UNVERIFIED] in the reference
        "foot-ulcer": _c(SNOMED, "371087003", "Ulcer of foot due to diabetes mellitus"),
        "sick-day": _c(PEERLINK_CODE_SYSTEM, "sick-day", "Sick day with high glucose"),
        "chw-threshold": _c(
            PEERLINK_CODE_SYSTEM, "chw-threshold", "CHW programme threshold exceeded"
        ),
        "chest-pain": _c(PEERLINK_CODE_SYSTEM, "chest-pain", "Chest pain or stroke signs"),
        "disengaged": _c(PEERLINK_CODE_SYSTEM, "disengaged", "No recent peer-support contact"),
        "missed-appt": _c(PEERLINK_CODE_SYSTEM, "missed-appt", "Missed clinic appointment"),
        "nonadherence": _c(
            PEERLINK_CODE_SYSTEM, "med-nonadherence", "Medication not taken as prescribed"
        ),
        "med-cost": _c(PEERLINK_CODE_SYSTEM, "med-cost", "Medication cost barrier"),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GapSpec:
    code: GapCode
    kind: GapKind
    category: CommunicationCategory
    priority: Priority
    action: str
    coding: str


_CG, _RF, _EN = GapKind.CARE_GAP, GapKind.RED_FLAG, GapKind.ENGAGEMENT
_REM, _NOT, _ALR = (
    CommunicationCategory.REMINDER,
    CommunicationCategory.NOTIFICATION,
    CommunicationCategory.ALERT,
)
_R, _U, _A, _S = Priority.ROUTINE, Priority.URGENT, Priority.ASAP, Priority.STAT

_ROWS: tuple[tuple[GapCode, GapKind, CommunicationCategory, Priority, str, str], ...] = (
    # rules 5, one row per gap
    (GapCode.A1C_DUE, _CG, _REM, _R, "hba1c",
     "Order an HbA1c (lab or point of care); the peer supporter helps book the lab visit."),
    (GapCode.A1C_ABOVE_GOAL, _CG, _NOT, _R, "hba1c",
     "Clinician plan review; consider DSMES referral; peer supporter reinforces "
     "self-management."),
    (GapCode.A1C_POOR, _CG, _ALR, _U, "hba1c",
     "Prompt visit to intensify treatment; repeat HbA1c in 3 months."),
    (GapCode.EYE_DUE, _CG, _REM, _R, "eye",
     "Refer for a retinal exam or teleretinal screening; the peer supporter helps schedule "
     "it and retrieve the report."),
    (GapCode.FOOT_DUE, _CG, _REM, _R, "foot",
     "Comprehensive foot exam at the next visit; podiatry if high risk; peer supporter "
     "coaches daily foot checks."),
    (GapCode.KIDNEY_DUE, _CG, _REM, _R, "uacr",
     "Order eGFR and urine albumin-creatinine ratio together."),
    (GapCode.KIDNEY_CONFIRM, _CG, _NOT, _U, "uacr",
     "Repeat the abnormal kidney test within 3-6 months; clinician review of kidney "
     "protection."),
    (GapCode.BP_DUE, _CG, _REM, _R, "bp",
     "Measure blood pressure at the next contact; consider a home BP monitor."),
    (GapCode.BP_ABOVE_GOAL, _CG, _NOT, _R, "bp",
     "Confirm with repeat or home readings; clinician medication review."),
    (GapCode.DEPRESSION_SCREEN_DUE, _CG, _REM, _R, "phq9-panel",
     "PHQ-2 by the peer supporter or clinic; PHQ-9 if the PHQ-2 is 3 or more."),
    (GapCode.DEPRESSION_FOLLOWUP, _CG, _ALR, _U, "phq9-total",
     "Clinician assessment or behavioural-health referral within 2 days of the positive "
     "screen."),
    (GapCode.SUICIDE_RISK, _RF, _ALR, _A, "phq9-item9",
     "Same-day structured suicide risk assessment by a clinician; imminent danger: call "
     "911; crisis line 988."),
    (GapCode.DISTRESS_HIGH, _CG, _NOT, _U, "dds2",
     "Prioritised clinician or behavioural-health follow-up for high diabetes distress."),
    (GapCode.DISTRESS_MODERATE, _CG, _NOT, _R, "dds2",
     "Clinician or behavioural-health follow-up for moderate diabetes distress."),
    (GapCode.HYPO_EVENT, _RF, _ALR, _A, "hypo",
     "Notify the clinician today; confirm glucagon is prescribed; review the regimen; "
     "hypoglycaemia education."),
    # rules 4, red flags RF3-RF13 (RF1, RF2, RF14 fold into the rows above)
    (GapCode.REDFLAG_RF3, _RF, _ALR, _S, "dka",
     "Call 911 or go to the emergency department now (signs of DKA/HHS)."),
    (GapCode.REDFLAG_RF4, _RF, _ALR, _S, "glucose",
     "Emergency department now: glucose above 240 mg/dL with moderate or large ketones."),
    (GapCode.REDFLAG_RF5, _RF, _ALR, _S, "glucose",
     "Emergency department now: glucose above 500 mg/dL."),
    (GapCode.REDFLAG_RF6, _RF, _ALR, _A, "glucose",
     "Clinician call-back within 1 hour; confirm with a lab glucose."),
    (GapCode.REDFLAG_RF7, _RF, _ALR, _U, "glucose",
     "Call the clinician as soon as possible: glucose above 300 mg/dL on 2 consecutive days."),
    (GapCode.REDFLAG_RF8, _RF, _NOT, _U, "sick-day",
     "Call the clinician today: sick-day plan is not bringing glucose down."),
    (GapCode.REDFLAG_RF9, _RF, _ALR, _U, "chw-threshold",
     "Phone the nurse and ask whether the participant must be seen today."),
    (GapCode.REDFLAG_RF10, _RF, _ALR, _A, "foot-ulcer",
     "Off-load the foot and contact a trained clinician today."),
    (GapCode.REDFLAG_RF11, _RF, _ALR, _S, "chest-pain",
     "Call 911 immediately; do not drive."),
    (GapCode.REDFLAG_RF12, _RF, _ALR, _S, "bp",
     "Call 911: blood pressure 180/120 or more with symptoms (hypertensive emergency)."),
    (GapCode.REDFLAG_RF13, _RF, _ALR, _A, "bp",
     "Contact the clinician as soon as possible: blood pressure 180/120 or more on recheck."),
    # engagement gaps (PeerLink)
    (GapCode.DISENGAGED, _EN, _REM, _R, "disengaged",
     "Peer supporter reaches out and reviews barriers to contact."),
    (GapCode.MISSED_APPOINTMENT, _EN, _NOT, _R, "missed-appt",
     "Peer supporter helps reschedule and plans transport and reminders."),
    (GapCode.MEDICATION_NONADHERENCE, _EN, _NOT, _R, "nonadherence",
     "Explore reasons with the participant; clinician or pharmacist medication review."),
    (GapCode.MEDICATION_COST_BARRIER, _EN, _NOT, _R, "med-cost",
     "Link to medication assistance or lower-cost options; inform the clinician."),
)  # fmt: skip

SPECS: Final = MappingProxyType(
    {
        code: GapSpec(
            code=code, kind=kind, category=category, priority=priority, action=action,
            coding=coding,
        )
        for code, kind, category, priority, coding, action in _ROWS
    }
)  # fmt: skip

#: The episodic red-flag gaps (opened by triggers, closed when their episode window ends).
RED_FLAG_CODES: Final = frozenset(
    code for code, row in SPECS.items() if row.kind is GapKind.RED_FLAG
)

#: Which gap a reported red flag opens, and at what priority (rules 4).
RED_FLAG_GAP: Final = MappingProxyType(
    {
        RedFlagCode.HYPO_LEVEL_3: (GapCode.HYPO_EVENT, _S),  # RF1 alert/stat
        RedFlagCode.HYPO_LEVEL_2: (GapCode.HYPO_EVENT, _A),  # RF2 alert/asap
        RedFlagCode.DKA_SIGNS: (GapCode.REDFLAG_RF3, _S),
        RedFlagCode.HIGH_GLUCOSE_WITH_KETONES: (GapCode.REDFLAG_RF4, _S),
        RedFlagCode.GLUCOSE_ABOVE_500: (GapCode.REDFLAG_RF5, _S),
        RedFlagCode.GLUCOSE_ABOVE_400: (GapCode.REDFLAG_RF6, _A),
        RedFlagCode.GLUCOSE_ABOVE_300_TWO_DAYS: (GapCode.REDFLAG_RF7, _U),
        RedFlagCode.SICK_DAY: (GapCode.REDFLAG_RF8, _U),
        RedFlagCode.CHW_THRESHOLD: (GapCode.REDFLAG_RF9, _U),
        RedFlagCode.NEW_FOOT_WOUND: (GapCode.REDFLAG_RF10, _A),
        RedFlagCode.CHEST_PAIN: (GapCode.REDFLAG_RF11, _S),
        RedFlagCode.HYPERTENSIVE_EMERGENCY: (GapCode.REDFLAG_RF12, _S),
        RedFlagCode.HYPERTENSIVE_URGENCY: (GapCode.REDFLAG_RF13, _A),
        RedFlagCode.SUICIDAL_THOUGHTS: (GapCode.SUICIDE_RISK, _A),  # RF14 alert/asap
    }
)


_BY_VALUE: Final[dict[str, GapSpec]] = {code.value: s for code, s in SPECS.items()}


def spec(code: GapCode | str) -> GapSpec:
    """The catalogue row of a gap code (a GapCode or its string value)."""
    return _BY_VALUE[code]
