"""Example care-gap changes: builders for tests, benchmarks and the golden scenarios.

The canonical kind, Communication category, priorities and clinical coding of every gap code
follow reference/care_gap_rules.md sections 3-5 (the engine decides them at run time; these
are realistic inputs, not rules). Codes the rules mark as unverified are kept as the rules
propose them; local concepts use PeerLink's own code system.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from schemas.caregaps import (
    CareGap,
    CareGapChange,
    ClinicalCoding,
    ConsentState,
    GapAction,
    GapStatus,
    GapTransition,
    ParticipationStatus,
    PatientLink,
)
from schemas.events import CareGapsChangedEvent
from schemas.vocabulary import (
    CommunicationCategory,
    DiabetesType,
    GapCode,
    GapKind,
    Priority,
    SupportModel,
)
from services.fhir_publisher.naming import DEFAULT_BASE

__all__ = [
    "CANONICAL",
    "CLINIC",
    "PROGRAMME",
    "T0",
    "CanonicalGap",
    "change_event",
    "make_change",
    "make_gap",
    "opened",
]

T0: Final = datetime(2026, 9, 3, 9, 30, tzinfo=UTC)
CLINIC: Final = "clinic-north"
PROGRAMME: Final = "prog-chw-east"
_GAP_NS: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://peerlink.example/examples/gap")

_LOINC = "http://loinc.org"
_SCT = "http://snomed.info/sct"
_LOCAL = f"{DEFAULT_BASE}/CodeSystem/peer-observation"


@dataclass(frozen=True, slots=True, kw_only=True)
class CanonicalGap:
    kind: GapKind
    category: CommunicationCategory
    priorities: tuple[Priority, ...]
    coding: ClinicalCoding
    reason: str


def _c(system: str, code: str, display: str) -> ClinicalCoding:
    return ClinicalCoding(system=system, code=code, display=display)


_A1C = _c(_LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
_GLUCOSE = _c(_LOINC, "2339-0", "Glucose [Mass/volume] in Blood")
_BP = _c(_LOINC, "85354-9", "Blood pressure panel with all children optional")
_UACR = _c(_LOINC, "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine")
_PHQ9_ITEM9 = _c(
    _LOINC, "44260-8", "Thoughts that you would be better off dead, or of hurting yourself"
)
_HYPO = _c(_SCT, "237633009", "Hypoglycemia due to diabetes mellitus")
_R, _U, _A, _S = Priority.ROUTINE, Priority.URGENT, Priority.ASAP, Priority.STAT
_CARE, _FLAG, _ENG = GapKind.CARE_GAP, GapKind.RED_FLAG, GapKind.ENGAGEMENT
_REM = CommunicationCategory.REMINDER
_NOTE = CommunicationCategory.NOTIFICATION
_ALERT = CommunicationCategory.ALERT


def _g(
    kind: GapKind,
    category: CommunicationCategory,
    priorities: tuple[Priority, ...],
    coding: ClinicalCoding,
    reason: str,
) -> CanonicalGap:
    return CanonicalGap(
        kind=kind, category=category, priorities=priorities, coding=coding, reason=reason
    )


#: Every gap code with the priorities it can have (one golden scenario per pair).
CANONICAL: Final[dict[GapCode, CanonicalGap]] = {
    GapCode.A1C_DUE: _g(_CARE, _REM, (_R,), _A1C, "no-hba1c-within-183-days"),
    GapCode.A1C_ABOVE_GOAL: _g(_CARE, _NOTE, (_R,), _A1C, "hba1c-at-or-above-goal"),
    GapCode.A1C_POOR: _g(_CARE, _ALERT, (_U,), _A1C, "hba1c-above-9-percent"),
    GapCode.EYE_DUE: _g(
        _CARE,
        _REM,
        (_R,),
        _c(_SCT, "722161008", "Diabetic retinal eye exam"),
        "no-eye-exam-within-12-months",
    ),
    GapCode.FOOT_DUE: _g(
        _CARE,
        _REM,
        (_R,),
        _c(_SCT, "401191002", "Diabetic foot examination"),
        "no-foot-exam-within-12-months",
    ),
    GapCode.KIDNEY_DUE: _g(_CARE, _REM, (_R,), _UACR, "no-uacr-egfr-within-12-months"),
    GapCode.KIDNEY_CONFIRM: _g(_CARE, _NOTE, (_U,), _UACR, "uacr-30-or-more-not-repeated"),
    GapCode.BP_DUE: _g(_CARE, _REM, (_R,), _BP, "no-bp-within-12-months"),
    GapCode.BP_ABOVE_GOAL: _g(_CARE, _NOTE, (_R, _U), _BP, "bp-at-or-above-130-80"),
    GapCode.DEPRESSION_SCREEN_DUE: _g(
        _CARE,
        _REM,
        (_R,),
        _c(_LOINC, "55757-9", "Patient Health Questionnaire 2 item (PHQ-2) [Reported]"),
        "no-depression-screen-within-12-months",
    ),
    GapCode.DEPRESSION_FOLLOWUP: _g(
        _CARE,
        _ALERT,
        (_U,),
        _c(_LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
        "phq9-10-or-more-without-follow-up",
    ),
    GapCode.SUICIDE_RISK: _g(_FLAG, _ALERT, (_A, _S), _PHQ9_ITEM9, "phq9-item9-positive"),
    GapCode.DISTRESS_HIGH: _g(
        _CARE,
        _NOTE,
        (_U,),
        _c(_LOCAL, "diabetes-distress", "Diabetes distress screen"),
        "distress-score-3-or-more",
    ),
    GapCode.DISTRESS_MODERATE: _g(
        _CARE,
        _REM,
        (_R,),
        _c(_LOCAL, "diabetes-distress", "Diabetes distress screen"),
        "distress-score-2-to-2.9",
    ),
    GapCode.HYPO_EVENT: _g(_FLAG, _ALERT, (_A, _S), _HYPO, "hypo-level-2-reported"),
    GapCode.REDFLAG_RF1: _g(_FLAG, _ALERT, (_S,), _HYPO, "rf1-hypo-level-3"),
    GapCode.REDFLAG_RF2: _g(_FLAG, _ALERT, (_A, _S), _GLUCOSE, "rf2-glucose-below-54"),
    GapCode.REDFLAG_RF3: _g(
        _FLAG,
        _ALERT,
        (_S,),
        _c(_SCT, "420422005", "Diabetic ketoacidosis"),
        "rf3-dka-signs",
    ),
    GapCode.REDFLAG_RF4: _g(
        _FLAG,
        _ALERT,
        (_S,),
        _c(_LOINC, "2514-8", "Ketones [Presence] in Urine by Test strip"),
        "rf4-glucose-240-with-ketones",
    ),
    GapCode.REDFLAG_RF5: _g(_FLAG, _ALERT, (_S,), _GLUCOSE, "rf5-glucose-above-500"),
    GapCode.REDFLAG_RF6: _g(_FLAG, _ALERT, (_A,), _GLUCOSE, "rf6-glucose-above-400"),
    GapCode.REDFLAG_RF7: _g(_FLAG, _ALERT, (_U, _A), _GLUCOSE, "rf7-glucose-above-300-2-days"),
    GapCode.REDFLAG_RF8: _g(_FLAG, _NOTE, (_U,), _GLUCOSE, "rf8-sick-day"),
    GapCode.REDFLAG_RF9: _g(_FLAG, _ALERT, (_U,), _GLUCOSE, "rf9-programme-threshold"),
    GapCode.REDFLAG_RF10: _g(
        _FLAG,
        _ALERT,
        (_A, _S),
        _c(_SCT, "371087003", "Ulcer of foot due to diabetes mellitus"),
        "rf10-new-foot-wound",
    ),
    GapCode.REDFLAG_RF11: _g(
        _FLAG, _ALERT, (_S,), _c(_SCT, "29857009", "Chest pain"), "rf11-chest-pain"
    ),
    GapCode.REDFLAG_RF12: _g(_FLAG, _ALERT, (_S,), _BP, "rf12-bp-180-120-with-symptoms"),
    GapCode.REDFLAG_RF13: _g(_FLAG, _ALERT, (_A,), _BP, "rf13-bp-180-120-without-symptoms"),
    GapCode.REDFLAG_RF14: _g(_FLAG, _ALERT, (_A, _S), _PHQ9_ITEM9, "rf14-phq9-item9-positive"),
    GapCode.DISENGAGED: _g(
        _ENG,
        _NOTE,
        (_R,),
        _c(_LOCAL, "peer-contact", "Peer-support contact"),
        "no-completed-contact-within-60-days",
    ),
    GapCode.MISSED_APPOINTMENT: _g(
        _ENG,
        _REM,
        (_R,),
        _c(_LOCAL, "clinic-appointment", "Clinic appointment"),
        "appointment-missed",
    ),
    GapCode.MEDICATION_NONADHERENCE: _g(
        _ENG,
        _NOTE,
        (_R,),
        _c(_LOCAL, "medication-adherence", "Medication adherence"),
        "not-taking-as-prescribed",
    ),
    GapCode.MEDICATION_COST_BARRIER: _g(
        _ENG,
        _NOTE,
        (_R,),
        _c(_LOCAL, "medication-cost", "Medication cost barrier"),
        "medication-cost-barrier",
    ),
}


def make_gap(
    code: GapCode,
    *,
    participant: str = "p-000123",
    priority: Priority | None = None,
    status: GapStatus = GapStatus.OPEN,
    episode: int = 1,
    opened_at: datetime = T0,
    closed_at: datetime | None = None,
    close_reason: str | None = None,
) -> CareGap:
    """A gap of ``code`` with its canonical kind, category, coding and reason."""
    canon = CANONICAL[code]
    if status is not GapStatus.OPEN and closed_at is None:
        closed_at = opened_at + timedelta(days=30)
    return CareGap(
        gap_id=str(uuid.uuid5(_GAP_NS, f"{participant}|{code.value}|{episode}")),
        code=code,
        kind=canon.kind,
        status=status,
        priority=priority or canon.priorities[0],
        category=canon.category,
        episode=episode,
        opened_at=opened_at,
        closed_at=closed_at,
        reason=canon.reason,
        close_reason=close_reason,
        recommended_action="Engine wording that the publisher never copies.",
        coding=canon.coding,
        evidence_event_ids=("evt-0001",),
    )


def opened(gap: CareGap) -> GapTransition:
    return GapTransition(
        action=GapAction.OPENED,
        gap_id=gap.gap_id,
        code=gap.code,
        reason=gap.reason,
        priority=gap.priority,
    )


def make_change(
    *,
    participant: str = "p-000123",
    sequence: int = 1,
    as_of: datetime = T0,
    open_gaps: Sequence[CareGap] = (),
    recently_closed: Sequence[CareGap] = (),
    delta: Sequence[GapTransition] = (),
    consent: bool = True,
    consent_clinic: str | None = CLINIC,
    consent_since: datetime | None = T0 - timedelta(days=200),
    clinic_id: str | None = CLINIC,
    patient: PatientLink | None = None,
    participation: ParticipationStatus = ParticipationStatus.ACTIVE,
    support_model: SupportModel = SupportModel.COMMUNITY_HEALTH_WORKER,
    diabetes_type: DiabetesType = DiabetesType.TYPE_2,
    programme_id: str = PROGRAMME,
) -> CareGapChange:
    """A change record as the engine would emit it (deterministic change id)."""
    return CareGapChange(
        change_id=str(uuid.uuid5(_GAP_NS, f"change|{participant}|{sequence}")),
        sequence=sequence,
        cause_event_id=f"evt-{participant}-{sequence}",
        as_of=as_of,
        programme_id=programme_id,
        support_model=support_model,
        clinic_id=clinic_id,
        patient=patient if patient is not None else PatientLink(literal_id="pat-7f3a"),
        diabetes_type=diabetes_type,
        consent=ConsentState(
            share_with_clinic=consent, clinic_id=consent_clinic, since=consent_since
        ),
        participation=participation,
        open_gaps=tuple(open_gaps),
        recently_closed=tuple(recently_closed),
        delta=tuple(delta),
    )


def change_event(change: CareGapChange, participant: str = "p-000123") -> CareGapsChangedEvent:
    """The envelope the engine writes to ``caregaps.changes.v1``."""
    return CareGapsChangedEvent(
        id=f"chg-{change.change_id}",
        type="peerlink.caregaps.changed",
        source="peerlink://caregaps",
        time=change.as_of,
        subject=participant,
        data=change,
    )
