"""Clinical care gaps derived from facts: HbA1c, eye, foot, kidney, blood pressure, mood.

Each rule is a pure function of the participant's facts, the log time ``now`` and the policy,
so any arrival order of the same results yields the same gaps (care_gap_rules.md 6.1).
Rolling windows count whole days: "within 183 days" means ``today - result_day <= 183``.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.vocabulary import GapCode, Priority
from services.caregaps.policy import RulePolicy
from services.caregaps.rules.facts import View, day_start, latest_day, utc_day
from services.caregaps.rules.model import DAY_S, Clearance, Finding, Outcome
from services.caregaps.state import FAR_FUTURE, ParticipantState, Profile, Result

__all__ = [
    "CLINICAL_RULES",
    "a1c_at_goal",
    "a1c_gaps",
    "a1c_goal",
    "blood_pressure_gaps",
    "depression_gaps",
    "distress_gaps",
    "eye_gaps",
    "foot_gaps",
    "kidney_gaps",
]


def _num(value: float) -> str:
    """7.0 -> "7", 8.5 -> "8.5": thresholds inside coded reasons."""
    return f"{value:g}"


def _ids(results: list[Result], limit: int = 16) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for r in results:
        seen.setdefault(r.event_id, None)
    return tuple(sorted(seen))[:limit]


def _rids(results: list[Result]) -> tuple[str, ...]:
    return tuple(sorted({r.rid for r in results if r.rid}))


def _due(
    code: GapCode,
    noun: str,
    last: Result | None,
    window_days: int,
    *,
    profile: Profile,
    now: int,
    policy: RulePolicy,
) -> Outcome:
    """Overdue when the newest qualifying result is older than the window.

    With nothing on record the window starts at enrolment plus a grace period, so history
    sent by the clinic can arrive before the gap opens (PeerLink policy).
    """
    today = utc_day(now)
    if last is None:
        since_day = utc_day(profile.since)
        if today - since_day > policy.new_participant_grace_days:
            return [Finding(code, f"no-{noun}-on-record", Priority.ROUTINE)], FAR_FUTURE
        return [Clearance(code, f"{noun}-received")], day_start(
            since_day + policy.new_participant_grace_days + 1
        )
    if today - last.day > window_days:
        finding = Finding(
            code,
            f"no-{noun}-within-{window_days}-days",
            Priority.ROUTINE,
            evidence=(last.event_id,),
        )
        return [finding], FAR_FUTURE
    return [Clearance(code, f"{noun}-received")], day_start(last.day + window_days + 1)


# ---------------------------------------------------------------------------- glycaemia


def a1c_goal(state: ParticipantState, policy: RulePolicy) -> float:
    """The individualised goal if recorded, else the ADA default (rules 1.1)."""
    goal = state.profile.a1c_goal_percent if state.profile else None
    return policy.a1c_goal_percent if goal is None else goal


def _latest_a1c(view: View) -> tuple[float | None, list[Result]]:
    """Lowest value of the most recent HbA1c day (CMS122 tie-break, rules 6.2)."""
    day = latest_day(view.results("hba1c"))
    if not day:
        return None, []
    return min(r.values[0] for r in day), day


def a1c_at_goal(view: View) -> bool:
    value, _ = _latest_a1c(view)
    return value is not None and value < a1c_goal(view.state, view.policy)


def a1c_gaps(view: View) -> Outcome:
    state, now, policy = view.state, view.now, view.policy
    assert state.profile is not None
    value, day = _latest_a1c(view)
    goal = a1c_goal(state, policy)
    at_goal = value is not None and value < goal
    # A level 2/3 hypoglycaemia in the last 3 months calls for quarterly testing (rules 5).
    hypo_until = state.last_hypo.at + policy.a1c_recent_hypo_days * DAY_S if state.last_hypo else 0
    recent_hypo = hypo_until >= now
    window = (
        policy.a1c_interval_at_goal_days
        if at_goal and not recent_hypo
        else policy.a1c_interval_not_at_goal_days
    )
    items, next_at = _due(
        GapCode.A1C_DUE,
        "hba1c",
        day[0] if day else None,
        window,
        profile=state.profile,
        now=now,
        policy=policy,
    )
    if recent_hypo:
        next_at = min(next_at, hypo_until + 1)
    evidence, rids = _ids(day), _rids(day)
    if value is not None and value >= goal:
        items.append(
            Finding(
                GapCode.A1C_ABOVE_GOAL,
                f"hba1c-at-or-above-goal-{_num(goal)}-percent",
                Priority.ROUTINE,
                evidence,
                rids,
            )
        )
    else:
        items.append(Clearance(GapCode.A1C_ABOVE_GOAL, "later-hba1c-below-goal"))
    poor = policy.a1c_poor_control_percent
    if value is not None and value > poor:
        items.append(
            Finding(
                GapCode.A1C_POOR,
                f"hba1c-above-{_num(poor)}-percent",
                Priority.URGENT,
                evidence,
                rids,
            )
        )
    else:
        items.append(Clearance(GapCode.A1C_POOR, f"later-hba1c-{_num(poor)}-percent-or-below"))
    return items, next_at


# ----------------------------------------------------------------------- eye, foot, kidney


def eye_gaps(view: View) -> Outcome:
    """Yearly retinal exam; every 2 years after a negative exam with A1c at goal (rules 1.3).

    Only a read exam counts (the report, not the referral): ``retinopathy_found`` known.
    """
    state, now, policy = view.state, view.now, view.policy
    assert state.profile is not None
    exams = [r for r in view.results("retinal_exam") if r.values[0] >= 0]
    last = exams[0] if exams else None
    ever_retinopathy = any(r.values[0] == 1 for r in exams)
    extended = (
        last is not None and last.values[0] == 0 and not ever_retinopathy and a1c_at_goal(view)
    )
    window = policy.eye_interval_negative_at_goal_days if extended else policy.eye_interval_days
    return _due(
        GapCode.EYE_DUE, "retinal-exam", last, window, profile=state.profile, now=now, policy=policy
    )


def foot_gaps(view: View) -> Outcome:
    """Annual comprehensive foot exam, sooner for a recorded IWGDF risk (rules 1.4)."""
    state, now, policy = view.state, view.now, view.policy
    profile = state.profile
    assert profile is not None
    exams = view.results("foot_exam")
    comprehensive = [r for r in exams if r.values[0] == 1]
    risk: int | None = profile.iwgdf_foot_risk
    with_risk = [r for r in exams if r.values[1] >= 0]
    if with_risk and (risk is None or with_risk[0].at >= profile.since):
        risk = int(with_risk[0].values[1])
    window = policy.foot_interval_days if risk is None else policy.foot_interval_by_iwgdf_risk[risk]
    last = comprehensive[0] if comprehensive else None
    return _due(
        GapCode.FOOT_DUE, "foot-exam", last, window, profile=profile, now=now, policy=policy
    )


def kidney_gaps(view: View) -> Outcome:
    """eGFR and UACR both within the window (ADA 11.1a, CMS951), repeat of abnormal (1.5)."""
    state, now, policy = view.state, view.now, view.policy
    profile = state.profile
    assert profile is not None
    window = (
        policy.kidney_interval_ckd_days if profile.established_ckd else policy.kidney_interval_days
    )
    egfrs = view.results("egfr")
    uacrs = view.results("uacr")
    missing: list[str] = []
    present: list[Result] = []
    next_at = FAR_FUTURE
    for noun, results in (("egfr", egfrs), ("uacr", uacrs)):
        items, test_next = _due(
            GapCode.KIDNEY_DUE,
            noun,
            results[0] if results else None,
            window,
            profile=profile,
            now=now,
            policy=policy,
        )
        if isinstance(items[0], Finding):
            missing.append(noun)
        elif results:
            present.append(results[0])
        next_at = min(next_at, test_next)
    out: list[Finding | Clearance] = []
    if missing:
        reason = (
            f"no-egfr-and-uacr-within-{window}-days"
            if len(missing) == 2
            else f"no-{missing[0]}-within-{window}-days"
        )
        out.append(
            Finding(
                GapCode.KIDNEY_DUE,
                reason,
                Priority.ROUTINE,
                _ids(present),
                coding="egfr" if missing == ["egfr"] else "uacr",
            )
        )
    else:
        out.append(Clearance(GapCode.KIDNEY_DUE, "egfr-and-uacr-received"))
    out.append(_kidney_confirm(profile, egfrs, uacrs, policy))
    return out, next_at


def _kidney_confirm(
    profile: Profile, egfrs: list[Result], uacrs: list[Result], policy: RulePolicy
) -> Finding | Clearance:
    """A first abnormal UACR (>= 30 mg/g) or eGFR (< 60) needs a repeat (rules 1.5, 5)."""
    if profile.established_ckd:
        return Clearance(GapCode.KIDNEY_CONFIRM, "established-ckd")

    def is_abnormal(noun: str, value: float) -> bool:
        if noun == "uacr":
            return value >= policy.uacr_abnormal_mg_g
        return value < policy.egfr_abnormal_below

    checks = (
        ("uacr", uacrs, f"{_num(policy.uacr_abnormal_mg_g)}-mg-g-or-more"),
        ("egfr", egfrs, f"below-{_num(policy.egfr_abnormal_below)}"),
    )
    abnormal: list[tuple[str, str, Result]] = []
    confirmed = False
    repeat_normal = False
    for noun, results, label in checks:
        if not results:
            continue
        latest, previous = results[0], results[1] if len(results) > 1 else None
        prev_abnormal = previous is not None and is_abnormal(noun, previous.values[0])
        if is_abnormal(noun, latest.values[0]):
            if prev_abnormal:
                confirmed = True
            else:
                abnormal.append((noun, label, latest))
        elif prev_abnormal:
            repeat_normal = True
    if abnormal:
        noun, label, _ = abnormal[0]
        found = [r for _, _, r in abnormal]
        return Finding(
            GapCode.KIDNEY_CONFIRM,
            f"{noun}-{label}-needs-repeat",
            Priority.URGENT,
            _ids(found),
            _rids(found),
            coding=noun,
        )
    if confirmed:
        return Clearance(GapCode.KIDNEY_CONFIRM, "repeat-abnormal-refer-ckd-workup")
    if repeat_normal:
        return Clearance(GapCode.KIDNEY_CONFIRM, "repeat-normal")
    return Clearance(GapCode.KIDNEY_CONFIRM, "kidney-tests-normal")


# --------------------------------------------------------------------------- blood pressure


def blood_pressure_gaps(view: View) -> Outcome:
    """BP due after 12 months; above goal on the lowest SBP and lowest DBP of the most
    recent day, which may come from different readings (CMS165/BPD, rules 6.2)."""
    state, now, policy = view.state, view.now, view.policy
    profile = state.profile
    assert profile is not None
    readings = view.results("blood_pressure")
    items, next_at = _due(
        GapCode.BP_DUE,
        "blood-pressure",
        readings[0] if readings else None,
        policy.bp_interval_days,
        profile=profile,
        now=now,
        policy=policy,
    )
    day = latest_day(readings)
    if not day:
        items.append(Clearance(GapCode.BP_ABOVE_GOAL, "later-bp-below-goal"))
        return items, next_at
    systolic = min(int(r.values[0]) for r in day)
    diastolic = min(int(r.values[1]) for r in day)
    goal_s = profile.bp_goal_systolic or policy.bp_goal_systolic
    goal_d = profile.bp_goal_diastolic or policy.bp_goal_diastolic
    if systolic >= goal_s or diastolic >= goal_d:
        repeated_high = len(day) >= 2 and (
            systolic >= policy.bp_urgent_systolic or diastolic >= policy.bp_urgent_diastolic
        )
        reason = (
            f"bp-{policy.bp_urgent_systolic}-{policy.bp_urgent_diastolic}-or-more-repeated"
            if repeated_high
            else f"bp-at-or-above-goal-{goal_s}-{goal_d}"
        )
        items.append(
            Finding(
                GapCode.BP_ABOVE_GOAL,
                reason,
                Priority.URGENT if repeated_high else Priority.ROUTINE,
                _ids(day),
                _rids(day),
            )
        )
    else:
        items.append(Clearance(GapCode.BP_ABOVE_GOAL, "later-bp-below-goal"))
    return items, next_at


# ------------------------------------------------------------------------- psychosocial


def _kept_followup(state: ParticipantState, from_day: int) -> bool:
    return any(
        a.status == "kept" and a.purpose == "behavioural_health" and a.scheduled_day >= from_day
        for a in state.appointments
    )


def depression_gaps(view: View) -> Outcome:
    """Annual screen; a positive screen (PHQ-9 >= 10, or PHQ-2 >= 3 without a PHQ-9 that
    day) needs a follow-up (CMS2; rules 5 DM-DEPR-FOLLOWUP).

    Same-day ties take the highest score: for screening, a lower same-day score must not
    hide a positive one (PeerLink policy; rules 6.2 prescribes lowest for A1c/BP only).
    """
    state, now, policy = view.state, view.now, view.policy
    profile = state.profile
    assert profile is not None
    # A PHQ-9 without a total (item 9 asked alone) is not a depression screen.
    screens = [r for r in view.results("phq2", "phq9") if r.values[0] >= 0]
    items, next_at = _due(
        GapCode.DEPRESSION_SCREEN_DUE,
        "depression-screen",
        screens[0] if screens else None,
        policy.depression_screen_interval_days,
        profile=profile,
        now=now,
        policy=policy,
    )
    day = latest_day(screens)
    phq9 = [r for r in day if r.kind == "phq9"]
    positive: tuple[str, list[Result]] | None = None
    if phq9:
        if max(r.values[0] for r in phq9) >= policy.phq9_positive_total:
            positive = (f"phq9-{policy.phq9_positive_total}-or-more", phq9)
    elif day and max(r.values[0] for r in day) >= policy.phq2_positive_total:
        positive = (f"phq2-{policy.phq2_positive_total}-or-more-without-phq9", day)
    if positive is None:
        items.append(Clearance(GapCode.DEPRESSION_FOLLOWUP, "later-screen-negative"))
    elif _kept_followup(state, day[0].day):
        items.append(Clearance(GapCode.DEPRESSION_FOLLOWUP, "behavioural-health-visit-kept"))
    else:
        reason, basis = positive
        items.append(
            Finding(GapCode.DEPRESSION_FOLLOWUP, reason, Priority.URGENT, _ids(basis), _rids(basis))
        )
    return items, next_at


def distress_gaps(view: View) -> Outcome:
    """DDS-2 mean >= 3 high (urgent follow-up), 2.0-2.9 moderate (Fisher 2008; rules 5)."""
    policy = view.policy  # not time-driven: ``view.now`` is not used
    day = latest_day(view.results("dds2"))
    mean = max((r.values[0] for r in day), default=None)
    high, moderate = policy.dds2_high_mean, policy.dds2_moderate_mean
    items: list[Finding | Clearance] = []
    if mean is not None and mean >= high:
        items.append(
            Finding(
                GapCode.DISTRESS_HIGH,
                f"dds2-mean-{_num(high)}-or-more",
                Priority.URGENT,
                _ids(day),
                _rids(day),
            )
        )
        items.append(Clearance(GapCode.DISTRESS_MODERATE, "distress-now-high"))
    elif mean is not None and mean >= moderate:
        items.append(Clearance(GapCode.DISTRESS_HIGH, f"later-dds2-below-{_num(high)}"))
        items.append(
            Finding(
                GapCode.DISTRESS_MODERATE,
                f"dds2-mean-{_num(moderate)}-to-below-{_num(high)}",
                Priority.ROUTINE,
                _ids(day),
                _rids(day),
            )
        )
    else:
        items.append(Clearance(GapCode.DISTRESS_HIGH, f"later-dds2-below-{_num(high)}"))
        items.append(Clearance(GapCode.DISTRESS_MODERATE, f"later-dds2-below-{_num(moderate)}"))
    return items, FAR_FUTURE


CLINICAL_RULES: tuple[Callable[[View], Outcome], ...] = (
    a1c_gaps,
    eye_gaps,
    foot_gaps,
    kidney_gaps,
    blood_pressure_gaps,
    depression_gaps,
    distress_gaps,
)
