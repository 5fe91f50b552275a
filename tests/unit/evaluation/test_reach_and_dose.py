"""Reach and dose of the hand-built scenario, against answers worked out by hand.

Cohort of prog-a in 2026-01-01..2026-06-30 (181 days): P1 P2 P3 P4 P7 P9 P10 (7).
P5 left before the window, P6 enrolled after it, P8 belongs to prog-b.
Exposure days: P1 181, P2 181, P3 42 (day 31 to its exit on day 73), P4 181 (enrolled
before the window), P7 172 (day 9 on), P9 181, P10 181 -> 1119 days.
"""

from __future__ import annotations

import pytest

from services.evaluation.model import Figure, MetricsBlock

EXPOSURE_DAYS = 181 * 5 + 42 + 172
PARTICIPANT_MONTHS = EXPOSURE_DAYS / 30.4375


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-4)


def test_reach(block: MetricsBlock) -> None:
    reach = block.reach
    assert reach.enrolled.value == 7
    assert reach.enrolled.n == 7
    # Enrolled on or after 2026-01-01: everyone but P4.
    assert reach.newly_enrolled.value == 6
    # Completed contact during exposure: all but P2 (P4 via its April contact).
    assert reach.ever_contacted_share.value == approx(6 / 7)
    assert reach.ever_contacted_share.numerator == 6
    # Days to first completed contact (newly enrolled): P7 0.5, P1 1 d 10 h, P3 2.5,
    # P9 4.75 (first attended session), P10 5.75; P2 none yet.
    assert reach.days_to_first_contact_median.value == approx(2.5)
    assert reach.days_to_first_contact_median.n == 5
    # Nearest rank: ceil(0.9 * 5) = 5th of the sorted values.
    assert reach.days_to_first_contact_p90.value == approx(5.75)
    assert reach.not_yet_contacted.value == 1
    # Consent at the window end: P1, P3, P7 yes; P4 withdrew consent on day 59.
    assert reach.consent_share.value == approx(3 / 7)
    assert reach.consent_share.numerator == 3
    # P3 withdrew on day 73; P5's exit was before the window.
    assert reach.exited.value == 1
    assert reach.withdrew.value == 1


def test_contacts_and_minutes_per_participant_month(block: MetricsBlock) -> None:
    dose = block.dose
    assert dose.participant_months.value == approx(PARTICIPANT_MONTHS)
    # Completed in exposure: P1 4, P3 1 (not the one after exit), P4 1 (not the one before
    # the window), P7 1 (the declined one is not), P9 2 attended sessions, P10 1 -> 10.
    assert dose.contacts_per_participant_month.value == approx(10 / PARTICIPANT_MONTHS)
    # Minutes: P1 30+20+15+10, P3 45, P4 none logged, P7 60, P9 2x90, P10 90 -> 450.
    assert dose.minutes_per_participant_month.value == approx(450 / PARTICIPANT_MONTHS)
    assert dose.contacts_per_participant_month.n == 7


def test_weekly_contact_share(block: MetricsBlock) -> None:
    # Whole weeks from enrolment inside the exposure:
    #   P1, P2, P9, P10: floor(181 / 7) = 25 weeks each
    #   P3: 42 days = 6 weeks; P7: floor(172 / 7) = 24 weeks
    #   P4 (enrolled day -31): weeks 5..29 of its enrolment = 25 weeks
    # Weeks with a completed contact: P1 weeks 0, 1, 9, 24 -> 4; P3 1; P4 1 (week 17);
    # P7 1; P9 2 (weeks 0 and 2); P10 1; P2 0 -> 10.
    weeks = 25 * 4 + 6 + 24 + 25
    share = block.dose.weekly_contact_share
    assert share.count == weeks == 155
    assert share.numerator == 10
    assert share.value == approx(10 / 155)


def test_month_one_versus_month_six(block: MetricsBlock) -> None:
    dose = block.dose
    # Month 1 (first 30.4375 days) wholly observed: P1 P2 P3 P7 P9 P10 (P4's month 1 was
    # before the window). Contacts: P1 2, P3 1, P7 1, P9 2, P10 1 -> 7.
    assert dose.month1_contacts_per_participant.value == approx(7 / 6)
    assert dose.month1_contacts_per_participant.n == 6
    # Month 6 = days 152.19..182.63 after enrolment: only P4 (enrolled day -31) is observed
    # for the whole of it inside the window, with no contact.
    assert dose.month6_contacts_per_participant.value == 0
    assert dose.month6_contacts_per_participant.n == 1
    assert dose.month6_to_month1_ratio.value == 0
    # Month 2: P1 P2 P7 P9 P10 observed (P3 left on day 73, before its month 2 ended).
    month2 = dose.engagement_by_month[1]
    assert month2.month == 2
    assert month2.contacts_per_participant.n == 5
    assert month2.contacts_per_participant.value == 0
    assert len(dose.engagement_by_month) == 12


def test_never_engaged_share(block: MetricsBlock) -> None:
    # All 7 were enrolled at least 30 days before the window end; only P2 never had a
    # completed contact (P4 had one before the window, which still counts as engaged).
    share = block.dose.never_engaged_share
    assert share.value == approx(1 / 7)
    assert share.n == 7


def test_group_attendance(block: MetricsBlock) -> None:
    dose = block.dose
    # P9 attended 2 of 4 planned (>= half); P10 attended 1 of 3 recorded (planned unknown).
    assert dose.group_half_attendance_share.value == approx(0.5)
    assert dose.group_half_attendance_share.n == 2
    # Records: 4 + 3 = 7, attended 3.
    assert dose.group_session_attendance_rate.value == approx(3 / 7)
    assert dose.group_session_attendance_rate.count == 7


def test_direction_and_completion_shares(block: MetricsBlock) -> None:
    dose = block.dose
    # Logged in exposure: P1 5, P3 1, P4 1, P7 2, P9 4, P10 3 = 16 (6 participants).
    # Proactive: P1 3, P3 1, P7 1, group records 7 = 12; participant-initiated: P1, P4, P7
    # = 3; reminder-prompted: 1.
    assert dose.proactive_share.value == approx(12 / 16)
    assert dose.proactive_share.count == 16
    assert dose.proactive_share.n == 6
    assert dose.participant_initiated_share.value == approx(3 / 16)
    assert dose.reminder_prompted_share.value == approx(1 / 16)
    assert dose.completed_share.value == approx(10 / 16)


def test_key_function_coverage(block: MetricsBlock) -> None:
    coverage = block.dose.key_function_coverage
    # daily management: P1 P3 P7 P9 P10; social: P1 P4 P7; clinical linkage: P1;
    # community linkage: P7; ongoing: P1 P7; all four (either linkage): P1 P7.
    expected = {
        "daily_management": 5,
        "social_emotional_support": 3,
        "linkage_clinical_care": 1,
        "linkage_community_resources": 1,
        "ongoing_support": 2,
        "all_four": 2,
    }
    assert set(coverage) == set(expected)
    for name, people in expected.items():
        figure: Figure = coverage[name]
        assert figure.value == approx(people / 7), name
        assert figure.n == 7


def test_per_model_split(metrics: object) -> None:
    from services.evaluation.model import ProgrammeMetrics

    assert isinstance(metrics, ProgrammeMetrics)
    assert set(metrics.by_model) == {"community_health_worker", "peer_coach"}
    coach = metrics.by_model["peer_coach"]
    # P7 alone: 172 days, 1 completed contact, 60 minutes.
    assert coach.reach.enrolled.value == 1
    assert coach.dose.contacts_per_participant_month.value == approx(30.4375 / 172)
    assert coach.dose.minutes_per_participant_month.value == approx(60 * 30.4375 / 172)
    chw = metrics.by_model["community_health_worker"]
    assert chw.reach.enrolled.value == 6
    assert chw.dose.contacts_per_participant_month.value == approx(9 * 30.4375 / (1119 - 172))
