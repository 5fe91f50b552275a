"""Builders of valid PeerLink events, and a reproducible synthetic programme population.

The builders keep test scenarios short and readable (every event is validated by the real
contracts). :func:`sample_events` produces a few hundred participants across the six models,
with contacts that fade over time, care gaps that close at different speeds and HbA1c that
moves: enough for the HTML report to show every chart, for the benchmark and for demos.
It contains no real people: keys are ``syn-<n>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import EVENT_ADAPTER, Event
from schemas.vocabulary import GapCode, KeyFunction, Priority, SupportModel
from services.evaluation.facts import gap_kind_of

__all__ = ["EventBuilder", "GapSpec", "sample_events"]

_CHANNEL = {
    SupportModel.PROFESSIONAL_LED_GROUP: "group_session_in_person",
    SupportModel.PEER_LED_GROUP: "group_session_in_person",
    SupportModel.PEER_COACH: "phone_live",
    SupportModel.COMMUNITY_HEALTH_WORKER: "home_visit",
    SupportModel.TELEPHONE_PEER_PARTNER: "phone_platform_bridged",
    SupportModel.ONLINE_COMMUNITY: "online_forum",
}
_CATEGORY = {
    Priority.ROUTINE: "reminder",
    Priority.URGENT: "notification",
    Priority.ASAP: "alert",
    Priority.STAT: "alert",
}


def _iso(at: datetime) -> str:
    return at.isoformat()


@dataclass(frozen=True)
class GapSpec:
    """A gap as the engine would report it in a change snapshot."""

    gap_id: str
    code: GapCode
    opened_at: datetime
    priority: Priority = Priority.ROUTINE
    closed_at: datetime | None = None

    def snapshot(self, status: str) -> dict[str, Any]:
        return {
            "gap_id": self.gap_id,
            "code": self.code.value,
            "kind": gap_kind_of(self.code).value,
            "status": status,
            "priority": self.priority.value,
            "category": _CATEGORY[self.priority],
            "episode": 1,
            "opened_at": _iso(self.opened_at),
            "closed_at": _iso(self.closed_at) if self.closed_at and status != "open" else None,
            "reason": "synthetic",
            "recommended_action": "Follow the programme protocol.",
            "coding": {"system": "urn:peerlink:gap", "code": self.code.value, "display": "gap"},
        }

    def transition(self, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "gap_id": self.gap_id,
            "code": self.code.value,
            "reason": "synthetic",
            "priority": self.priority.value,
        }


class EventBuilder:
    """Builds validated events with unique ids, in the order they are created."""

    def __init__(self, source: str = "peerlink://test", id_prefix: str = "evt") -> None:
        self.source = source
        self.id_prefix = id_prefix
        self.events: list[Event] = []
        self._serial = 0
        self._sequence: dict[str, int] = {}

    def _event(
        self, type_: str, subject: str, at: datetime, data: dict[str, Any], event_id: str | None
    ) -> Event:
        self._serial += 1
        event = EVENT_ADAPTER.validate_python(
            {
                "id": event_id or f"{self.id_prefix}-{self._serial:06d}",
                "type": type_,
                "source": self.source,
                "time": at,
                "subject": subject,
                "data": data,
            }
        )
        self.events.append(event)
        return event

    def enrol(
        self,
        participant: str,
        at: datetime,
        *,
        programme: str,
        model: SupportModel,
        consent: bool = False,
        event_id: str | None = None,
    ) -> Event:
        return self._event(
            "peerlink.participant.enrolled",
            participant,
            at,
            {
                "programme_id": programme,
                "support_model": model.value,
                "clinic_id": "clinic-1",
                "diabetes_type": "type_2",
                "consent_share_with_clinic": consent,
            },
            event_id,
        )

    def consent(self, participant: str, at: datetime, share: bool) -> Event:
        return self._event(
            "peerlink.participant.consent_changed",
            participant,
            at,
            {"clinic_id": "clinic-1", "share_with_clinic": share},
            None,
        )

    def exit(self, participant: str, at: datetime, reason: str = "withdrew") -> Event:
        return self._event("peerlink.participant.exited", participant, at, {"reason": reason}, None)

    def contact(
        self,
        participant: str,
        at: datetime,
        *,
        programme: str,
        model: SupportModel,
        outcome: str = "completed",
        direction: str = "proactive_by_supporter",
        minutes: int | None = None,
        functions: Iterable[KeyFunction] = (),
        detail: dict[str, Any] | None = None,
        observations: Sequence[dict[str, Any]] = (),
        event_id: str | None = None,
    ) -> Event:
        data: dict[str, Any] = {
            "programme_id": programme,
            "support_model": model.value,
            "channel": _CHANNEL[model],
            "direction": direction,
            "outcome": outcome,
            "duration_min": minutes,
            "key_functions": [f.value for f in functions],
            "detail": detail,
            "observations": list(observations),
        }
        return self._event("peerlink.contact.logged", participant, at, data, event_id)

    def group_session(
        self,
        participant: str,
        at: datetime,
        *,
        programme: str,
        model: SupportModel,
        session_id: str,
        number: int,
        planned: int | None,
        attended: bool,
        minutes: int | None = None,
        functions: Iterable[KeyFunction] = (),
    ) -> Event:
        return self.contact(
            participant,
            at,
            programme=programme,
            model=model,
            outcome="completed" if attended else "did_not_attend",
            minutes=minutes if attended else None,
            functions=functions if attended else (),
            detail={
                "kind": "group_session",
                "session_id": session_id,
                "session_number": number,
                "sessions_planned": planned,
                "attended": attended,
                "facilitator": "peer",
            },
        )

    def result(
        self,
        participant: str,
        measurement: dict[str, Any],
        *,
        reported: datetime,
        result_id: str | None = None,
    ) -> Event:
        return self._event(
            "peerlink.clinical.result_reported",
            participant,
            reported,
            {
                "result_id": result_id or f"{self.id_prefix}-res-{self._serial + 1}",
                "measurement": measurement,
            },
            None,
        )

    def hba1c(
        self,
        participant: str,
        effective: datetime,
        value: float,
        *,
        unit: str = "%",
        source: str = "clinic_lab",
        status: str = "final",
        result_id: str | None = None,
        reported: datetime | None = None,
    ) -> Event:
        return self.result(
            participant,
            {
                "kind": "hba1c",
                "value": value,
                "unit": unit,
                "effective_at": _iso(effective),
                "source": source,
                "status": status,
            },
            reported=reported or effective,
            result_id=result_id,
        )

    def blood_pressure(
        self,
        participant: str,
        effective: datetime,
        systolic: int,
        diastolic: int,
        *,
        source: str = "clinic_ehr",
    ) -> Event:
        return self.result(
            participant,
            bp_observation(effective, systolic, diastolic, source=source),
            reported=effective,
        )

    def dds2(self, participant: str, effective: datetime, item1: int, item2: int) -> Event:
        return self.result(
            participant,
            {
                "kind": "dds2",
                "item1": item1,
                "item2": item2,
                "effective_at": _iso(effective),
                "source": "peer_measured",
            },
            reported=effective,
        )

    def phq9(self, participant: str, effective: datetime, total: int) -> Event:
        return self.result(
            participant,
            {
                "kind": "phq9",
                "total": total,
                "item9": 0,
                "effective_at": _iso(effective),
                "source": "clinic_ehr",
            },
            reported=effective,
        )

    def appointment(
        self,
        participant: str,
        scheduled: datetime,
        status: str,
        *,
        appointment_id: str | None = None,
        reported: datetime | None = None,
    ) -> Event:
        return self._event(
            "peerlink.appointment.recorded",
            participant,
            reported or scheduled,
            {
                "appointment_id": appointment_id or f"{self.id_prefix}-appt-{self._serial + 1}",
                "clinic_id": "clinic-1",
                "status": status,
                "scheduled_for": _iso(scheduled),
            },
            None,
        )

    def gap_change(
        self,
        participant: str,
        as_of: datetime,
        *,
        programme: str,
        model: SupportModel,
        opened: Sequence[GapSpec] = (),
        closed: Sequence[GapSpec] = (),
        cancelled: Sequence[GapSpec] = (),
        still_open: Sequence[GapSpec] = (),
        event_id: str | None = None,
        change_id: str | None = None,
    ) -> Event:
        sequence = self._sequence.get(participant, 0) + 1
        self._sequence[participant] = sequence
        delta = [g.transition("opened") for g in opened]
        delta += [g.transition("closed") for g in closed]
        delta += [g.transition("cancelled") for g in cancelled]
        data = {
            "change_id": change_id or f"chg-{participant}-{sequence}",
            "sequence": sequence,
            "cause_event_id": f"cause-{participant}-{sequence}",
            "as_of": _iso(as_of),
            "programme_id": programme,
            "support_model": model.value,
            "consent": {"share_with_clinic": False},
            "open_gaps": [g.snapshot("open") for g in (*opened, *still_open)],
            "recently_closed": [g.snapshot("closed") for g in closed]
            + [g.snapshot("cancelled") for g in cancelled],
            "delta": delta,
        }
        return self._event("peerlink.caregaps.changed", participant, as_of, data, event_id)


def bp_observation(
    effective: datetime, systolic: int, diastolic: int, *, source: str = "peer_measured"
) -> dict[str, Any]:
    """A blood-pressure measurement, as a contact observation or a clinic result."""
    return {
        "kind": "blood_pressure",
        "systolic": systolic,
        "diastolic": diastolic,
        "unit": "mmHg",
        "device": "automated",
        "effective_at": _iso(effective),
        "source": source,
    }


# ---------------------------------------------------------------------------- synthetic

#: Mean completed contacts per month in month 1 and how fast they fade, per model.
_ENGAGEMENT = {
    SupportModel.PROFESSIONAL_LED_GROUP: (3.0, 0.80),
    SupportModel.PEER_LED_GROUP: (3.5, 0.75),
    SupportModel.PEER_COACH: (4.0, 0.85),
    SupportModel.COMMUNITY_HEALTH_WORKER: (4.5, 0.88),
    SupportModel.TELEPHONE_PEER_PARTNER: (3.0, 0.70),
    SupportModel.ONLINE_COMMUNITY: (6.0, 0.65),
}
_PROGRAMMES = {
    SupportModel.PROFESSIONAL_LED_GROUP: "prog-sma-1",
    SupportModel.PEER_LED_GROUP: "prog-dsmp-1",
    SupportModel.PEER_COACH: "prog-coach-1",
    SupportModel.COMMUNITY_HEALTH_WORKER: "prog-chw-east",
    SupportModel.TELEPHONE_PEER_PARTNER: "prog-tpp-1",
    SupportModel.ONLINE_COMMUNITY: "prog-online-1",
}
_CARE_GAPS = (GapCode.A1C_DUE, GapCode.EYE_DUE, GapCode.FOOT_DUE, GapCode.KIDNEY_DUE)
_RED_FLAGS = (
    (GapCode.REDFLAG_RF2, Priority.ASAP),
    (GapCode.REDFLAG_RF11, Priority.STAT),
    (GapCode.REDFLAG_RF7, Priority.URGENT),
)


def _synthetic_participant(
    b: EventBuilder, rng: random.Random, number: int, start: datetime, end: datetime
) -> None:
    model = list(SupportModel)[number % len(SupportModel)]
    programme = _PROGRAMMES[model]
    pid = f"syn-{number:05d}"
    span = (end - start).days
    enrolled = start + timedelta(days=rng.randrange(0, max(1, span // 2)), hours=9)
    b.enrol(pid, enrolled, programme=programme, model=model, consent=rng.random() < 0.8)
    exit_at = None
    if rng.random() < 0.12:
        exit_at = enrolled + timedelta(days=rng.randrange(20, 200))
        if exit_at < end:
            b.exit(pid, exit_at, rng.choice(["withdrew", "lost_to_follow_up", "moved_away"]))
        else:
            exit_at = None
    stop = min(end, exit_at) if exit_at else end

    first_rate, fade = _ENGAGEMENT[model]
    engaged = rng.random() > 0.12
    day = float(rng.randrange(1, 15))
    session = 0
    while engaged:
        at = enrolled + timedelta(days=day)
        if at >= stop:
            break
        month = int(day // 30.4375)
        rate = first_rate * fade**month
        completed = rng.random() < 0.8
        functions = rng.sample(list(KeyFunction), k=rng.randrange(1, 4))
        if model in (SupportModel.PROFESSIONAL_LED_GROUP, SupportModel.PEER_LED_GROUP):
            session += 1
            if session > 12:
                break
            b.group_session(
                pid,
                at,
                programme=programme,
                model=model,
                session_id=f"grp-{number % 7}",
                number=session,
                planned=12,
                attended=completed,
                minutes=90,
                functions=functions,
            )
            day += 7
            continue
        direction = rng.choices(
            ["proactive_by_supporter", "participant_initiated", "system_reminder_prompted"],
            weights=[6, 3, 1],
        )[0]
        b.contact(
            pid,
            at,
            programme=programme,
            model=model,
            outcome="completed" if completed else "attempted_no_answer",
            direction=direction,
            minutes=rng.randrange(5, 60) if completed else None,
            functions=functions if completed else (),
        )
        day += rng.expovariate(max(rate, 0.2) / 30.4375)

    baseline = rng.gauss(8.4, 1.2)
    baseline = min(13.5, max(6.0, baseline))
    b.hba1c(pid, enrolled - timedelta(days=rng.randrange(1, 60)), round(baseline, 1))
    follow = enrolled + timedelta(days=rng.randrange(100, 200))
    if follow < end and rng.random() < 0.75:
        change = rng.gauss(-0.5 if engaged else 0.0, 0.7) - 0.15 * (baseline - 8)
        b.hba1c(pid, follow, round(min(14.0, max(5.0, baseline + change)), 1))
    systolic = rng.randrange(120, 165)
    b.blood_pressure(pid, enrolled + timedelta(days=1), systolic, systolic - rng.randrange(40, 60))
    if follow < end:
        later = systolic - rng.randrange(-5, 15)
        b.blood_pressure(pid, follow, later, later - rng.randrange(40, 60))
    if rng.random() < 0.5:
        b.dds2(pid, enrolled + timedelta(days=2), rng.randrange(2, 6), rng.randrange(2, 6))
        if follow < end:
            b.dds2(pid, follow, rng.randrange(1, 5), rng.randrange(1, 5))

    _synthetic_gaps(
        b, rng, pid, programme=programme, model=model, enrolled=enrolled, stop=stop, end=end
    )


def _synthetic_gaps(
    b: EventBuilder,
    rng: random.Random,
    pid: str,
    *,
    programme: str,
    model: SupportModel,
    enrolled: datetime,
    stop: datetime,
    end: datetime,
) -> None:
    for index, code in enumerate(_CARE_GAPS):
        if rng.random() < 0.45:
            continue
        opened_at = enrolled + timedelta(days=rng.randrange(0, 90), hours=1)
        if opened_at >= stop:
            continue
        gap = GapSpec(f"{pid}-{code.value}", code, opened_at)
        b.gap_change(pid, opened_at, programme=programme, model=model, opened=[gap])
        # Faster closure for engaged participants in linkage-focused models.
        scale = 35 if model is SupportModel.COMMUNITY_HEALTH_WORKER else 60 + 10 * index
        closed_at = opened_at + timedelta(days=rng.expovariate(1 / scale))
        if closed_at < stop:
            done = GapSpec(gap.gap_id, code, opened_at, closed_at=closed_at)
            b.gap_change(pid, closed_at, programme=programme, model=model, closed=[done])
    if rng.random() < 0.15:
        code, priority = rng.choice(_RED_FLAGS)
        flagged = enrolled + timedelta(days=rng.randrange(5, 150))
        if flagged < stop:
            flag = GapSpec(f"{pid}-{code.value}", code, flagged, priority=priority)
            b.gap_change(pid, flagged, programme=programme, model=model, opened=[flag])
            if rng.random() < 0.7:
                b.appointment(pid, flagged + timedelta(days=rng.randrange(1, 40)), "kept")
            closed_at = flagged + timedelta(days=rng.randrange(1, 10))
            if closed_at < min(stop, end):
                done = GapSpec(flag.gap_id, code, flagged, priority=priority, closed_at=closed_at)
                b.gap_change(pid, closed_at, programme=programme, model=model, closed=[done])


def sample_events(
    participants: int = 600,
    *,
    seed: int = 7,
    start: datetime | None = None,
    days: int = 365,
) -> list[Event]:
    """A reproducible synthetic population (deterministic for a given seed), in time order."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    begin = start or datetime(2025, 1, 1, tzinfo=UTC)
    end = begin + timedelta(days=days)
    builder = EventBuilder(source="peerlink://synthetic", id_prefix=f"syn{seed}")
    for number in range(participants):
        _synthetic_participant(builder, rng, number, begin, end)
    return sorted(builder.events, key=lambda e: (e.time, e.id))
