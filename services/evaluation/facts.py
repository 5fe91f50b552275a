"""Events reduced to the facts the evaluation metrics need, and nothing more.

Each event becomes zero or more rows of fixed, coded columns: pseudonymous participant key,
programme, model, times, coded outcomes and numeric values. Free-text-like fields (recommended
actions, patient links, clinic ids) are never copied, so the store holds no more than the
metrics use. Times are POSIX seconds (UTC).
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from schemas.caregaps import CareGap, GapAction
from schemas.events import (
    AppointmentRecordedEvent,
    BridgedCallDetail,
    CareGapsChangedEvent,
    ClinicalResultReportedEvent,
    ConsentChangedEvent,
    Event,
    GroupSessionDetail,
    ParticipantEnrolledEvent,
    ParticipantExitedEvent,
    PeerContactLoggedEvent,
)
from schemas.measurements import BloodPressure, Dds2, Hba1c, Measurement, Phq9
from schemas.vocabulary import ContactOutcome, GapCode, GapKind

__all__ = [
    "TERMINAL_ACTIONS",
    "AppointmentRow",
    "ConsentRow",
    "ContactRow",
    "EnrolmentRow",
    "ExitRow",
    "Facts",
    "GapRow",
    "MeasurementRow",
    "facts_of",
    "gap_kind_of",
]


class EnrolmentRow(NamedTuple):
    event_id: str
    participant: str
    programme: str
    model: str
    at: float
    consent: bool


class ConsentRow(NamedTuple):
    event_id: str
    participant: str
    at: float
    share: bool


class ExitRow(NamedTuple):
    event_id: str
    participant: str
    at: float
    reason: str


class ContactRow(NamedTuple):
    event_id: str
    participant: str
    programme: str
    model: str
    at: float
    direction: str
    outcome: str
    #: Completed and, for a group session, attended.
    completed: bool
    minutes: float | None
    #: Comma-separated KeyFunction values ("" when none were tagged).
    key_functions: str
    group_session: str | None
    session_number: int | None
    sessions_planned: int | None
    attended: bool | None


class MeasurementRow(NamedTuple):
    event_id: str
    idx: int
    participant: str
    #: Business key: ``r:<participant>:<result_id>`` for reported results (a later event
    #: supersedes an earlier one), ``c:<event id>:<index>`` for contact observations.
    result_key: str
    kind: str
    effective_at: float
    reported_at: float
    source: str
    status: str
    #: HbA1c %, systolic mmHg, DDS-2 mean item score or PHQ-9 total; None for other kinds.
    value1: float | None
    #: Diastolic mmHg for blood pressure.
    value2: float | None


class AppointmentRow(NamedTuple):
    event_id: str
    participant: str
    appointment_id: str
    scheduled_at: float
    reported_at: float
    status: str
    purpose: str


class GapRow(NamedTuple):
    """One opened/closed/cancelled transition of one gap, from one care-gap change."""

    change_id: str
    gap_id: str
    action: str
    event_id: str
    participant: str
    programme: str
    model: str
    code: str
    kind: str
    priority: str
    #: Per-participant change sequence: orders transitions of the same gap.
    sequence: int
    #: When the transition happened (gap opened_at / closed_at, else the change's as_of).
    at: float
    #: When the gap opened, as carried by the gap snapshot (None when not in the snapshot).
    opened_at: float | None


class Facts(NamedTuple):
    enrolments: list[EnrolmentRow]
    consents: list[ConsentRow]
    exits: list[ExitRow]
    contacts: list[ContactRow]
    measurements: list[MeasurementRow]
    appointments: list[AppointmentRow]
    gaps: list[GapRow]

    @classmethod
    def empty(cls) -> Facts:
        return cls([], [], [], [], [], [], [])

    def tables(self) -> tuple[list[tuple[Any, ...]], ...]:
        """The row lists in table order (the store's insert order)."""
        return cast("tuple[list[tuple[Any, ...]], ...]", tuple(self))

    def extend(self, other: Facts) -> None:
        for mine, theirs in zip(self.tables(), other.tables(), strict=True):
            mine.extend(theirs)


#: Transitions that end a gap episode.
TERMINAL_ACTIONS = frozenset({GapAction.CLOSED.value, GapAction.CANCELLED.value})
_KEPT_ACTIONS = frozenset({GapAction.OPENED, GapAction.CLOSED, GapAction.CANCELLED})

_RED_FLAG_CODES = frozenset(
    {GapCode.SUICIDE_RISK, GapCode.HYPO_EVENT}
    | {code for code in GapCode if code.value.startswith("DM-REDFLAG-")}
)
_ENGAGEMENT_CODES = frozenset(code for code in GapCode if code.value.startswith("PL-ENG-"))


def gap_kind_of(code: GapCode) -> GapKind:
    """The kind of a gap code, for transitions whose gap is absent from the snapshot."""
    if code in _RED_FLAG_CODES:
        return GapKind.RED_FLAG
    if code in _ENGAGEMENT_CODES:
        return GapKind.ENGAGEMENT
    return GapKind.CARE_GAP


def _values(measurement: Measurement) -> tuple[float | None, float | None]:
    if isinstance(measurement, Hba1c):
        return measurement.percent, None
    if isinstance(measurement, BloodPressure):
        return float(measurement.systolic), float(measurement.diastolic)
    if isinstance(measurement, Dds2):
        return (measurement.item1 + measurement.item2) / 2, None
    if isinstance(measurement, Phq9):
        # An item-9-only answer has no total and no outcome value.
        return (None if measurement.total is None else float(measurement.total)), None
    return None, None


def _measurement_row(
    event_id: str, idx: int, participant: str, *, key: str, reported_at: float, m: Measurement
) -> MeasurementRow:
    value1, value2 = _values(m)
    return MeasurementRow(
        event_id=event_id,
        idx=idx,
        participant=participant,
        result_key=key,
        kind=m.kind,
        effective_at=m.effective_at.timestamp(),
        reported_at=reported_at,
        source=m.source.value,
        status=m.status.value,
        value1=value1,
        value2=value2,
    )


def _contact_facts(event: PeerContactLoggedEvent, facts: Facts) -> None:
    data = event.data
    at = event.time.timestamp()
    detail = data.detail
    minutes: float | None = None if data.duration_min is None else float(data.duration_min)
    group: GroupSessionDetail | None = None
    if isinstance(detail, GroupSessionDetail):
        group = detail
    elif isinstance(detail, BridgedCallDetail) and minutes is None and detail.ended_at is not None:
        # Bridged calls carry platform metadata: the duration is exact even when unlogged.
        minutes = (detail.ended_at - detail.started_at).total_seconds() / 60
    completed = data.outcome is ContactOutcome.COMPLETED and (group is None or group.attended)
    facts.contacts.append(
        ContactRow(
            event_id=event.id,
            participant=event.subject,
            programme=data.programme_id,
            model=data.support_model.value,
            at=at,
            direction=data.direction.value,
            outcome=data.outcome.value,
            completed=completed,
            minutes=minutes,
            key_functions=",".join(f.value for f in data.key_functions),
            group_session=group.session_id if group else None,
            session_number=group.session_number if group else None,
            sessions_planned=group.sessions_planned if group else None,
            attended=group.attended if group else None,
        )
    )
    for idx, observation in enumerate(data.observations):
        key = f"c:{event.id}:{idx}"
        facts.measurements.append(
            _measurement_row(event.id, idx, event.subject, key=key, reported_at=at, m=observation)
        )


def _gap_facts(event: CareGapsChangedEvent, facts: Facts) -> None:
    change = event.data
    snapshot: dict[str, CareGap] = {g.gap_id: g for g in change.open_gaps}
    snapshot.update({g.gap_id: g for g in change.recently_closed})
    as_of = change.as_of.timestamp()
    for transition in change.delta:
        if transition.action not in _KEPT_ACTIONS:
            continue  # priority updates do not change any metric
        gap = snapshot.get(transition.gap_id)
        at = as_of
        if gap is not None:
            if transition.action is GapAction.OPENED:
                at = gap.opened_at.timestamp()
            elif gap.closed_at is not None:
                at = gap.closed_at.timestamp()
        facts.gaps.append(
            GapRow(
                change_id=change.change_id,
                gap_id=transition.gap_id,
                action=transition.action.value,
                event_id=event.id,
                participant=event.subject,
                programme=change.programme_id,
                model=change.support_model.value,
                code=transition.code.value,
                kind=(gap.kind if gap is not None else gap_kind_of(transition.code)).value,
                priority=transition.priority.value,
                sequence=change.sequence,
                at=at,
                opened_at=gap.opened_at.timestamp() if gap is not None else None,
            )
        )


def facts_of(event: Event, into: Facts | None = None) -> Facts:
    """The rows one event contributes (appended to ``into`` when given)."""
    facts = into if into is not None else Facts.empty()
    if isinstance(event, PeerContactLoggedEvent):
        _contact_facts(event, facts)
    elif isinstance(event, CareGapsChangedEvent):
        _gap_facts(event, facts)
    elif isinstance(event, ParticipantEnrolledEvent):
        facts.enrolments.append(
            EnrolmentRow(
                event_id=event.id,
                participant=event.subject,
                programme=event.data.programme_id,
                model=event.data.support_model.value,
                at=event.time.timestamp(),
                consent=event.data.consent_share_with_clinic,
            )
        )
    elif isinstance(event, ConsentChangedEvent):
        facts.consents.append(
            ConsentRow(
                event.id, event.subject, event.time.timestamp(), event.data.share_with_clinic
            )
        )
    elif isinstance(event, ParticipantExitedEvent):
        facts.exits.append(
            ExitRow(event.id, event.subject, event.time.timestamp(), event.data.reason.value)
        )
    elif isinstance(event, ClinicalResultReportedEvent):
        facts.measurements.append(
            _measurement_row(
                event.id,
                0,
                event.subject,
                # Result ids are unique per sending system, not globally: scope by participant.
                key=f"r:{event.subject}:{event.data.result_id}",
                reported_at=event.time.timestamp(),
                m=event.data.measurement,
            )
        )
    elif isinstance(event, AppointmentRecordedEvent):
        data = event.data
        facts.appointments.append(
            AppointmentRow(
                event_id=event.id,
                participant=event.subject,
                appointment_id=data.appointment_id,
                scheduled_at=data.scheduled_for.timestamp(),
                reported_at=event.time.timestamp(),
                status=data.status,
                purpose=data.purpose,
            )
        )
    # Clock ticks carry nothing the metrics use.
    return facts
