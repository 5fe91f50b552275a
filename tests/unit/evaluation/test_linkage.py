"""Linkage to care of the hand-built scenario: gaps, closure times, red flags, evidence.

Care gaps opened in the window (days after 2026-01-01):
  g1 P1 A1C  opened 19  closed 49   (30 days)
  g2 P2 A1C  opened 31  still open
  g3 P4 EYE  opened 0   closed 120  (120 days)
  g4 P7 A1C  opened 59  closed 119  (60 days)
  g5 P3 FOOT opened 40  cancelled 73 (33 days, the participant withdrew)
  g7 P10 A1C opened 155 closed 160  (5 days)
g6 (P9) opened before the window and g8 belongs to prog-b: neither counts.
Red flags: r1 P1 stat day 31.5 (closed day 32); r2 P4 asap day 68; r3 P7 asap day 165;
r4 P9 asap day 94. Window end = day 181.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.evaluation.facts import Facts
from services.evaluation.metrics import Period, compute_metrics
from services.evaluation.model import GapStats, MetricsBlock
from tests.unit.evaluation.scenario import PROG

PARTICIPANT_MONTHS = (181 * 5 + 42 + 172) / 30.4375


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-4)


def _code(block: MetricsBlock, code: str) -> GapStats:
    (stats,) = [g for g in block.linkage.gaps_by_code if g.code == code]
    return stats


def test_care_gaps_opened_closed_and_still_open(block: MetricsBlock) -> None:
    care = block.linkage.gaps_by_kind["care_gap"]
    assert care.opened.value == 6
    assert care.opened.n == 6
    assert care.closed.value == 4
    assert care.cancelled.value == 1
    assert care.still_open.value == 1


def test_time_to_closure_median_and_p90(block: MetricsBlock) -> None:
    care = block.linkage.gaps_by_kind["care_gap"]
    # Closed after 5, 30, 60, 120 days: median (30 + 60) / 2; nearest rank ceil(3.6) = 4th.
    assert care.median_days_to_closure.value == approx(45)
    assert care.p90_days_to_closure.value == approx(120)
    assert care.median_days_to_closure.n == 4


def test_share_closed_within_30_60_90_days(block: MetricsBlock) -> None:
    care = block.linkage.gaps_by_kind["care_gap"]
    # 30 days: g7 is censored (opened 26 days before the end); g5 was cancelled after 33
    # days, so it was still due at day 30. Eligible g1 g2 g3 g4 g5, closed in time: g1.
    assert care.closed_within_30d_share.count == 5
    assert care.closed_within_30d_share.value == approx(1 / 5)
    # 60 days: g5 was cancelled before its deadline, so it leaves the denominator.
    # Eligible g1 g2 g3 g4 (g7 censored), closed in time: g1 (30), g4 (60).
    assert care.closed_within_60d_share.count == 4
    assert care.closed_within_60d_share.value == approx(2 / 4)
    # 90 days: opened on or before day 91: g1 g2 g3 g4; in time g1, g4 (g3 took 120).
    assert care.closed_within_90d_share.value == approx(2 / 4)
    assert care.closure_time_bins == {
        "0-30": 2,
        "31-60": 1,
        "61-90": 0,
        ">90": 1,
        "open": 1,
        "cancelled": 1,
    }


def test_per_gap_code(block: MetricsBlock) -> None:
    a1c = _code(block, "DM-A1C-DUE")
    assert (a1c.opened.value, a1c.closed.value, a1c.still_open.value) == (4, 3, 1)
    # 5, 30, 60 days.
    assert a1c.median_days_to_closure.value == approx(30)
    assert a1c.p90_days_to_closure.value == approx(60)
    # g7 censored at 30/60/90 days; g1 in 30; g1, g4 in 60 and 90.
    assert a1c.closed_within_30d_share.value == approx(1 / 3)
    assert a1c.closed_within_60d_share.value == approx(2 / 3)
    assert a1c.closed_within_90d_share.value == approx(2 / 3)
    eye = _code(block, "DM-EYE-DUE")
    assert eye.opened.value == 1  # g6 opened before the window
    assert eye.median_days_to_closure.value == approx(120)
    foot = _code(block, "DM-FOOT-DUE")
    assert foot.cancelled.value == 1
    assert foot.median_days_to_closure.value is None
    codes = [g.code for g in block.linkage.gaps_by_code]
    assert "DM-A1C-DUE" in codes
    assert "PL-ENG-DISENGAGED" in codes


def test_engagement_gaps_are_their_own_kind(block: MetricsBlock) -> None:
    engagement = block.linkage.gaps_by_kind["engagement"]
    assert engagement.opened.value == 1
    assert engagement.still_open.value == 1


def test_red_flags_per_100_participant_months_by_priority(block: MetricsBlock) -> None:
    rates = block.linkage.red_flags_per_100_participant_months
    assert rates["all"].value == approx(4 / PARTICIPANT_MONTHS * 100)
    assert rates["stat"].value == approx(1 / PARTICIPANT_MONTHS * 100)
    assert rates["asap"].value == approx(3 / PARTICIPANT_MONTHS * 100)
    assert rates["urgent"].value == 0
    assert rates["routine"].value == 0
    flags = block.linkage.gaps_by_kind["red_flag"]
    assert flags.opened.value == 4
    assert flags.closed.value == 1


def test_red_flags_followed_by_clinic_evidence(block: MetricsBlock) -> None:
    share = block.linkage.red_flags_with_clinic_evidence_share
    # r3 opened 16 days before the end: not followed up 30 days yet, left out.
    # r1: clinic HbA1c 8.5 days later -> yes. r2: an appointment missed on day 78 and one
    # kept on day 109 (41 days later) -> no. r4: clinic HbA1c and kept visit -> yes.
    assert share.count == 3
    assert share.numerator == 2
    assert share.value == approx(2 / 3)


def test_gaps_still_open_at_the_end_of_a_shorter_range(facts: Facts) -> None:
    # Window ending 2026-04-15 (end = day 105): g3 (closed day 120) and g4 (closed day
    # 119) are still open then; g7 has not opened yet.
    period = Period(date(2026, 1, 1), date(2026, 4, 15))
    care = compute_metrics(
        facts, period=period, programme_id=PROG, min_cell=1
    ).overall.linkage.gaps_by_kind["care_gap"]
    assert care.opened.value == 5
    assert care.closed.value == 1
    assert care.still_open.value == 3
    assert care.cancelled.value == 1
    # 30 days: opened by day 75 -> g1 g2 g3 g4 g5, in time: g1.
    assert care.closed_within_30d_share.value == approx(1 / 5)
    # 90 days: opened by day 15 -> g3 only, which was not closed within 90 days.
    assert care.closed_within_90d_share.count == 1
    assert care.closed_within_90d_share.value == 0
    assert care.median_days_to_closure.value == approx(30)


def test_other_programmes_do_not_leak_in(facts: Facts) -> None:
    other = compute_metrics(
        facts,
        period=Period(date(2026, 1, 1), date(2026, 6, 30)),
        programme_id="prog-b",
        min_cell=1,
    )
    assert other.overall.reach.enrolled.value == 1
    assert other.overall.linkage.gaps_by_kind["care_gap"].opened.value == 1
