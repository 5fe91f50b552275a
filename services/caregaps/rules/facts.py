"""Turning events into facts, and the queries rules ask of them.

Clinical dates, never arrival order, decide what is "most recent" (care_gap_rules.md 6.1):
results are kept by business id with the latest *reported* version (a correction is reported
after the original, rules 6.5), and every query sorts by clinical day and time. Pruning keeps
what the rules can still use, so the state stays small (rules 6.10 on duplicates; bounded
state per the engine's design).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from schemas.measurements import (
    BloodPressure,
    Dds2,
    Egfr,
    FootExam,
    Glucose,
    Hba1c,
    Ketones,
    Measurement,
    MeasurementSource,
    Phq2,
    Phq9,
    ResultStatus,
    RetinalExam,
    Uacr,
)
from services.caregaps.policy import RulePolicy
from services.caregaps.rules.model import DAY_S, EPOCH_ORDINAL
from services.caregaps.state import Appointment, ParticipantState, Result

__all__ = [
    "CLOSING_STATUSES",
    "KETONE_LEVELS",
    "View",
    "day_of",
    "day_start",
    "epoch",
    "latest_day",
    "prune",
    "record_appointment",
    "record_result",
    "result_from",
    "retracted",
    "utc_day",
]

#: Only final/amended/corrected results count (rules 6.5); preliminary ones never close gaps.
CLOSING_STATUSES = frozenset(
    {ResultStatus.FINAL.value, ResultStatus.AMENDED.value, ResultStatus.CORRECTED.value}
)
KETONE_LEVELS = ("negative", "trace", "small", "moderate", "large")
_DEVICES = ("unknown", "manual", "automated")

#: Self-reported values that rules 6.6 does not accept for a given kind.
_PATIENT_SOURCES = frozenset(
    {MeasurementSource.SELF_REPORT.value, MeasurementSource.METER_REVIEWED.value}
)
#: Newest valid results kept per kind; older ones cannot change any rule's outcome.
#: Two per kind leave a fallback when the newest is entered in error; blood pressure keeps
#: about two days of readings; three eye exams show earlier retinopathy (rules 5 DM-EYE-DUE).
_KEEP = {
    "hba1c": 2,
    "blood_pressure": 4,
    "egfr": 2,
    "uacr": 2,
    "phq2": 1,
    "phq9": 2,
    "dds2": 1,
    "retinal_exam": 3,
    "foot_exam": 2,
    "glucose": 4,
    "ketones": 2,
}
#: Glucose and ketones only feed same-day / consecutive-day red flags (rules 4 RF4, RF7).
_SHORT_LIVED = frozenset({"glucose", "ketones"})
_SHORT_LIVED_S = 3 * DAY_S
#: Superseded-by-error and preliminary versions kept as tombstones (reordering safety).
_KEEP_INACTIVE = 3
_KEEP_APPOINTMENTS = 4


def epoch(moment: datetime) -> int:
    """Epoch seconds of an aware datetime."""
    return int(moment.timestamp())


def day_of(moment: datetime) -> int:
    """Day ordinal of the clinical date in the value's own offset (CQL "same day as", 6.2)."""
    return moment.date().toordinal()


def utc_day(at: int) -> int:
    return at // DAY_S + EPOCH_ORDINAL


def day_start(day: int) -> int:
    """Epoch seconds of 00:00 UTC of a day ordinal."""
    return (day - EPOCH_ORDINAL) * DAY_S


def _values(m: Measurement) -> tuple[float, ...]:
    """Canonical units (rules 3.5, 6.3): HbA1c in NGSP %, glucose mg/dL, UACR mg/g."""
    if isinstance(m, Hba1c):
        return (m.percent,)
    if isinstance(m, Glucose):
        return (m.mg_dl, int(m.meter_hi))
    if isinstance(m, BloodPressure):
        return (
            m.systolic,
            m.diastolic,
            m.reading_number,
            _DEVICES.index(m.device),
            int(m.with_symptoms),
        )
    if isinstance(m, Egfr):
        return (m.value,)
    if isinstance(m, Uacr):
        return (m.mg_g,)
    if isinstance(m, Phq2):
        return (m.total,)
    if isinstance(m, Phq9):
        # -1 marks "not answered": an item-9-only answer is a red flag but not a screen.
        return (-1 if m.total is None else m.total, -1 if m.item9 is None else m.item9)
    if isinstance(m, Dds2):
        return (m.mean,)
    if isinstance(m, RetinalExam):
        return (-1 if m.retinopathy_found is None else int(m.retinopathy_found),)
    if isinstance(m, FootExam):
        return (int(m.comprehensive), -1 if m.iwgdf_risk is None else m.iwgdf_risk)
    if isinstance(m, Ketones):
        return (KETONE_LEVELS.index(m.level),)
    raise TypeError(f"unknown measurement {type(m).__name__}")


def result_from(m: Measurement, *, rid: str, reported: int, event_id: str) -> Result:
    return Result(
        rid=rid,
        kind=m.kind,
        day=day_of(m.effective_at),
        at=epoch(m.effective_at),
        status=m.status.value,
        source=m.source.value,
        reported=reported,
        event_id=event_id,
        values=_values(m),
    )


def _version_key(r: Result) -> tuple[int, str]:
    return (r.reported, r.event_id)


def _recency(r: Result) -> tuple[int, int, str, str]:
    return (r.day, r.at, r.rid, r.event_id)


def record_result(results: tuple[Result, ...], new: Result) -> tuple[Result, ...]:
    """Add a result version; for a known business id, the later-reported version wins.

    Comparing report time (then event id) instead of arrival order makes the outcome the
    same whichever version arrives first (rules 6.1, 6.5).
    """
    if not new.rid:
        if any(r.event_id == new.event_id and r == new for r in results):
            return results
        return (*results, new)
    for i, old in enumerate(results):
        if old.rid == new.rid:
            if _version_key(new) <= _version_key(old):
                return results
            return (*results[:i], new, *results[i + 1 :])
    return (*results, new)


def record_appointment(
    appointments: tuple[Appointment, ...], new: Appointment
) -> tuple[Appointment, ...]:
    for i, old in enumerate(appointments):
        if old.appointment_id == new.appointment_id:
            if (new.reported, new.event_id) <= (old.reported, old.event_id):
                return appointments
            return (*appointments[:i], new, *appointments[i + 1 :])
    return (*appointments, new)


_SELF_REPORT = MeasurementSource.SELF_REPORT.value
_METER = MeasurementSource.METER_REVIEWED.value
_AUTOMATED = _DEVICES.index("automated")
_LAB_KINDS = frozenset({"hba1c", "egfr", "uacr", "retinal_exam", "foot_exam"})


def _eligible(r: Result) -> bool:
    """Per-kind provenance rules (care_gap_rules.md 6.6)."""
    if r.status not in CLOSING_STATUSES:
        return False
    if r.kind in _LAB_KINDS:
        # Self-tested A1c not processed by a lab does not count; a participant saying an exam
        # happened is not the exam report.
        return r.source != _SELF_REPORT and not (r.kind == "hba1c" and r.source == _METER)
    if r.kind == "blood_pressure":
        # Patient-conveyed readings count only from automated devices (NCQA BPD, CMS165).
        return r.source not in _PATIENT_SOURCES or r.values[3] == _AUTOMATED
    return True


class View:
    """What the rules see of one participant at one log time.

    Eligible results are grouped by kind, newest clinical date first, once per evaluation and
    only when a rule asks (the engagement rule, the one most events touch, never does).
    """

    __slots__ = ("_grouped", "now", "policy", "state")

    def __init__(self, state: ParticipantState, now: int, policy: RulePolicy) -> None:
        self.state = state
        self.now = now
        self.policy = policy
        self._grouped: dict[str, list[Result]] | None = None

    def _by_kind(self) -> dict[str, list[Result]]:
        by_kind = self._grouped
        if by_kind is None:
            by_kind = self._grouped = {}
            for r in self.state.results:
                if _eligible(r):
                    by_kind.setdefault(r.kind, []).append(r)
            for items in by_kind.values():
                items.sort(key=_recency, reverse=True)
        return by_kind

    def results(self, *kinds: str) -> list[Result]:
        """Results of ``kinds`` that rules may use, newest clinical date first."""
        by_kind = self._by_kind()
        if len(kinds) == 1:
            return by_kind.get(kinds[0], [])
        merged = [r for kind in kinds for r in by_kind.get(kind, ())]
        merged.sort(key=_recency, reverse=True)
        return merged


def latest_day(results: Sequence[Result]) -> list[Result]:
    """The results of the most recent clinical day (input sorted newest first)."""
    if not results:
        return []
    day = results[0].day
    return [r for r in results if r.day == day]


def retracted(state: ParticipantState, rids: Iterable[str]) -> bool:
    """True when every one of ``rids`` is now entered in error (and there is at least one)."""
    wanted = [rid for rid in rids if rid]
    if not wanted:
        return False
    status = {r.rid: r.status for r in state.results if r.rid}
    return all(status.get(rid) == ResultStatus.ENTERED_IN_ERROR.value for rid in wanted)


def _needs_pruning(state: ParticipantState, now: int, horizon_day: int, oldest_report: int) -> bool:
    """One pass without sorting: is anything over its limit or past its retention?"""
    if len(state.appointments) > _KEEP_APPOINTMENTS:
        return True
    counts: dict[str, int] = {}
    aged: set[str] = set()
    inactive = 0
    short_cutoff = now - _SHORT_LIVED_S
    for r in state.results:
        if r.status in CLOSING_STATUSES:
            counts[r.kind] = counts.get(r.kind, 0) + 1
            if r.kind in _SHORT_LIVED:
                if r.at < short_cutoff:
                    return True
            elif r.day < horizon_day:
                aged.add(r.kind)
        else:
            inactive += 1
            if r.reported < oldest_report:
                return True
    if inactive > _KEEP_INACTIVE:
        return True
    return any(n > _KEEP.get(k, 2) or (n > 1 and k in aged) for k, n in counts.items())


def prune(state: ParticipantState, now: int, policy: RulePolicy) -> ParticipantState:
    """Drop evidence no rule can use any more; the newest valid result per kind stays.

    Returns ``state`` itself when nothing is dropped (the common case).
    """
    horizon_day = utc_day(now) - policy.evidence_retention_days
    oldest_report = now - policy.evidence_retention_days * DAY_S
    if not _needs_pruning(state, now, horizon_day, oldest_report):
        return state
    active: dict[str, list[Result]] = {}
    inactive: list[Result] = []
    for r in state.results:
        if r.status in CLOSING_STATUSES:
            active.setdefault(r.kind, []).append(r)
        else:
            inactive.append(r)
    kept: list[Result] = []
    for kind, items in active.items():
        items.sort(key=_recency, reverse=True)
        for i, r in enumerate(items[: _KEEP.get(kind, 2)]):
            if kind in _SHORT_LIVED:
                if r.at >= now - _SHORT_LIVED_S:
                    kept.append(r)
            elif i == 0 or r.day >= horizon_day:
                kept.append(r)
    inactive.sort(key=_version_key, reverse=True)
    kept.extend(r for r in inactive[:_KEEP_INACTIVE] if r.reported >= oldest_report)
    appointments = state.appointments
    if len(appointments) > _KEEP_APPOINTMENTS:
        newest = sorted(appointments, key=lambda a: (a.scheduled_at, a.appointment_id))
        appointments = tuple(newest[-_KEEP_APPOINTMENTS:])
    if len(kept) == len(state.results) and appointments is state.appointments:
        return state
    kept.sort(key=lambda r: (r.kind, *_recency(r), r.reported))
    return state.evolve(results=tuple(kept), appointments=appointments)
