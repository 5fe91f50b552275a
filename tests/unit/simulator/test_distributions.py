"""What the simulator produces matches its documented parameters (docs/simulator.md)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from statistics import mean

import orjson
import pytest

from schemas.vocabulary import DiabetesType, SupportModel
from services.simulator import (
    DEFAULT_PROFILES,
    Cohort,
    SimulationConfig,
    a1c_true,
    build_cohort,
    simulate,
)
from services.simulator.params import ModelProfile

MONTH = timedelta(days=30.4375)


def _profile(model: SupportModel) -> ModelProfile:
    return next(p for p in DEFAULT_PROFILES if p.model is model)


def _only(model: SupportModel, *, participants: int, months: int) -> SimulationConfig:
    profile = replace(_profile(model), share=1.0)
    return SimulationConfig(
        profiles=(profile,), invalid_share=0.0, participants=participants, months=months
    )


def _truncated_mean(mean_: float, sd: float, low: float, high: float) -> float:
    def pdf(x: float) -> float:
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    a, b = (low - mean_) / sd, (high - mean_) / sd
    return mean_ + sd * (pdf(a) - pdf(b)) / (cdf(b) - cdf(a))


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return build_cohort(SimulationConfig(participants=6000, seed=99))


def test_model_allocation_is_exact(cohort: Cohort) -> None:
    counts = Counter(p.model for p in cohort.participants)
    for profile in DEFAULT_PROFILES:
        assert abs(counts[profile.model] - 6000 * profile.share) <= 1


def test_people_parameters(cohort: Cohort) -> None:
    people = cohort.config.people
    n = len(cohort.participants)
    type1 = sum(p.diabetes_type is DiabetesType.TYPE_1 for p in cohort.participants) / n
    consent = sum(p.consent for p in cohort.participants) / n
    exits = sum(p.exit is not None for p in cohort.participants) / n
    relaxed = sum(p.a1c_goal == 8.0 for p in cohort.participants) / n
    assert type1 == pytest.approx(people.type1_share, abs=0.015)
    assert consent == pytest.approx(people.consent_share, abs=0.02)
    # Exits need enough time left after enrolment, which nearly every participant has.
    expected_exits = people.withdraw_share + people.lost_share + people.moved_share
    assert exits == pytest.approx(expected_exits, abs=0.02)
    assert relaxed == pytest.approx(people.relaxed_goal_share, abs=0.02)
    window = timedelta(days=people.enrolment_window_days)
    assert all(cohort.start <= p.enrol_at < cohort.start + window for p in cohort.participants)


@pytest.mark.parametrize("profile", DEFAULT_PROFILES, ids=lambda p: p.model.value)
def test_baseline_hba1c_and_never_engaged(cohort: Cohort, profile: ModelProfile) -> None:
    members = [p for p in cohort.participants if p.model is profile.model]
    expected = _truncated_mean(
        profile.baseline_a1c_mean, profile.baseline_a1c_sd, profile.baseline_a1c_min, 14.0
    )
    assert mean(p.baseline_a1c for p in members) == pytest.approx(expected, abs=0.12)
    assert min(p.baseline_a1c for p in members) >= round(profile.baseline_a1c_min, 1)
    never = sum(p.never_engaged for p in members) / len(members)
    assert never == pytest.approx(profile.never_engaged, abs=0.04)


def test_hba1c_effect_follows_the_documented_change(cohort: Cohort) -> None:
    config = cohort.config
    for profile in DEFAULT_PROFILES:
        someone = next(p for p in cohort.participants if p.model is profile.model)
        engaged = replace(someone, baseline_a1c=8.5, never_engaged=False, engagement=1.0)
        year = engaged.enrol_at + timedelta(days=365.25)
        drift = config.people.a1c_drift_per_year
        # Baseline 8.5 % is 2 points above 6.5 %: the full documented change applies.
        assert a1c_true(config, engaged, year) == pytest.approx(
            8.5 + profile.a1c_change_engaged + drift
        )
        idle = replace(engaged, never_engaged=True)
        assert a1c_true(config, idle, year) == pytest.approx(8.5 + drift)


def _contacts(config: SimulationConfig) -> tuple[dict[str, list[datetime]], Cohort]:
    cohort = build_cohort(config)
    completed: dict[str, list[datetime]] = defaultdict(list)
    for record in simulate(config, cohort):
        if record.kind != "peerlink.contact.logged":
            continue
        data = orjson.loads(record.value)["data"]
        if data["outcome"] == "completed" and data.get("detail", {}).get("kind") != (
            "group_session"
        ):
            completed[record.participant or ""].append(record.emit_at)
    return completed, cohort


def _per_month(times: list[datetime], start: datetime, month: int) -> int:
    low, high = start + month * MONTH, start + (month + 1) * MONTH
    return sum(low <= t < high for t in times)


def test_coach_contacts_decline_from_four_to_two() -> None:
    profile = _profile(SupportModel.PEER_COACH)
    completed, cohort = _contacts(_only(SupportModel.PEER_COACH, participants=500, months=8))
    end = cohort.end
    # Participants followed for six whole months, within the period and without leaving.
    active = [
        p
        for p in cohort.participants
        if not p.never_engaged
        and p.enrol_at + 6 * MONTH <= end
        and (p.end_at is None or p.end_at > p.enrol_at + 6 * MONTH)
    ]
    month1 = mean(_per_month(completed[p.key], p.enrol_at, 0) for p in active)
    month6 = mean(_per_month(completed[p.key], p.enrol_at, 5) for p in active)
    assert month1 == pytest.approx(profile.contacts_month1, rel=0.12)
    assert month6 == pytest.approx(profile.contacts_month6, rel=0.15)


def test_partner_calls_decline_from_2_4_to_0_8() -> None:
    profile = _profile(SupportModel.TELEPHONE_PEER_PARTNER)
    config = _only(SupportModel.TELEPHONE_PEER_PARTNER, participants=1000, months=8)
    cohort = build_cohort(config)
    calls: dict[str, dict[str, int]] = defaultdict(dict)
    for record in simulate(config, cohort):
        if record.kind != "peerlink.contact.logged":
            continue
        data = orjson.loads(record.value)["data"]
        detail = data.get("detail", {})
        if detail.get("kind") == "bridged_call" and data["outcome"] == "completed":
            calls[detail["pair_id"]][detail["started_at"]] = data["duration_min"]
    by_key = {p.key: p for p in cohort.participants}
    month1: list[int] = []
    month6: list[int] = []
    minutes1: list[int] = []
    for pair in cohort.pairs.values():
        members = [cohort.participants[i] for i in pair.members]
        if len(members) < 2 or any(m.never_engaged for m in members):
            continue
        start = max(m.enrol_at for m in members) + timedelta(days=2)
        if start + 6 * MONTH > cohort.end or any(
            m.end_at is not None and m.end_at < start + 6 * MONTH for m in members
        ):
            continue
        times = [datetime.fromisoformat(t) for t in calls[pair.pair_id]]
        month1.append(_per_month(times, start, 0))
        month6.append(_per_month(times, start, 5))
        minutes1.extend(
            d for t, d in calls[pair.pair_id].items() if datetime.fromisoformat(t) < start + MONTH
        )
    assert by_key
    assert mean(month1) == pytest.approx(profile.contacts_month1, rel=0.15)
    assert mean(month6) == pytest.approx(profile.contacts_month6, rel=0.2)
    assert mean(minutes1) == pytest.approx(profile.minutes_month1, rel=0.12)


def test_group_never_attenders() -> None:
    profile = _profile(SupportModel.PEER_LED_GROUP)
    config = _only(SupportModel.PEER_LED_GROUP, participants=800, months=6)
    attended: dict[str, list[bool]] = defaultdict(list)
    for record in simulate(config):
        if record.kind != "peerlink.contact.logged":
            continue
        detail = orjson.loads(record.value)["data"].get("detail", {})
        if detail.get("kind") == "group_session":
            attended[record.participant or ""].append(detail["attended"])
    never = sum(not any(v) for v in attended.values()) / len(attended)
    assert never == pytest.approx(profile.never_engaged, abs=0.04)
    first = [v[0] for v in attended.values() if v]
    engaged_first = [a for a in first if a]
    # Among ever-attenders the first session is attended with the documented probability.
    share = len(engaged_first) / (len(first) * (1 - profile.never_engaged))
    assert share == pytest.approx(profile.attendance_start, abs=0.06)


def test_online_lurkers_never_post() -> None:
    profile = _profile(SupportModel.ONLINE_COMMUNITY)
    config = _only(SupportModel.ONLINE_COMMUNITY, participants=600, months=4)
    posted: set[str] = set()
    members: set[str] = set()
    for record in simulate(config):
        if record.kind == "peerlink.participant.enrolled":
            members.add(record.participant or "")
        if record.kind == "peerlink.contact.logged":
            detail = orjson.loads(record.value)["data"]["detail"]
            if detail["post_kind"] != "moderator_check_in":
                posted.add(record.participant or "")
    # Engaged members post about three times a month, so nearly all post within four months.
    assert 1 - len(posted) / len(members) == pytest.approx(profile.never_engaged, abs=0.05)


def test_clinic_visit_outcomes_and_junk_share() -> None:
    config = SimulationConfig(participants=800, months=12, seed=4, invalid_share=0.01)
    statuses: Counter[str] = Counter()
    valid = junk = 0
    for record in simulate(config):
        if not record.valid:
            junk += 1
            continue
        if not record.is_tick:
            valid += 1
        if record.kind in ("fhir:Appointment", "fhir:Encounter"):
            statuses[orjson.loads(record.value)["status"]] += 1
    total = sum(statuses.values())
    clinic = config.clinic
    assert statuses["noshow"] / total == pytest.approx(clinic.no_show_share, abs=0.025)
    assert statuses["cancelled"] / total == pytest.approx(clinic.cancel_share, abs=0.015)
    assert junk / valid == pytest.approx(config.invalid_share, rel=0.25)
