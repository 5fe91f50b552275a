"""Programme metrics computed from stored facts: pure functions, no I/O.

The definitions are the docstrings of :mod:`services.evaluation.model`; this module is their
implementation. Everything is keyed by episodes (one participant's first enrolment in one
programme), so a participant enrolled in two programmes counts once in each.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from schemas.vocabulary import ContactDirection, GapKind, KeyFunction, Priority
from services.evaluation.facts import (
    AppointmentRow,
    ContactRow,
    Facts,
    GapRow,
    MeasurementRow,
)
from services.evaluation.model import (
    OBSERVATIONAL_NOTE,
    ChangeStats,
    Dose,
    Figure,
    GapStats,
    Linkage,
    MetricsBlock,
    MonthFigure,
    Outcomes,
    ProgrammeMetrics,
    Reach,
)

__all__ = [
    "DAY_S",
    "DEFAULT_MIN_CELL",
    "MONTH_S",
    "WEEK_S",
    "Period",
    "compute_metrics",
    "default_period",
    "nearest_rank",
]

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
#: 365.25 / 12 days: a participant-month.
MONTH_S = 30.4375 * DAY_S
DEFAULT_MIN_CELL = 11
ENGAGEMENT_MONTHS = 12
#: Participants enrolled fewer days before the window end cannot be "never engaged" yet.
NEVER_ENGAGED_GRACE_S = 30 * DAY_S
BASELINE_BEFORE_S = 90 * DAY_S
BASELINE_AFTER_S = 30 * DAY_S
FOLLOW_UP_AFTER_S = 90 * DAY_S
CLOSURE_DAYS = (30, 60, 90)
_VALID_STATUSES = frozenset({"final", "amended", "corrected"})
_CLINIC_SOURCES = frozenset({"clinic_lab", "clinic_ehr"})
_ACTION_ORDER = {"opened": 0, "closed": 1, "cancelled": 2}
_EPS = 1e-9


@dataclass(frozen=True)
class Period:
    """A window of whole UTC days, both ends inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the period starts ({self.start}) after it ends ({self.end})")

    @property
    def start_s(self) -> float:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()

    @property
    def end_s(self) -> float:
        """The first instant after the window (midnight after ``end``)."""
        after = self.end + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp()


def default_period(extent: tuple[float, float] | None, today: date | None = None) -> Period:
    """All the data: from the day of the earliest event to the day of the latest one."""
    if extent is None:
        day = today or datetime.now(UTC).date()
        return Period(day, day)
    low, high = extent
    return Period(datetime.fromtimestamp(low, UTC).date(), datetime.fromtimestamp(high, UTC).date())


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile by the nearest-rank method (an observed value, no interpolation)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) - _EPS))
    return ordered[rank - 1]


# ---------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Cells:
    """Builds figures and applies the small-cell rule in one place."""

    min_cell: int

    def figure(
        self,
        value: float | None,
        n: int,
        *,
        count: int | None = None,
        numerator: int | None = None,
    ) -> Figure:
        if 0 < n < self.min_cell:
            return Figure(suppressed=True)
        if value is not None:
            value = round(value, 4)
        return Figure(value=value, n=n, count=count, numerator=numerator)

    def count(self, value: int, n: int | None = None) -> Figure:
        """A count of participants (n = the count itself) or of items owned by n people."""
        return self.figure(float(value), value if n is None else n)

    def share(self, numerator: int, denominator: int, n: int, *, units: bool = False) -> Figure:
        """``numerator / denominator``; ``units`` means the denominator is not participants."""
        value = numerator / denominator if denominator else None
        return self.figure(value, n, count=denominator if units else None, numerator=numerator)

    def rate(self, total: float, per: float, n: int, *, scale: float = 1.0) -> Figure:
        return self.figure(total / per * scale if per > 0 else None, n)


# ---------------------------------------------------------------------------- index


@dataclass
class _Episode:
    participant: str
    programme: str
    model: str
    enrol_at: float
    consent: bool
    exit_at: float | None = None
    exit_reason: str | None = None
    #: Exposure inside the window, set per period.
    start: float = 0.0
    end: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.participant, self.programme)

    @property
    def exposure_s(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class _Gap:
    gap_id: str
    participant: str
    programme: str
    code: str
    kind: str
    priority: str
    opened_at: float
    #: ("closed" | "cancelled" | "opened", at) in order.
    transitions: list[tuple[str, float]] = field(default_factory=list)

    def state_at(self, end_s: float) -> tuple[str, float | None]:
        """``open``, ``closed`` or ``cancelled`` as of ``end_s``, and when it ended."""
        state, ended = "open", None
        for action, at in self.transitions:
            if at >= end_s:
                continue
            if action == "opened":
                state, ended = "open", None
            else:
                state, ended = action, at
        return state, ended


@dataclass(frozen=True)
class _Measure:
    kind: str
    at: float
    source: str
    value1: float | None
    value2: float | None


class _Index:
    """The facts regrouped per episode, with superseded results resolved."""

    def __init__(self, facts: Facts, programme_id: str | None) -> None:
        self.episodes: dict[tuple[str, str], _Episode] = {}
        for row in sorted(facts.enrolments, key=lambda r: (r.at, r.event_id)):
            if programme_id is not None and row.programme != programme_id:
                continue
            key = (row.participant, row.programme)
            if key not in self.episodes:  # first enrolment defines the episode
                self.episodes[key] = _Episode(
                    row.participant, row.programme, row.model, row.at, row.consent
                )
        by_participant: dict[str, list[_Episode]] = defaultdict(list)
        for episode in self.episodes.values():
            by_participant[episode.participant].append(episode)

        for ex in sorted(facts.exits, key=lambda r: (r.at, r.event_id)):
            for episode in by_participant.get(ex.participant, ()):
                if episode.exit_at is None and ex.at >= episode.enrol_at:
                    episode.exit_at, episode.exit_reason = ex.at, ex.reason

        self.consents: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        for c in sorted(facts.consents, key=lambda r: (r.at, r.event_id)):
            self.consents[c.participant].append((c.at, c.share))

        self.contacts: dict[tuple[str, str], list[ContactRow]] = defaultdict(list)
        for contact in sorted(facts.contacts, key=lambda r: (r.at, r.event_id)):
            if programme_id is None or contact.programme == programme_id:
                self.contacts[(contact.participant, contact.programme)].append(contact)

        self.measures = _resolve_measurements(facts.measurements)
        self.kept_appointments = _kept_appointments(facts.appointments)
        self.gaps = _gaps(facts.gaps, programme_id)

    def cohort(self, period: Period, model: str | None) -> list[_Episode]:
        start_s, end_s = period.start_s, period.end_s
        chosen = []
        for episode in self.episodes.values():
            if model is not None and episode.model != model:
                continue
            if episode.enrol_at >= end_s:
                continue
            if episode.exit_at is not None and episode.exit_at < start_s:
                continue
            episode.start = max(episode.enrol_at, start_s)
            episode.end = min(episode.exit_at if episode.exit_at is not None else end_s, end_s)
            chosen.append(episode)
        return sorted(chosen, key=lambda e: (e.enrol_at, e.participant, e.programme))

    def consent_at(self, episode: _Episode, before_s: float) -> bool:
        state = episode.consent
        for at, share in self.consents.get(episode.participant, ()):
            if at >= before_s:
                break
            if at >= episode.enrol_at:
                state = share
        return state


def _resolve_measurements(rows: Iterable[MeasurementRow]) -> dict[str, list[_Measure]]:
    """Latest version of each result (by report time), kept only if final/amended/corrected."""
    latest: dict[str, MeasurementRow] = {}
    for row in rows:
        current = latest.get(row.result_key)
        if current is None or (row.reported_at, row.event_id, row.idx) > (
            current.reported_at,
            current.event_id,
            current.idx,
        ):
            latest[row.result_key] = row
    by_participant: dict[str, list[_Measure]] = defaultdict(list)
    for row in latest.values():
        if row.status in _VALID_STATUSES:
            by_participant[row.participant].append(
                _Measure(row.kind, row.effective_at, row.source, row.value1, row.value2)
            )
    for measures in by_participant.values():
        measures.sort(key=lambda m: m.at)
    return by_participant


def _kept_appointments(rows: Iterable[AppointmentRow]) -> dict[str, list[float]]:
    latest: dict[tuple[str, str], AppointmentRow] = {}
    for row in rows:
        key = (row.participant, row.appointment_id)
        current = latest.get(key)
        if current is None or (row.reported_at, row.event_id) > (
            current.reported_at,
            current.event_id,
        ):
            latest[key] = row
    kept: dict[str, list[float]] = defaultdict(list)
    for row in latest.values():
        if row.status == "kept":
            kept[row.participant].append(row.scheduled_at)
    return kept


def _gaps(rows: Iterable[GapRow], programme_id: str | None) -> list[_Gap]:
    grouped: dict[str, list[GapRow]] = defaultdict(list)
    for row in rows:
        if programme_id is None or row.programme == programme_id:
            grouped[row.gap_id].append(row)
    gaps = []
    for gap_id, transitions in grouped.items():
        transitions.sort(key=lambda r: (r.sequence, _ACTION_ORDER.get(r.action, 9)))
        opened = [r.at for r in transitions if r.action == "opened"]
        carried = [r.opened_at for r in transitions if r.opened_at is not None]
        opened_at = opened[0] if opened else (carried[0] if carried else None)
        if opened_at is None:
            continue  # a gap we never saw open cannot be placed in time
        first = transitions[0]
        opening = next((r for r in transitions if r.action == "opened"), first)
        gaps.append(
            _Gap(
                gap_id=gap_id,
                participant=first.participant,
                programme=first.programme,
                code=first.code,
                kind=first.kind,
                priority=opening.priority,
                opened_at=opened_at,
                transitions=[(r.action, r.at) for r in transitions],
            )
        )
    gaps.sort(key=lambda g: (g.opened_at, g.gap_id))
    return gaps


# ---------------------------------------------------------------------------- sections


def _in_exposure(episode: _Episode, contacts: Iterable[ContactRow]) -> list[ContactRow]:
    return [c for c in contacts if episode.start <= c.at < episode.end]


def _reach(index: _Index, cohort: list[_Episode], period: Period, cells: _Cells) -> Reach:
    start_s, end_s = period.start_s, period.end_s
    size = len(cohort)
    contacted = 0
    new: list[_Episode] = []
    days_to_first: list[float] = []
    consenting = exited = withdrew = 0
    for episode in cohort:
        contacts = index.contacts.get(episode.key, [])
        if any(c.completed for c in _in_exposure(episode, contacts)):
            contacted += 1
        if episode.enrol_at >= start_s:
            new.append(episode)
            limit = episode.end
            first = next(
                (c.at for c in contacts if c.completed and episode.enrol_at <= c.at < limit), None
            )
            if first is not None:
                days_to_first.append((first - episode.enrol_at) / DAY_S)
        if index.consent_at(episode, end_s):
            consenting += 1
        if episode.exit_at is not None and start_s <= episode.exit_at < end_s:
            exited += 1
            withdrew += episode.exit_reason == "withdrew"
    reached = len(days_to_first)
    return Reach(
        enrolled=cells.count(size),
        newly_enrolled=cells.count(len(new)),
        ever_contacted_share=cells.share(contacted, size, size),
        days_to_first_contact_median=cells.figure(
            statistics.median(days_to_first) if days_to_first else None, reached
        ),
        days_to_first_contact_p90=cells.figure(
            nearest_rank(days_to_first, 0.9) if days_to_first else None, reached
        ),
        not_yet_contacted=cells.count(len(new) - reached),
        consent_share=cells.share(consenting, size, size),
        exited=cells.count(exited),
        withdrew=cells.count(withdrew),
    )


def _weeks(episode: _Episode, completed_at: Iterable[float]) -> tuple[int, int]:
    """(whole weeks inside the exposure, of which weeks with a completed contact)."""
    first = math.ceil((episode.start - episode.enrol_at) / WEEK_S - _EPS)
    last = math.floor((episode.end - episode.enrol_at) / WEEK_S + _EPS) - 1
    if last < first:
        return 0, 0
    touched = {math.floor((at - episode.enrol_at) / WEEK_S) for at in completed_at}
    return last - first + 1, sum(1 for week in touched if first <= week <= last)


def _month_rates(cohort: list[_Episode], index: _Index) -> list[tuple[int, int, int]]:
    """Per month since enrolment: (month, participants observed all month, contacts)."""
    observed = [0] * (ENGAGEMENT_MONTHS + 1)
    contacts = [0] * (ENGAGEMENT_MONTHS + 1)
    for episode in cohort:
        seen = set()
        for month in range(1, ENGAGEMENT_MONTHS + 1):
            low = episode.enrol_at + (month - 1) * MONTH_S
            high = episode.enrol_at + month * MONTH_S
            if low >= episode.start and high <= episode.end:
                observed[month] += 1
                seen.add(month)
        if not seen:
            continue
        for c in index.contacts.get(episode.key, ()):
            if c.completed and c.at >= episode.enrol_at:
                month = math.floor((c.at - episode.enrol_at) / MONTH_S) + 1
                if month in seen:
                    contacts[month] += 1
    return [(m, observed[m], contacts[m]) for m in range(1, ENGAGEMENT_MONTHS + 1)]


def _dose(index: _Index, cohort: list[_Episode], period: Period, cells: _Cells) -> Dose:
    size = len(cohort)
    exposure_months = sum(e.exposure_s for e in cohort) / MONTH_S
    completed = 0
    minutes = 0.0
    weeks = weeks_touched = 0
    week_people = 0
    never_denominator = never = 0
    group_people = group_half = group_records = group_attended = 0
    logged = logged_completed = 0
    logged_people = 0
    directions: dict[str, int] = defaultdict(int)
    functions: dict[str, int] = defaultdict(int)
    all_four = 0
    for episode in cohort:
        contacts = index.contacts.get(episode.key, [])
        exposed = _in_exposure(episode, contacts)
        done = [c for c in exposed if c.completed]
        completed += len(done)
        minutes += sum(c.minutes for c in done if c.minutes is not None)

        person_weeks, touched = _weeks(episode, (c.at for c in done))
        if person_weeks:
            week_people += 1
            weeks += person_weeks
            weeks_touched += touched

        if episode.enrol_at <= period.end_s - NEVER_ENGAGED_GRACE_S:
            never_denominator += 1
            if not any(c.completed and episode.enrol_at <= c.at < episode.end for c in contacts):
                never += 1

        group = [c for c in exposed if c.group_session is not None]
        if group:
            group_people += 1
            group_records += len(group)
            attended = {c.session_number for c in group if c.completed}
            group_attended += sum(1 for c in group if c.completed)
            planned_values = [c.sessions_planned for c in group if c.sessions_planned]
            planned = (
                max(planned_values) if planned_values else len({c.session_number for c in group})
            )
            if 2 * len(attended) >= planned:
                group_half += 1

        if exposed:
            logged_people += 1
            logged += len(exposed)
            logged_completed += len(done)
            for c in exposed:
                directions[c.direction] += 1

        tagged = {f for c in done for f in c.key_functions.split(",") if f}
        for f in tagged:
            functions[f] += 1
        if {
            KeyFunction.DAILY_MANAGEMENT,
            KeyFunction.SOCIAL_EMOTIONAL_SUPPORT,
            KeyFunction.ONGOING_SUPPORT,
        } <= tagged and (
            KeyFunction.LINKAGE_CLINICAL_CARE in tagged
            or KeyFunction.LINKAGE_COMMUNITY_RESOURCES in tagged
        ):
            all_four += 1

    months = _month_rates(cohort, index)
    by_month = [
        MonthFigure(
            month=m,
            contacts_per_participant=cells.figure(c / n if n else None, n),
        )
        for m, n, c in months
    ]
    _, n1, c1 = months[0]
    _, n6, c6 = months[5]
    rate1 = c1 / n1 if n1 else None
    rate6 = c6 / n6 if n6 else None
    ratio = rate6 / rate1 if rate1 and rate6 is not None else None
    coverage = {f.value: cells.share(functions[f.value], size, size) for f in KeyFunction}
    coverage["all_four"] = cells.share(all_four, size, size)
    return Dose(
        participant_months=cells.figure(exposure_months, size),
        contacts_per_participant_month=cells.rate(completed, exposure_months, size),
        minutes_per_participant_month=cells.rate(minutes, exposure_months, size),
        weekly_contact_share=cells.share(weeks_touched, weeks, week_people, units=True),
        month1_contacts_per_participant=cells.figure(rate1, n1),
        month6_contacts_per_participant=cells.figure(rate6, n6),
        month6_to_month1_ratio=cells.figure(ratio, min(n1, n6)),
        never_engaged_share=cells.share(never, never_denominator, never_denominator),
        group_half_attendance_share=cells.share(group_half, group_people, group_people),
        group_session_attendance_rate=cells.share(
            group_attended, group_records, group_people, units=True
        ),
        completed_share=cells.share(logged_completed, logged, logged_people, units=True),
        proactive_share=cells.share(
            directions[ContactDirection.PROACTIVE_BY_SUPPORTER], logged, logged_people, units=True
        ),
        participant_initiated_share=cells.share(
            directions[ContactDirection.PARTICIPANT_INITIATED], logged, logged_people, units=True
        ),
        reminder_prompted_share=cells.share(
            directions[ContactDirection.SYSTEM_REMINDER_PROMPTED],
            logged,
            logged_people,
            units=True,
        ),
        key_function_coverage=coverage,
        engagement_by_month=by_month,
    )


def _gap_stats(code: str, kind: str, gaps: list[_Gap], period: Period, cells: _Cells) -> GapStats:
    end_s = period.end_s
    people = {g.participant for g in gaps}
    n = len(people)
    closed_days: list[float] = []
    closed_people: set[str] = set()
    cancelled = still_open = 0
    bins = {"0-30": 0, "31-60": 0, "61-90": 0, ">90": 0, "open": 0, "cancelled": 0}
    within: dict[int, list[int]] = {d: [0, 0] for d in CLOSURE_DAYS}  # [closed, eligible]
    within_people: dict[int, set[str]] = {d: set() for d in CLOSURE_DAYS}
    for gap in gaps:
        state, ended = gap.state_at(end_s)
        days = None if ended is None else (ended - gap.opened_at) / DAY_S
        if state == "closed" and days is not None:
            closed_days.append(days)
            closed_people.add(gap.participant)
            bin_name = (
                "0-30"
                if days <= 30
                else "31-60"
                if days <= 60
                else "61-90"
                if days <= 90
                else ">90"
            )
            bins[bin_name] += 1
        elif state == "cancelled":
            cancelled += 1
            bins["cancelled"] += 1
        else:
            still_open += 1
            bins["open"] += 1
        for limit in CLOSURE_DAYS:
            if gap.opened_at + limit * DAY_S > end_s:
                continue  # not followed up long enough: censored
            if state == "cancelled" and days is not None and days <= limit:
                continue  # stopped applying before the deadline
            within[limit][1] += 1
            within_people[limit].add(gap.participant)
            if state == "closed" and days is not None and days <= limit:
                within[limit][0] += 1
    shares = {
        limit: cells.share(done, eligible, len(within_people[limit]), units=True)
        for limit, (done, eligible) in within.items()
    }
    suppressed = 0 < n < cells.min_cell
    closed_n = len(closed_people)
    return GapStats(
        code=code,
        kind=kind,
        opened=cells.count(len(gaps), n),
        closed=cells.count(len(closed_days), n),
        cancelled=cells.count(cancelled, n),
        still_open=cells.count(still_open, n),
        median_days_to_closure=cells.figure(
            statistics.median(closed_days) if closed_days else None, closed_n
        ),
        p90_days_to_closure=cells.figure(
            nearest_rank(closed_days, 0.9) if closed_days else None, closed_n
        ),
        closed_within_30d_share=shares[30],
        closed_within_60d_share=shares[60],
        closed_within_90d_share=shares[90],
        closure_time_bins=None if suppressed else bins,
    )


def _clinic_evidence(index: _Index, participant: str, low: float, high: float) -> bool:
    for m in index.measures.get(participant, ()):
        if m.source in _CLINIC_SOURCES and low <= m.at <= high:
            return True
    return any(low <= at <= high for at in index.kept_appointments.get(participant, ()))


def _linkage(
    index: _Index,
    cohort: list[_Episode],
    period: Period,
    cells: _Cells,
    evidence_window_s: float,
) -> Linkage:
    keys = {e.key for e in cohort}
    start_s, end_s = period.start_s, period.end_s
    gaps = [
        g
        for g in index.gaps
        if (g.participant, g.programme) in keys and start_s <= g.opened_at < end_s
    ]
    by_kind: dict[str, list[_Gap]] = defaultdict(list)
    by_code: dict[tuple[str, str], list[_Gap]] = defaultdict(list)
    for gap in gaps:
        by_kind[gap.kind].append(gap)
        by_code[(gap.kind, gap.code)].append(gap)
    kinds = {
        kind.value: _gap_stats("all", kind.value, by_kind.get(kind.value, []), period, cells)
        for kind in GapKind
    }
    codes = [
        _gap_stats(code, kind, items, period, cells)
        for (kind, code), items in sorted(by_code.items())
    ]

    size = len(cohort)
    months = sum(e.exposure_s for e in cohort) / MONTH_S
    flags = by_kind.get(GapKind.RED_FLAG.value, [])
    per_priority: dict[str, Figure] = {}
    for priority in (*Priority, None):
        chosen = [f for f in flags if priority is None or f.priority == priority.value]
        label = "all" if priority is None else priority.value
        per_priority[label] = cells.rate(len(chosen), months, size, scale=100.0)

    eligible = [f for f in flags if f.opened_at + evidence_window_s <= end_s]
    followed = sum(
        1
        for f in eligible
        if _clinic_evidence(index, f.participant, f.opened_at, f.opened_at + evidence_window_s)
    )
    return Linkage(
        gaps_by_kind=kinds,
        gaps_by_code=codes,
        red_flags_per_100_participant_months=per_priority,
        red_flags_with_clinic_evidence_share=cells.share(
            followed, len(eligible), len({f.participant for f in eligible}), units=True
        ),
    )


Pair = tuple[float, float]


def _pairs(
    index: _Index,
    cohort: list[_Episode],
    period: Period,
    kind: str,
    accept: Callable[[_Measure], bool],
) -> list[tuple[_Measure, _Measure]]:
    """(baseline, follow-up) measurements per episode that has both."""
    pairs = []
    for episode in cohort:
        measures = [
            m for m in index.measures.get(episode.participant, ()) if m.kind == kind and accept(m)
        ]
        candidates = [
            m
            for m in measures
            if episode.enrol_at - BASELINE_BEFORE_S <= m.at <= episode.enrol_at + BASELINE_AFTER_S
        ]
        if not candidates:
            continue
        # Closest to enrolment; on a tie the earlier one (measured before any support).
        baseline = min(candidates, key=lambda m: (abs(m.at - episode.enrol_at), m.at))
        later = [
            m
            for m in measures
            if m.at >= baseline.at + FOLLOW_UP_AFTER_S and period.start_s <= m.at < period.end_s
        ]
        if later:
            pairs.append((baseline, later[-1]))
    return pairs


def _change(pairs: Sequence[Pair], cells: _Cells, *, drop_share: bool = False) -> ChangeStats:
    n = len(pairs)
    changes = [after - before for before, after in pairs]
    drop: Figure | None = None
    if drop_share:
        dropped = sum(1 for d in changes if d <= -1.0 + _EPS)
        drop = cells.share(dropped, n, n)
    return ChangeStats(
        baseline_mean=cells.figure(statistics.fmean(b for b, _ in pairs) if n else None, n),
        follow_up_mean=cells.figure(statistics.fmean(a for _, a in pairs) if n else None, n),
        mean_change=cells.figure(statistics.fmean(changes) if n else None, n),
        median_change=cells.figure(statistics.median(changes) if n else None, n),
        drop_ge_1_share=drop,
    )


def _stratum(baseline: float) -> str:
    if baseline < 8.0:
        return "<8"
    if baseline <= 9.0:
        return "8-9"
    return ">9"


def _values(pairs: Iterable[tuple[_Measure, _Measure]], second: bool = False) -> list[Pair]:
    out = []
    for before, after in pairs:
        b = before.value2 if second else before.value1
        a = after.value2 if second else after.value1
        if a is not None and b is not None:
            out.append((b, a))
    return out


def _outcomes(index: _Index, cohort: list[_Episode], period: Period, cells: _Cells) -> Outcomes:
    def any_source(_m: _Measure) -> bool:
        return True

    hba1c = _values(_pairs(index, cohort, period, "hba1c", lambda m: m.source != "self_report"))
    strata: dict[str, list[Pair]] = {"<8": [], "8-9": [], ">9": []}
    for pair in hba1c:
        strata[_stratum(pair[0])].append(pair)
    bp = _pairs(index, cohort, period, "blood_pressure", any_source)
    return Outcomes(
        note=OBSERVATIONAL_NOTE,
        hba1c=_change(hba1c, cells, drop_share=True),
        hba1c_by_baseline_stratum={
            name: _change(items, cells, drop_share=True) for name, items in strata.items()
        },
        systolic_bp=_change(_values(bp), cells),
        diastolic_bp=_change(_values(bp, second=True), cells),
        dds2_mean=_change(_values(_pairs(index, cohort, period, "dds2", any_source)), cells),
        phq9_total=_change(_values(_pairs(index, cohort, period, "phq9", any_source)), cells),
    )


def _block(
    index: _Index,
    cohort: list[_Episode],
    period: Period,
    cells: _Cells,
    evidence_window_s: float,
) -> MetricsBlock:
    return MetricsBlock(
        reach=_reach(index, cohort, period, cells),
        dose=_dose(index, cohort, period, cells),
        linkage=_linkage(index, cohort, period, cells, evidence_window_s),
        outcomes=_outcomes(index, cohort, period, cells),
    )


def compute_metrics(
    facts: Facts,
    *,
    period: Period,
    programme_id: str | None = None,
    model: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    evidence_window_days: int = 30,
) -> ProgrammeMetrics:
    """Reach, dose, linkage and outcomes of one programme (or all), overall and per model."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    index = _Index(facts, programme_id)
    cells = _Cells(min_cell)
    evidence_s = evidence_window_days * DAY_S
    overall = _block(index, index.cohort(period, model), period, cells, evidence_s)
    by_model: dict[str, MetricsBlock] = {}
    if model is None:
        models = sorted({e.model for e in index.cohort(period, None)})
        for name in models:
            by_model[name] = _block(index, index.cohort(period, name), period, cells, evidence_s)
    return ProgrammeMetrics(
        programme_id=programme_id,
        model=model,
        period_from=period.start,
        period_to=period.end,
        min_cell=min_cell,
        observational_note=OBSERVATIONAL_NOTE,
        overall=overall,
        by_model=by_model,
    )
