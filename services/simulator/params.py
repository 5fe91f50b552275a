"""Parameters of the synthetic programme population, with where each number comes from.

Source ids ``[S#]`` refer to reference/seed_domain.md section 10; ``[rules]`` is
reference/care_gap_rules.md. Numbers marked *assumption* have no source in the seed and were
chosen to be plausible; docs/simulator.md lists every parameter with its source.

Everything here is a frozen, keyword-only dataclass so a configuration is a value: two runs
with equal configurations and the same seed produce byte-identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from schemas.topics import DEFAULT_PARTITIONS
from schemas.vocabulary import SupportModel

__all__ = [
    "DEFAULT_PROFILES",
    "DEFAULT_START",
    "ClinicParams",
    "ModelProfile",
    "ParticipantParams",
    "RedFlagParams",
    "SimulationConfig",
]

#: A Monday, so weekly cadences line up with calendar weeks; fixed so output never depends on
#: the day the simulator runs.
DEFAULT_START = datetime(2025, 1, 6, tzinfo=UTC)

_DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """How one peer-support model engages participants and what it changes.

    Contact rates are *completed* contacts per participant-month among engaged participants;
    they decline exponentially from ``contacts_month1`` to ``contacts_month6``, the shape
    reported for coaching calls [S26] and bridged partner calls [S20].
    """

    model: SupportModel
    #: Share of the cohort enrolled in programmes of this model (*assumption*).
    share: float
    #: Programmes run for this model (at least one per model, as the brief asks).
    programmes: int = 1
    #: Baseline HbA1c (%) of enrolees: normal, truncated to [minimum, 14].
    baseline_a1c_mean: float
    baseline_a1c_sd: float = 1.3
    #: Enrolment criterion, e.g. HbA1c >= 8 % for peer coaching [S25].
    baseline_a1c_min: float = 5.8
    #: HbA1c change (points) at 12 months for a fully engaged participant with a baseline
    #: 2 points above 6.5 %; scaled down for lower baselines [S20, S41, S51].
    a1c_change_engaged: float
    #: Share who never take part (never attend a group, never answer, never post).
    never_engaged: float
    contacts_month1: float = 0.0
    contacts_month6: float = 0.0
    #: Share of contact attempts that fail (no answer, voicemail, missed call).
    attempt_fail_share: float = 0.0
    minutes_month1: float = 0.0
    minutes_month6: float = 0.0
    #: Group sessions: participants per group (0 = the model runs no groups).
    group_size: int = 0
    #: Day offsets of the planned group sessions, counted from the group's start.
    session_days: tuple[int, ...] = ()
    #: Probability that an ever-attender comes to a given session at the start, and after
    #: six months (linear in between, flat after).
    attendance_start: float = 0.0
    attendance_month6: float = 0.0
    #: Participants per supporter (coach, CHW, moderator); groups get one leader each.
    caseload: int = 20
    #: Probability that a completed one-to-one contact carries a glucose reading, a BP
    #: reading, medication-adherence answers.
    p_glucose: float = 0.0
    p_bp: float = 0.0
    p_adherence: float = 0.0
    #: Days between distress (DDS-2) and depression (PHQ-2, then PHQ-9 when PHQ-2 >= 3)
    #: screens done by peers; 0 = the model does not screen.
    dds2_every_days: int = 0
    phq_every_days: int = 0

    def monthly_rate(self, months_since_enrolment: float) -> float:
        """Mean completed contacts per month, exponential decline month 1 -> month 6."""
        if self.contacts_month1 <= 0:
            return 0.0
        decay = _decay(self.contacts_month1, self.contacts_month6)
        return self.contacts_month1 * math.exp(-decay * max(0.0, months_since_enrolment))

    def minutes(self, months_since_enrolment: float) -> float:
        if self.minutes_month1 <= 0:
            return 0.0
        decay = _decay(self.minutes_month1, self.minutes_month6)
        return self.minutes_month1 * math.exp(-decay * max(0.0, months_since_enrolment))

    def attendance(self, months_since_enrolment: float) -> float:
        share = min(1.0, max(0.0, months_since_enrolment / 6.0))
        return self.attendance_start + (self.attendance_month6 - self.attendance_start) * share


def _decay(month1: float, month6: float) -> float:
    """Exponential rate (per month) going from ``month1`` to ``month6`` in five months."""
    if month6 <= 0 or month6 >= month1:
        return 0.0
    return math.log(month1 / month6) / 5.0


def _weekly(n: int) -> tuple[int, ...]:
    return tuple(7 * i for i in range(n))


#: The six models. Evidence per number: docs/simulator.md, "Models".
DEFAULT_PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        model=SupportModel.PROFESSIONAL_LED_GROUP,
        share=0.15,
        # Non-insulin-treated type 2 patients in the Turin trial [S37].
        baseline_a1c_mean=7.8,
        # VA shared medical appointments: -0.35 at 6 months, -0.53 with >= 50 % attendance
        # [S39]; Trento: lower HbA1c at 2 years [S37].
        a1c_change_engaged=-0.5,
        # Never-attenders of group meetings: 18 % [S33].
        never_engaged=0.18,
        # Groups of 9-10 meeting every 3 months [S37].
        group_size=10,
        session_days=(0, 91, 182, 273),
        attendance_start=0.85,
        attendance_month6=0.7,
        caseload=60,
        p_bp=0.9,
        dds2_every_days=182,
        phq_every_days=365,
    ),
    ModelProfile(
        model=SupportModel.PEER_LED_GROUP,
        share=0.2,
        # "Baseline A1C low" in the community DSMP trial [S31].
        baseline_a1c_mean=7.6,
        # No HbA1c effect in DSMP [S31], Smith 2011 [S33] or RAPSID [S34].
        a1c_change_engaged=0.0,
        never_engaged=0.18,  # [S33]
        # Six weekly DSMP sessions [S31], then monthly groups for the year [S35].
        group_size=12,
        session_days=(*_weekly(6), *(35 + 30 * i for i in range(1, 11))),
        # RAPSID: only 61.4 % attended a face-to-face session [S34].
        attendance_start=0.8,
        attendance_month6=0.55,
        caseload=12,
        dds2_every_days=182,
    ),
    ModelProfile(
        model=SupportModel.PEER_COACH,
        share=0.2,
        # Coached patients had HbA1c >= 8.0 % [S25]; mentees 9.8 % at baseline [S26].
        baseline_a1c_mean=9.3,
        baseline_a1c_min=8.0,
        # -1.07 with coaches vs -0.3 usual care [S25].
        a1c_change_engaged=-1.07,
        never_engaged=0.08,  # assumption
        # Mentor calls: mean 4 in month 1, mean 2 by month 6 [S26].
        contacts_month1=4.0,
        contacts_month6=2.0,
        attempt_fail_share=0.3,  # assumption
        minutes_month1=22.0,  # assumption
        minutes_month6=15.0,  # assumption
        caseload=10,  # assumption (23 coaches in [S25])
        p_glucose=0.45,
        p_bp=0.1,
        p_adherence=0.3,
        dds2_every_days=91,
        phq_every_days=182,
    ),
    ModelProfile(
        model=SupportModel.COMMUNITY_HEALTH_WORKER,
        share=0.2,
        # REACH Detroit: 8.6 % at baseline, adjusted -0.8 points [S42].
        baseline_a1c_mean=8.6,
        a1c_change_engaged=-0.8,
        never_engaged=0.05,  # assumption
        # Presley: 12 weekly calls, then monthly [S49]; REACH home visits [S42].
        contacts_month1=4.0,
        contacts_month6=1.0,
        attempt_fail_share=0.2,  # assumption
        minutes_month1=45.0,  # assumption (home visit)
        minutes_month6=30.0,  # assumption
        caseload=30,  # assumption
        # CHWs measure BP (up to 3 times), review the meter and check feet [S47].
        p_glucose=0.6,
        p_bp=0.7,
        p_adherence=0.4,
        dds2_every_days=91,
        phq_every_days=182,
    ),
    ModelProfile(
        model=SupportModel.TELEPHONE_PEER_PARTNER,
        share=0.15,
        # RPS trial enrolled HbA1c > 7.5 % [S20].
        baseline_a1c_mean=8.3,
        baseline_a1c_min=7.5,
        # -0.29 with reciprocal peer support [S20].
        a1c_change_engaged=-0.29,
        # Between > 80 % of pairs talking weekly [S21] and 55 % taking part [S23].
        never_engaged=0.2,
        # Calls 2.4/month at 15.6 min in month 1, 0.8/month at 6.8 min in month 6 [S20].
        contacts_month1=2.4,
        contacts_month6=0.8,
        attempt_fail_share=0.35,  # assumption
        minutes_month1=15.6,
        minutes_month6=6.8,
        # Optional group sessions at months 1, 3 and 6 [S20]; groups of the programme.
        group_size=16,
        session_days=(30, 91, 182),
        attendance_start=0.6,
        attendance_month6=0.45,
        caseload=200,
        dds2_every_days=182,
    ),
    ModelProfile(
        model=SupportModel.ONLINE_COMMUNITY,
        share=0.1,
        baseline_a1c_mean=7.9,  # assumption
        # Online DSMP improved A1C at 6 months [S51]; small effects [S52].
        a1c_change_engaged=-0.2,
        # Lurkers who never post (inactivity is a named consequence [S53]): assumption.
        never_engaged=0.4,
        contacts_month1=3.0,  # posts and replies, assumption
        contacts_month6=1.0,
        caseload=150,
        p_glucose=0.1,
    ),
)


@dataclass(frozen=True, kw_only=True)
class ParticipantParams:
    """The participants themselves (all *assumptions* unless a source is named)."""

    #: Type 1 share of adults with diabetes (about 5-10 %).
    type1_share: float = 0.08
    #: Consent to share with their clinic at enrolment.
    consent_share: float = 0.75
    #: Of consenters, share who withdraw consent during the period.
    consent_withdraw_share: float = 0.04
    #: Of non-consenters, share who grant consent later.
    consent_later_share: float = 0.25
    #: Enrolment is staggered over the first days of the period (reach, time to first contact).
    enrolment_window_days: int = 60
    #: Leaving the programme during the period, by reason.
    withdraw_share: float = 0.06
    lost_share: float = 0.06
    moved_share: float = 0.02
    #: Less stringent HbA1c goal of 8 % (ADA allows it for some people [rules 1.1]).
    relaxed_goal_share: float = 0.15
    #: On insulin or a sulfonylurea (type 2); type 1 always on insulin.
    insulin_or_su_share_t2: float = 0.35
    #: IWGDF foot risk 0/1/2/3 [rules 1.4].
    foot_risk_weights: tuple[float, float, float, float] = (0.6, 0.25, 0.1, 0.05)
    established_ckd_share: float = 0.1
    #: Usual blood pressure (mmHg) across participants, and reading-to-reading noise.
    systolic_mean: float = 136.0
    systolic_sd: float = 15.0
    diastolic_mean: float = 82.0
    diastolic_sd: float = 9.0
    bp_reading_sd: float = 8.0
    #: HbA1c noise between lab measurements (points) and drift without support (per year).
    a1c_measure_sd: float = 0.25
    a1c_drift_per_year: float = 0.1
    #: Glucose readings: lognormal around the ADAG mean glucose 28.7 x A1c - 46.7 mg/dL.
    glucose_sigma_t2: float = 0.28
    glucose_sigma_t1: float = 0.42
    #: Per-participant distress (DDS-2 mean item score; >= 3 is high [S56]).
    distress_mean: float = 2.3
    distress_sd: float = 0.9
    #: Per-participant PHQ-9 level (>= 10 moderate or worse [S57]).
    phq9_mean: float = 6.0
    phq9_sd: float = 5.0
    #: Share of PHQ-9 screens with item 9 above 0 (red flag RF14).
    item9_positive_share: float = 0.03
    #: Share of peer programmes that log glucose in mmol/L rather than mg/dL.
    mmol_programme_share: float = 0.34
    #: Medication not taken as prescribed when asked [S47 flag; rate assumed].
    nonadherence_share: float = 0.25


@dataclass(frozen=True, kw_only=True)
class ClinicParams:
    """What the clinics send back on ``clinic.fhir.inbound`` (all *assumptions* unless noted)."""

    clinics: int = 4
    #: Share of clinics reporting HbA1c in mmol/mol (LOINC 59261-8) rather than % (4548-4).
    si_clinic_share: float = 0.5
    #: HbA1c is due every 6 months at goal, every 3 months above it [rules 1.1]; the share of
    #: due tests actually done, and the spread of when they are done.
    a1c_interval_at_goal_days: int = 182
    a1c_interval_above_goal_days: int = 91
    a1c_done_share: float = 0.7
    #: Share of participants whose last HbA1c (before enrolment) the clinic sends on linkage.
    baseline_a1c_share: float = 0.85
    baseline_a1c_max_age_days: int = 150
    #: Annual tests/exams done within the year [rules 1.3-1.5, 1.8].
    kidney_done_share: float = 0.6
    eye_done_share: float = 0.55
    foot_done_share: float = 0.6
    #: Foot exams recorded with all three parts (visual, monofilament, pulses) [rules 5].
    foot_comprehensive_share: float = 0.85
    phq9_done_share: float = 0.5
    retinopathy_share: float = 0.2
    #: Eye exams done as autonomous-AI screening (LOINC 105914-6) rather than a procedure.
    eye_ai_share: float = 0.4
    #: Abnormal UACR (>= 30 mg/g) or eGFR (< 60) repeated within 3-6 months [rules 1.5].
    kidney_repeat_share: float = 0.6
    #: Diabetes review visits every ~3 months; outcome shares.
    visit_interval_days: int = 91
    no_show_share: float = 0.18
    cancel_share: float = 0.05
    #: Kept visits sent as Encounter (finished) instead of Appointment (fulfilled).
    encounter_share: float = 0.3
    #: Days from a lab's clinical date until the clinic sends it.
    lab_delay_days: tuple[int, int] = (1, 4)
    #: Share of lab sends grouped in one Bundle (same day, several results).
    bundle_share: float = 0.4
    #: Share of UACR results in mg/mmol (SI) rather than mg/g.
    uacr_si_share: float = 0.3


@dataclass(frozen=True, kw_only=True)
class RedFlagParams:
    """Rare events reported at completed one-to-one contacts (*assumptions*, codes [rules 4])."""

    #: Hypoglycaemia reported at a contact, by diabetes type / treatment.
    hypo_report_t1: float = 0.15
    hypo_report_insulin_t2: float = 0.05
    hypo_report_other: float = 0.01
    #: ADA level of a reported hypoglycaemia (1, 2, 3) [S54].
    hypo_level_weights: tuple[float, float, float] = (0.6, 0.35, 0.05)
    chest_pain: float = 0.001
    new_foot_wound: float = 0.002
    new_foot_wound_chw: float = 0.004
    dka_signs_t1: float = 0.003
    sick_day: float = 0.002
    #: Online moderation, per post [S53 categories].
    post_misinformation: float = 0.02
    post_risky: float = 0.01
    post_acute: float = 0.004


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """One simulation run. ``SimulationConfig(participants=50, seed=7)`` is a small cohort."""

    participants: int = 500
    months: int = 12
    seed: int = 20250106
    start: datetime = DEFAULT_START
    #: Clock ticks every ``tick_every_days`` days, one per partition of caregaps.clock.v1.
    tick_every_days: int = 1
    clock_partitions: int = DEFAULT_PARTITIONS
    #: Share of extra junk submissions (broken JSON, impossible values, unknown codes), on top
    #: of the valid stream, to show the dead-letter path.
    invalid_share: float = 0.005
    #: Participant keys are ``<key_prefix>-000001``...
    key_prefix: str = "p"
    profiles: tuple[ModelProfile, ...] = DEFAULT_PROFILES
    people: ParticipantParams = field(default_factory=ParticipantParams)
    clinic: ClinicParams = field(default_factory=ClinicParams)
    red_flags: RedFlagParams = field(default_factory=RedFlagParams)

    def __post_init__(self) -> None:
        if self.participants < 1:
            raise ValueError("participants must be at least 1")
        if not 1 <= self.months <= 60:
            raise ValueError("months must be between 1 and 60")
        if self.tick_every_days < 1:
            raise ValueError("tick_every_days must be at least 1")
        if self.clock_partitions < 1:
            raise ValueError("clock_partitions must be at least 1")
        if not 0.0 <= self.invalid_share <= 0.5:
            raise ValueError("invalid_share must be between 0 and 0.5")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        models = [p.model for p in self.profiles]
        if len(set(models)) != len(models) or not models:
            raise ValueError("profiles must name each model at most once, and at least one")
        if any(p.share < 0 for p in self.profiles) or sum(p.share for p in self.profiles) <= 0:
            raise ValueError("model shares must be non-negative and not all zero")

    @property
    def days(self) -> int:
        """Length of the simulated period in days (months of 30.4375 days, rounded)."""
        return round(self.months * _DAYS_PER_MONTH)

    def profile(self, model: SupportModel) -> ModelProfile:
        for candidate in self.profiles:
            if candidate.model is model:
                return candidate
        raise KeyError(model)

    def with_changes(self, **changes: object) -> SimulationConfig:
        """A copy with some fields replaced (CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]
