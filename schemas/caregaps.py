"""The care-gap change record the engine emits and the FHIR publisher consumes.

A change carries everything downstream needs to stay stateless: the participant's programme,
peer-support model, clinic, patient reference and consent state at that point of the log,
the full snapshot of open and recently closed gaps, and the delta that caused the record.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from schemas.base import ClinicId, ContractModel, EventId, ProgrammeId, ShortCode, examples
from schemas.vocabulary import (
    CommunicationCategory,
    DiabetesType,
    GapCode,
    GapKind,
    Priority,
    SupportModel,
)

__all__ = [
    "CareGap",
    "CareGapChange",
    "ClinicalCoding",
    "ConsentState",
    "GapAction",
    "GapStatus",
    "GapTransition",
    "ParticipationStatus",
    "PatientLink",
]


class GapStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class GapAction(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ParticipationStatus(StrEnum):
    ACTIVE = "active"
    EXITED = "exited"


class PatientLink(ContractModel):
    """How the clinic knows the participant: a literal Patient id, or a business identifier.

    These values go into FHIR payloads for the clinic only, never into logs, metrics or headers.
    """

    model_config = examples(
        {"literal_id": "pat-7f3a"},
        {"identifier_system": "urn:oid:2.16.840.1.113883.19.5", "identifier_value": "A12345"},
    )

    literal_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")
    identifier_system: str | None = Field(default=None, max_length=256)
    identifier_value: str | None = Field(default=None, max_length=64)


class ConsentState(ContractModel):
    model_config = examples(
        {"share_with_clinic": True, "clinic_id": "clinic-north", "since": "2026-01-05T10:00:00Z"}
    )

    share_with_clinic: bool
    clinic_id: ClinicId | None = None
    #: Log time at which sharing was last granted or withdrawn; None if it has never been
    #: granted (a participant who declined at enrolment is not one who withdrew).
    since: AwareDatetime | None = None


class ClinicalCoding(ContractModel):
    model_config = examples(
        {"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}
    )

    system: str = Field(max_length=256)
    code: str = Field(max_length=64)
    display: str = Field(max_length=256)


_GAP_EXAMPLE = {
    "gap_id": "2b0c6f0e-5d7e-5b8e-9d1b-0f8f6d1c2a11",
    "code": "DM-A1C-DUE",
    "kind": "care_gap",
    "status": "open",
    "priority": "routine",
    "category": "reminder",
    "episode": 1,
    "opened_at": "2026-09-03T00:00:00Z",
    "reason": "no-hba1c-within-183-days",
    "recommended_action": "Order HbA1c; peer supporter helps book the lab visit.",
    "coding": {"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"},
    "evidence_event_ids": ["evt-0001"],
}


class CareGap(ContractModel):
    model_config = examples(_GAP_EXAMPLE)

    #: Deterministic (UUIDv5 of participant, code and episode): a replay yields the same id.
    gap_id: str = Field(max_length=64)
    code: GapCode
    kind: GapKind
    status: GapStatus
    priority: Priority
    category: CommunicationCategory
    #: Increments each time the same gap code re-opens for this participant.
    episode: int = Field(ge=1)
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    #: Coded reason (never free text), e.g. ``no-hba1c-within-183-days``.
    reason: ShortCode
    close_reason: ShortCode | None = None
    recommended_action: str = Field(max_length=240)
    coding: ClinicalCoding
    evidence_event_ids: tuple[EventId, ...] = Field(default=(), max_length=16)


class GapTransition(ContractModel):
    model_config = examples(
        {
            "action": "opened",
            "gap_id": "2b0c6f0e-5d7e-5b8e-9d1b-0f8f6d1c2a11",
            "code": "DM-A1C-DUE",
            "reason": "no-hba1c-within-183-days",
            "priority": "routine",
        }
    )

    action: GapAction
    gap_id: str = Field(max_length=64)
    code: GapCode
    reason: ShortCode
    priority: Priority
    previous_priority: Priority | None = None


class CareGapChange(ContractModel):
    model_config = examples(
        {
            "change_id": "5f1e7a3c-1d2b-5c4d-8e9f-0a1b2c3d4e5f",
            "sequence": 3,
            "cause_event_id": "tick-2026-09-03-p0",
            "as_of": "2026-09-03T00:00:00Z",
            "programme_id": "prog-chw-east",
            "support_model": "community_health_worker",
            "clinic_id": "clinic-north",
            "patient": {"literal_id": "pat-7f3a"},
            "diabetes_type": "type_2",
            "consent": {
                "share_with_clinic": True,
                "clinic_id": "clinic-north",
                "since": "2026-01-05T10:00:00Z",
            },
            "participation": "active",
            "open_gaps": [_GAP_EXAMPLE],
            "recently_closed": [],
            "delta": [
                {
                    "action": "opened",
                    "gap_id": "2b0c6f0e-5d7e-5b8e-9d1b-0f8f6d1c2a11",
                    "code": "DM-A1C-DUE",
                    "reason": "no-hba1c-within-183-days",
                    "priority": "routine",
                }
            ],
        }
    )

    #: Deterministic id of this change (participant + sequence), stable across replays.
    change_id: str = Field(max_length=64)
    #: Per-participant change counter, strictly increasing.
    sequence: int = Field(ge=1)
    cause_event_id: EventId
    #: Log time of the cause (event time or tick time).
    as_of: AwareDatetime
    programme_id: ProgrammeId
    support_model: SupportModel
    clinic_id: ClinicId | None = None
    patient: PatientLink | None = None
    diabetes_type: DiabetesType = DiabetesType.UNKNOWN
    consent: ConsentState
    participation: ParticipationStatus = ParticipationStatus.ACTIVE
    open_gaps: tuple[CareGap, ...] = ()
    recently_closed: tuple[CareGap, ...] = ()
    delta: tuple[GapTransition, ...] = ()
