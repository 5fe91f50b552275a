"""The shape of the evaluation figures: what each metric means, written once.

Every metric is a :class:`Figure` carrying the number of participants behind it. The docstring
under each field is its definition; pydantic copies it into the OpenAPI schema, so the API
documents exactly what the code computes (``services.evaluation.metrics``).

Conventions used by every definition:

* **Window**: ``from`` 00:00 UTC to the end of ``to`` (inclusive dates).
* **Cohort**: participants enrolled in the programme (first enrolment) before the end of the
  window and not exited before its start. One programme enrolment is one *episode*.
* **Exposure**: the part of the window between enrolment and exit (or the window end).
* **Participant-month**: 30.4375 days (365.25 / 12) of exposure; **week**: 7 days.
* **Completed contact**: outcome ``completed``; a group-session record counts only when the
  participant attended.
* **Small cells**: a figure resting on fewer than ``min_cell`` participants is suppressed
  (``value`` and ``n`` are null, ``suppressed`` is true).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

__all__ = [
    "OBSERVATIONAL_NOTE",
    "ChangeStats",
    "Dose",
    "Figure",
    "GapStats",
    "Linkage",
    "MetricsBlock",
    "MonthFigure",
    "Outcomes",
    "ProgrammeMetrics",
    "Reach",
]

OBSERVATIONAL_NOTE = (
    "Observational programme data: changes are before/after differences among participants "
    "with both measurements, without a control group. They describe what happened, not what "
    "the programme caused; report them alongside dose and linkage figures."
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")


class Figure(_Model):
    """One number and the participants behind it."""

    value: float | None = None
    """The figure; null when suppressed or when there is nothing to compute it from."""
    n: int | None = None
    """Participants the figure rests on (null when suppressed)."""
    count: int | None = None
    """Units the figure is computed over when they are not participants (contacts, weeks,
    gaps, red flags)."""
    numerator: int | None = None
    """For a share: how many of ``count`` (or of ``n``) met the condition."""
    suppressed: bool = False
    """True when fewer than ``min_cell`` participants stand behind the figure."""


class MonthFigure(_Model):
    month: int
    """Month since enrolment (1 = the first 30.4375 days)."""
    contacts_per_participant: Figure
    """Completed contacts in that month per participant observed for the whole month."""


class Reach(_Model):
    enrolled: Figure
    """Participants in the cohort (enrolled before the window end, not exited before its
    start)."""
    newly_enrolled: Figure
    """Cohort participants whose enrolment falls inside the window."""
    ever_contacted_share: Figure
    """Share of the cohort with at least one completed contact during their exposure."""
    days_to_first_contact_median: Figure
    """Median days from enrolment to the first completed contact, among newly enrolled
    participants contacted before exit or the window end (the others are counted in
    ``not_yet_contacted``)."""
    days_to_first_contact_p90: Figure
    """90th percentile (nearest rank) of the same days."""
    not_yet_contacted: Figure
    """Newly enrolled participants without a completed contact by exit or the window end."""
    consent_share: Figure
    """Share of the cohort whose latest consent state before the window end allows sharing
    with their clinic (enrolment consent, updated by consent-changed events)."""
    exited: Figure
    """Cohort participants who exited during the window (any reason)."""
    withdrew: Figure
    """Cohort participants who exited during the window with reason ``withdrew``."""


class Dose(_Model):
    participant_months: Figure
    """Sum of exposure over the cohort, in participant-months."""
    contacts_per_participant_month: Figure
    """Completed contacts during exposure / participant-months."""
    minutes_per_participant_month: Figure
    """Minutes of completed contacts during exposure / participant-months (a bridged call
    without a logged duration uses its platform start and end)."""
    weekly_contact_share: Figure
    """Share of participant-weeks with at least one completed contact. Weeks are counted from
    enrolment; only weeks lying wholly inside the exposure count (``count`` = weeks)."""
    month1_contacts_per_participant: Figure
    """Completed contacts in month 1 after enrolment per participant observed for all of
    month 1 inside the window."""
    month6_contacts_per_participant: Figure
    """The same for month 6; participants who exited earlier are not observed in month 6."""
    month6_to_month1_ratio: Figure
    """Month-6 rate / month-1 rate (below 1 = engagement decline); n is the smaller group."""
    never_engaged_share: Figure
    """Share of cohort participants enrolled at least 30 days before the window end who had
    no completed contact at all between enrolment and exit or the window end."""
    group_half_attendance_share: Figure
    """Among participants with group-session records in their exposure: share who attended
    at least half the sessions planned (planned = the largest ``sessions_planned`` recorded,
    else the number of distinct sessions recorded for them)."""
    group_session_attendance_rate: Figure
    """Attended group-session records / all group-session records (``count`` = records)."""
    completed_share: Figure
    """Completed contacts / all logged contacts (attempts included) during exposure."""
    proactive_share: Figure
    """Logged contacts started by the supporter / all logged contacts."""
    participant_initiated_share: Figure
    """Logged contacts started by the participant / all logged contacts."""
    reminder_prompted_share: Figure
    """Logged contacts prompted by a system reminder / all logged contacts."""
    key_function_coverage: dict[str, Figure]
    """Per Peers for Progress key function: share of the cohort with at least one completed
    contact tagged with it during exposure. ``all_four`` = daily management, social and
    emotional support, linkage (clinical care or community resources) and ongoing support."""
    engagement_by_month: list[MonthFigure]
    """Months 1-12 after enrolment (see :class:`MonthFigure`)."""


class GapStats(_Model):
    code: str
    """Gap code, or ``all`` for every code of the kind."""
    kind: str
    """``care_gap``, ``red_flag`` or ``engagement``."""
    opened: Figure
    """Gaps opened during the window (``count``); n = participants with such a gap."""
    closed: Figure
    """Of those, closed before the window end."""
    cancelled: Figure
    """Of those, cancelled (no longer applicable) before the window end."""
    still_open: Figure
    """Of those, still open at the window end (censored)."""
    median_days_to_closure: Figure
    """Median days from opening to closure among the closed ones (ignores still-open gaps,
    so read it with the within-N-days shares)."""
    p90_days_to_closure: Figure
    """90th percentile (nearest rank) of the same days."""
    closed_within_30d_share: Figure
    """Among gaps opened at least 30 days before the window end and not cancelled within 30
    days of opening: share closed within 30 days."""
    closed_within_60d_share: Figure
    """The same with 60 days."""
    closed_within_90d_share: Figure
    """The same with 90 days."""
    closure_time_bins: dict[str, int] | None
    """Gaps opened in the window by how they ended: closed within 0-30, 31-60, 61-90 or more
    than 90 days, still open, cancelled (null when suppressed)."""


class Linkage(_Model):
    gaps_by_kind: dict[str, GapStats]
    """Gap statistics per kind, all codes of the kind together."""
    gaps_by_code: list[GapStats]
    """Gap statistics per gap code."""
    red_flags_per_100_participant_months: dict[str, Figure]
    """Red-flag gaps opened during the window per 100 participant-months, by the priority
    the engine gave them at opening, and ``all``."""
    red_flags_with_clinic_evidence_share: Figure
    """Among red flags opened at least the evidence window (default 30 days) before the window
    end: share followed within that window by clinic evidence for the participant (a final
    clinic lab or EHR result, or a kept appointment)."""


class ChangeStats(_Model):
    baseline_mean: Figure
    """Mean baseline value. Baseline = the measurement closest to enrolment within 90 days
    before to 30 days after it."""
    follow_up_mean: Figure
    """Mean follow-up value. Follow-up = the latest measurement at least 90 days after the
    baseline and inside the window (also after exit: intention to treat)."""
    mean_change: Figure
    """Mean of follow-up minus baseline, among participants with both."""
    median_change: Figure
    """Median of the same differences."""
    drop_ge_1_share: Figure | None = None
    """HbA1c only: share whose HbA1c fell by at least 1.0 percentage point."""


class Outcomes(_Model):
    note: str
    """How to read these figures (observational)."""
    hba1c: ChangeStats
    """HbA1c (NGSP %) from final, amended or corrected results; self-reported values are
    not used."""
    hba1c_by_baseline_stratum: dict[str, ChangeStats]
    """The same, split by baseline HbA1c: ``<8`` (below 8.0 %), ``8-9`` (8.0 to 9.0 %),
    ``>9`` (above 9.0 %)."""
    systolic_bp: ChangeStats
    """Systolic blood pressure (mmHg), clinic or peer-measured readings."""
    diastolic_bp: ChangeStats
    """Diastolic blood pressure (mmHg) of the same readings."""
    dds2_mean: ChangeStats
    """Diabetes distress (DDS-2 mean item score, 1-6; 3 or more = high distress)."""
    phq9_total: ChangeStats
    """Depressive symptoms (PHQ-9 total, 0-27)."""


class MetricsBlock(_Model):
    reach: Reach
    dose: Dose
    linkage: Linkage
    outcomes: Outcomes


class ProgrammeMetrics(_Model):
    programme_id: str | None
    """The programme, or null for every programme in the store."""
    model: str | None
    """The peer-support model the figures are restricted to, or null for all."""
    period_from: date
    period_to: date
    min_cell: int
    """Smallest number of participants a published figure may rest on."""
    observational_note: str
    overall: MetricsBlock
    """Figures for the selection (programme, and model when given)."""
    by_model: dict[str, MetricsBlock]
    """The same figures per peer-support model (empty when a model was selected)."""
