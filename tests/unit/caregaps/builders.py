"""Small builders for engine tests: one participant's log, written close to the wire format."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.caregaps import CareGapChange
from schemas.events import Event, parse_event
from schemas.vocabulary import GapCode
from services.caregaps import ParticipantState, PolicySet, RulePolicy, apply

__all__ = [
    "Log",
    "at",
    "bp",
    "day",
    "days_after",
    "delta",
    "gap",
    "glucose",
    "hba1c",
    "measurement",
    "open_codes",
    "run",
    "tick",
    "utc",
]

KEY = "p-0001"


def at(when: str) -> str:
    """'2026-01-04' -> '2026-01-04T09:00:00Z'; full timestamps pass through."""
    return when if "T" in when else f"{when}T09:00:00Z"


def day(when: str) -> date:
    return date.fromisoformat(when[:10])


def days_after(when: str, n: int, *, time: str = "00:00:00") -> str:
    """The UTC timestamp ``n`` days after the date of ``when``."""
    return f"{(day(when) + timedelta(days=n)).isoformat()}T{time}Z"


def _event(
    type_: str, when: str, data: dict[str, Any], event_id: str, subject: str | None
) -> Event:
    body: dict[str, Any] = {
        "id": event_id,
        "type": type_,
        "source": "peerlink://test",
        "time": at(when),
        "data": data,
    }
    if subject is not None:
        body["subject"] = subject
    return parse_event(json.dumps(body))


def tick(when: str, partition: int = 0, event_id: str | None = None) -> Event:
    stamp = at(when).replace(":", "").replace("-", "")
    return _event(
        "peerlink.clock.tick",
        when,
        {"partition": partition},
        event_id or f"tick-{stamp}-p{partition}",
        None,
    )


@dataclass
class Log:
    """Events of one participant with sequential ids ``e1``, ``e2``, ..."""

    key: str = KEY
    programme: str = "prog-1"
    model: str = "peer_coach"
    n: int = 0
    events: list[Event] = field(default_factory=list)

    def _add(self, type_: str, when: str, data: dict[str, Any], event_id: str | None) -> Event:
        self.n += 1
        event = _event(type_, when, data, event_id or f"e{self.n}", self.key)
        self.events.append(event)
        return event

    def enrol(self, when: str, *, event_id: str | None = None, **data: Any) -> Event:
        body = {
            "programme_id": self.programme,
            "support_model": self.model,
            "clinic_id": "clinic-1",
            "patient": {"literal_id": "pat-1"},
            "diabetes_type": "type_2",
            "consent_share_with_clinic": True,
            **data,
        }
        return self._add("peerlink.participant.enrolled", when, body, event_id)

    def result(
        self,
        when: str,
        measurement: dict[str, Any],
        *,
        rid: str | None = None,
        event_id: str | None = None,
        **data: Any,
    ) -> Event:
        body = {"result_id": rid or f"r{self.n + 1}", "measurement": measurement, **data}
        return self._add("peerlink.clinical.result_reported", when, body, event_id)

    def contact(self, when: str, *, event_id: str | None = None, **data: Any) -> Event:
        body = {
            "programme_id": self.programme,
            "support_model": self.model,
            "channel": "phone_live",
            "direction": "proactive_by_supporter",
            "outcome": "completed",
            **data,
        }
        return self._add("peerlink.contact.logged", when, body, event_id)

    def appointment(self, when: str, *, event_id: str | None = None, **data: Any) -> Event:
        return self._add("peerlink.appointment.recorded", when, data, event_id)

    def consent(self, when: str, share: bool, clinic: str = "clinic-1") -> Event:
        body = {"clinic_id": clinic, "share_with_clinic": share}
        return self._add("peerlink.participant.consent_changed", when, body, None)

    def exit(self, when: str, reason: str = "withdrew") -> Event:
        return self._add("peerlink.participant.exited", when, {"reason": reason}, None)


# ---------------------------------------------------------------------------- measurements


def hba1c(value: float, when: str, unit: str = "%", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "hba1c",
        "value": value,
        "unit": unit,
        "effective_at": at(when),
        "source": "clinic_lab",
        **extra,
    }


def glucose(value: float, when: str, unit: str = "mg/dL", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "glucose",
        "value": value,
        "unit": unit,
        "effective_at": at(when),
        "source": "self_report",
        **extra,
    }


def bp(systolic: int, diastolic: int, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "blood_pressure",
        "systolic": systolic,
        "diastolic": diastolic,
        "unit": "mmHg",
        "effective_at": at(when),
        "source": "peer_measured",
        "device": "automated",
        **extra,
    }


def measurement(kind: str, when: str, **fields_: Any) -> dict[str, Any]:
    return {"kind": kind, "effective_at": at(when), "source": "clinic_ehr", **fields_}


# ------------------------------------------------------------------------------- running


def run(
    events: Iterable[Event],
    policy: PolicySet | RulePolicy | None = None,
    state: ParticipantState | None = None,
) -> tuple[ParticipantState, list[CareGapChange | None]]:
    """Apply events in order; returns the final state and one change (or None) per event."""
    policy = policy or RulePolicy()
    events = list(events)
    if state is None:
        subject = next((e.subject for e in events if e.subject is not None), KEY)
        state = ParticipantState.new(subject)
    changes: list[CareGapChange | None] = []
    for event in events:
        state, change = apply(state, event, policy)
        changes.append(change)
    return state, changes


def open_codes(state: ParticipantState, *codes: str) -> dict[str, str]:
    """Open gaps as {code: reason}, only of ``codes`` when given."""
    return {
        g.code: g.reason
        for g in state.gaps
        if g.status == "open" and (not codes or g.code in codes)
    }


def delta(change: CareGapChange | None, *codes: str) -> list[tuple[str, str, str]]:
    """(action, code, reason) of a change's transitions, only of ``codes`` when given."""
    if change is None:
        return []
    return [
        (t.action.value, t.code.value, t.reason)
        for t in change.delta
        if not codes or t.code.value in codes
    ]


def gap(state: ParticipantState, code: GapCode) -> Any:
    record = state.gap(code.value)
    assert record is not None, f"{code} never opened"
    return record


def utc(when: str) -> datetime:
    return datetime.fromisoformat(at(when).replace("Z", "+00:00")).astimezone(UTC)
