"""Event envelope and payloads: the single source of truth for what flows on PeerLink topics.

The envelope follows CloudEvents attribute names (``id``, ``type``, ``source``, ``time``,
``subject``, ``specversion``) plus ``schema_version``; ``subject`` is the pseudonymous
participant key and doubles as the Kafka record key. ``type`` selects the payload model
(a discriminated union), so one ``TypeAdapter`` parses any event in a single pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Self, get_args

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from schemas.base import (
    ClinicId,
    ContractModel,
    EventId,
    ParticipantKey,
    ProgrammeId,
    ShortCode,
    SupporterId,
    examples,
)
from schemas.caregaps import CareGapChange, PatientLink
from schemas.measurements import Glucose, Measurement
from schemas.vocabulary import (
    Barrier,
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    DiabetesType,
    DiscussionTopic,
    ExitReason,
    KeyFunction,
    ModeratorFlag,
    RedFlagCode,
    SupporterRole,
    SupportModel,
)

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "SCHEMA_VERSION",
    "AppointmentRecorded",
    "AppointmentRecordedEvent",
    "BridgedCallDetail",
    "CareGapsChangedEvent",
    "ClinicalResultReported",
    "ClinicalResultReportedEvent",
    "ClockTick",
    "ClockTickEvent",
    "ConsentChanged",
    "ConsentChangedEvent",
    "ContactDetail",
    "Event",
    "GroupSessionDetail",
    "HypoEvent",
    "MedicationAdherence",
    "OneToOneDetail",
    "OnlinePostDetail",
    "ParticipantEnrolled",
    "ParticipantEnrolledEvent",
    "ParticipantExited",
    "ParticipantExitedEvent",
    "PeerContactLogged",
    "PeerContactLoggedEvent",
    "RedFlagReport",
    "event_type",
    "parse_event",
]

SCHEMA_VERSION: Final = "1"
_T = "2026-03-02T09:30:00+00:00"


# --------------------------------------------------------------------------- payloads


class ParticipantEnrolled(ContractModel):
    model_config = examples(
        {
            "programme_id": "prog-chw-east",
            "support_model": "community_health_worker",
            "clinic_id": "clinic-north",
            "patient": {"literal_id": "pat-7f3a"},
            "diabetes_type": "type_2",
            "consent_share_with_clinic": True,
            "a1c_goal_percent": 7.0,
            "supporter_id": "sup-12",
        }
    )

    programme_id: ProgrammeId
    support_model: SupportModel
    clinic_id: ClinicId | None = None
    patient: PatientLink | None = None
    diabetes_type: DiabetesType
    consent_share_with_clinic: bool = False
    #: Individualised HbA1c goal; ADA default < 7 % (care_gap_rules.md 1.1).
    a1c_goal_percent: float | None = Field(default=None, ge=5.5, le=9.0)
    bp_goal_systolic: int | None = Field(default=None, ge=100, le=160)
    bp_goal_diastolic: int | None = Field(default=None, ge=60, le=100)
    #: IWGDF foot risk 0-3, shortens the foot-exam interval (care_gap_rules.md 1.4).
    iwgdf_foot_risk: int | None = Field(default=None, ge=0, le=3)
    established_ckd: bool = False
    on_insulin_or_sulfonylurea: bool | None = None
    supporter_id: SupporterId | None = None

    @model_validator(mode="after")
    def _consent_needs_clinic(self) -> Self:
        if self.consent_share_with_clinic and self.clinic_id is None:
            raise ValueError("consent_share_with_clinic requires clinic_id")
        return self


class ConsentChanged(ContractModel):
    model_config = examples({"clinic_id": "clinic-north", "share_with_clinic": False})

    clinic_id: ClinicId
    share_with_clinic: bool


class ParticipantExited(ContractModel):
    model_config = examples({"reason": "completed_programme"})

    reason: ExitReason


class GroupSessionDetail(ContractModel):
    """One participant's attendance at one group session (group models)."""

    model_config = examples(
        {
            "kind": "group_session",
            "session_id": "grp-7-s3",
            "session_number": 3,
            "sessions_planned": 6,
            "attended": True,
            "facilitator": "peer",
        }
    )

    kind: Literal["group_session"] = "group_session"
    session_id: ShortCode
    session_number: int = Field(ge=1, le=104)
    sessions_planned: int | None = Field(default=None, ge=1, le=104)
    attended: bool
    facilitator: Literal["professional", "peer"]


class BridgedCallDetail(ContractModel):
    """A reciprocal partner call bridged by a platform: metadata only, no content, no numbers."""

    model_config = examples(
        {
            "kind": "bridged_call",
            "pair_id": "pair-31",
            "started_at": "2026-03-02T18:00:00+00:00",
            "ended_at": "2026-03-02T18:14:00+00:00",
            "reminder_prompted": True,
        }
    )

    kind: Literal["bridged_call"] = "bridged_call"
    pair_id: ShortCode
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    reminder_prompted: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("bridged call ended_at is before started_at")
        return self


class OnlinePostDetail(ContractModel):
    """Activity in a moderated online community; the post text itself never enters Kafka."""

    model_config = examples(
        {
            "kind": "online_post",
            "thread_id": "thr-991",
            "post_kind": "post",
            "moderator_flag": "acute_concern",
            "escalated": True,
        }
    )

    kind: Literal["online_post"] = "online_post"
    thread_id: ShortCode
    post_kind: Literal["post", "reply", "moderator_check_in"]
    moderator_flag: ModeratorFlag | None = None
    escalated: bool = False


class OneToOneDetail(ContractModel):
    """A one-to-one contact by a coach or CHW."""

    model_config = examples(
        {"kind": "one_to_one", "action_plan_set": True, "accompanied_to_clinic": False}
    )

    kind: Literal["one_to_one"] = "one_to_one"
    action_plan_set: bool = False
    accompanied_to_clinic: bool = False
    nurse_consulted: bool = False


ContactDetail = Annotated[
    GroupSessionDetail | BridgedCallDetail | OnlinePostDetail | OneToOneDetail,
    Field(discriminator="kind"),
]

#: Which contact details each peer-support model may log.
_DETAILS_BY_MODEL: dict[SupportModel, frozenset[str]] = {
    SupportModel.PROFESSIONAL_LED_GROUP: frozenset({"group_session", "one_to_one"}),
    SupportModel.PEER_LED_GROUP: frozenset({"group_session", "one_to_one"}),
    SupportModel.PEER_COACH: frozenset({"one_to_one"}),
    SupportModel.COMMUNITY_HEALTH_WORKER: frozenset({"one_to_one", "group_session"}),
    SupportModel.TELEPHONE_PEER_PARTNER: frozenset({"bridged_call", "group_session"}),
    SupportModel.ONLINE_COMMUNITY: frozenset({"online_post"}),
}


class RedFlagReport(ContractModel):
    model_config = examples({"code": "RF11", "observed_at": _T})

    code: RedFlagCode
    observed_at: AwareDatetime | None = None


class HypoEvent(ContractModel):
    """A hypoglycaemia episode (ADA levels 1-3; level 3 needs another person's help)."""

    model_config = examples(
        {
            "level": 2,
            "needed_assistance": False,
            "occurred_at": _T,
            "glucose": {
                "kind": "glucose",
                "value": 50,
                "unit": "mg/dL",
                "effective_at": _T,
                "source": "self_report",
            },
        }
    )

    level: Literal[1, 2, 3]
    needed_assistance: bool = False
    occurred_at: AwareDatetime
    glucose: Glucose | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.needed_assistance and self.level != 3:
            raise ValueError("a hypoglycaemia that needed assistance is level 3 (ADA)")
        return self


class MedicationAdherence(ContractModel):
    model_config = examples(
        {"taking_as_prescribed": False, "missed_doses_last_7_days": 4, "reason": "cost"}
    )

    taking_as_prescribed: bool
    missed_doses_last_7_days: int | None = Field(default=None, ge=0, le=21)
    reason: Literal["forgot", "cost", "side_effects", "ran_out", "other"] | None = None


class PeerContactLogged(ContractModel):
    """A contact between a peer supporter and a participant, for any of the six models."""

    model_config = examples(
        {
            "programme_id": "prog-chw-east",
            "support_model": "community_health_worker",
            "supporter_id": "sup-12",
            "supporter_role": "chw",
            "channel": "home_visit",
            "direction": "proactive_by_supporter",
            "outcome": "completed",
            "duration_min": 45,
            "key_functions": ["daily_management", "linkage_clinical_care"],
            "topics": ["medication_taking", "blood_pressure"],
            "detail": {"kind": "one_to_one", "accompanied_to_clinic": False},
            "observations": [
                {
                    "kind": "blood_pressure",
                    "systolic": 146,
                    "diastolic": 92,
                    "unit": "mmHg",
                    "reading_number": 3,
                    "device": "automated",
                    "effective_at": _T,
                    "source": "peer_measured",
                }
            ],
            "red_flags": [],
            "adherence": {"taking_as_prescribed": False, "reason": "cost"},
            "barriers": ["medication_cost"],
        },
        {
            "programme_id": "prog-tpp-1",
            "support_model": "telephone_peer_partner",
            "channel": "phone_platform_bridged",
            "direction": "system_reminder_prompted",
            "outcome": "completed",
            "duration_min": 14,
            "detail": {
                "kind": "bridged_call",
                "pair_id": "pair-31",
                "started_at": "2026-03-02T18:00:00+00:00",
                "ended_at": "2026-03-02T18:14:00+00:00",
                "reminder_prompted": True,
            },
        },
    )

    programme_id: ProgrammeId
    support_model: SupportModel
    supporter_id: SupporterId | None = None
    supporter_role: SupporterRole | None = None
    channel: ContactChannel
    direction: ContactDirection
    outcome: ContactOutcome
    duration_min: int | None = Field(default=None, ge=0, le=600)
    key_functions: tuple[KeyFunction, ...] = Field(default=(), max_length=len(KeyFunction))
    topics: tuple[DiscussionTopic, ...] = Field(default=(), max_length=len(DiscussionTopic))
    detail: ContactDetail | None = None
    observations: tuple[Measurement, ...] = Field(default=(), max_length=20)
    red_flags: tuple[RedFlagReport, ...] = Field(default=(), max_length=14)
    hypo_event: HypoEvent | None = None
    adherence: MedicationAdherence | None = None
    barriers: tuple[Barrier, ...] = Field(default=(), max_length=len(Barrier))

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        detail = self.detail
        if detail is not None:
            allowed = _DETAILS_BY_MODEL[self.support_model]
            if detail.kind not in allowed:
                raise ValueError(
                    f"a {detail.kind} detail cannot be logged by the "
                    f"{self.support_model.value} model (allowed: {sorted(allowed)})"
                )
        for name in ("key_functions", "topics", "barriers"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} contains duplicates")
        return self

    @property
    def completed(self) -> bool:
        return self.outcome is ContactOutcome.COMPLETED


class ClinicalResultReported(ContractModel):
    """A clinical result, from a clinic (FHIR inbound) or measured/reported by a peer.

    ``result_id`` is the business key of the result: a later event with the same id and status
    amended, corrected or entered_in_error supersedes the earlier one.
    """

    model_config = examples(
        {
            "result_id": "obs-4548-2026-03-02-a",
            "clinic_id": "clinic-north",
            "measurement": {
                "kind": "hba1c",
                "value": 62,
                "unit": "mmol/mol",
                "effective_at": _T,
                "source": "clinic_lab",
            },
        }
    )

    result_id: ShortCode
    clinic_id: ClinicId | None = None
    programme_id: ProgrammeId | None = None
    support_model: SupportModel | None = None
    measurement: Measurement


class AppointmentRecorded(ContractModel):
    model_config = examples(
        {
            "appointment_id": "appt-88",
            "clinic_id": "clinic-north",
            "status": "missed",
            "scheduled_for": "2026-03-10T14:00:00+00:00",
            "purpose": "diabetes_review",
        }
    )

    appointment_id: ShortCode
    clinic_id: ClinicId | None = None
    status: Literal["kept", "missed", "cancelled"]
    scheduled_for: AwareDatetime
    purpose: Literal["diabetes_review", "eye", "foot", "lab", "behavioural_health", "other"] = (
        "diabetes_review"
    )


class ClockTick(ContractModel):
    """A tick of the pipeline clock, written to one partition of ``caregaps.clock.v1``."""

    model_config = examples({"partition": 0, "events_end_offset": 1200})

    partition: int = Field(ge=0, le=10_000)
    #: End offset (read committed) of the same partition of ``peer.events.v1`` when the tick
    #: was cut. The engine applies the tick after every event below this offset and before
    #: any event at or above it, so the merge of events and ticks is a function of the log
    #: alone and a replay reproduces it. None: applied when it arrives.
    events_end_offset: int | None = Field(default=None, ge=0)


# --------------------------------------------------------------------------- envelopes


class _Envelope(ContractModel):
    specversion: Literal["1.0"] = "1.0"
    schema_version: Literal["1"] = SCHEMA_VERSION
    id: EventId
    source: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[a-z][a-z0-9+.\-]*:[^\s]*$",
        description="URI of the system that produced the event, e.g. peerlink://intake.",
    )
    time: AwareDatetime = Field(description="When it happened; a time zone is required.")
    datacontenttype: Literal["application/json"] = "application/json"


class _ParticipantEnvelope(_Envelope):
    subject: ParticipantKey = Field(description="Pseudonymous participant key (the record key).")


def _envelope_examples(type_: str, payload: type[ContractModel], *, keyed: bool = True) -> Any:
    """Envelope examples, one per example of the payload model."""
    extra = payload.model_config.get("json_schema_extra")
    items = extra.get("examples", []) if isinstance(extra, dict) else []
    envelopes: list[dict[str, Any]] = []
    for index, data in enumerate(items if isinstance(items, list) else []):
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "schema_version": SCHEMA_VERSION,
            "id": f"evt-{type_.rsplit('.', 1)[-1]}-{index + 1:04d}",
            "type": type_,
            "source": "peerlink://programme/prog-chw-east",
            "time": _T,
            "data": data,
        }
        if keyed:
            envelope["subject"] = "p-000123"
        envelopes.append(envelope)
    return examples(*envelopes)


class ParticipantEnrolledEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.participant.enrolled", ParticipantEnrolled)
    type: Literal["peerlink.participant.enrolled"]
    data: ParticipantEnrolled


class ConsentChangedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.participant.consent_changed", ConsentChanged)
    type: Literal["peerlink.participant.consent_changed"]
    data: ConsentChanged


class ParticipantExitedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.participant.exited", ParticipantExited)
    type: Literal["peerlink.participant.exited"]
    data: ParticipantExited


class PeerContactLoggedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.contact.logged", PeerContactLogged)
    type: Literal["peerlink.contact.logged"]
    data: PeerContactLogged


class ClinicalResultReportedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.clinical.result_reported", ClinicalResultReported)
    type: Literal["peerlink.clinical.result_reported"]
    data: ClinicalResultReported


class AppointmentRecordedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.appointment.recorded", AppointmentRecorded)
    type: Literal["peerlink.appointment.recorded"]
    data: AppointmentRecorded


class ClockTickEvent(_Envelope):
    model_config = _envelope_examples("peerlink.clock.tick", ClockTick, keyed=False)
    type: Literal["peerlink.clock.tick"]
    subject: None = None
    data: ClockTick


class CareGapsChangedEvent(_ParticipantEnvelope):
    model_config = _envelope_examples("peerlink.caregaps.changed", CareGapChange)
    type: Literal["peerlink.caregaps.changed"]
    data: CareGapChange


EVENT_MODELS: tuple[type[_Envelope], ...] = (
    ParticipantEnrolledEvent,
    ConsentChangedEvent,
    ParticipantExitedEvent,
    PeerContactLoggedEvent,
    ClinicalResultReportedEvent,
    AppointmentRecordedEvent,
    ClockTickEvent,
    CareGapsChangedEvent,
)

Event = Annotated[
    ParticipantEnrolledEvent
    | ConsentChangedEvent
    | ParticipantExitedEvent
    | PeerContactLoggedEvent
    | ClinicalResultReportedEvent
    | AppointmentRecordedEvent
    | ClockTickEvent
    | CareGapsChangedEvent,
    Field(discriminator="type"),
]


def event_type(model: type[_Envelope]) -> str:
    """The ``type`` an event model carries (its ``Literal``)."""
    (value,) = get_args(model.model_fields["type"].annotation)
    return str(value)


#: Built once: constructing a TypeAdapter per message is the slow path (pydantic docs).
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON event; raises ``pydantic.ValidationError`` with field-level errors."""
    return EVENT_ADAPTER.validate_json(raw)
