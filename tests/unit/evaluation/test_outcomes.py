"""Outcomes of the hand-built scenario: HbA1c, blood pressure and distress change.

Baseline = closest to enrolment within 90 days before to 30 days after; follow-up = latest
at least 90 days after the baseline, inside the window.

  P1  9.5 (day -17)  -> 8.2 (day 151)    -1.3   (self-reported 9.0 on day 2 is ignored)
  P2  7.4 (day 5)    -> 7.6 (day 120)    +0.2   (7.9 on day 100 is not the latest)
  P3  68 mmol/mol = 0.0915 * 68 + 2.15 = 8.372 -> 8.37 % (day 31) -> 7.2 (day 130, after
      the withdrawal: intention to treat)  -1.17
  P4  8.6 (day -35; 9.0 on day -27 is as close to enrolment on day -31, the earlier wins)
      -> 8.1 (day 100, the amended value of 8.0)   -0.5
  P9  9.0 (day 2)    -> 8.0 (day 95)     -1.0
  P7  baseline entered in error -> no pair; P10 follow-up too early or preliminary -> none.
"""

from __future__ import annotations

import pytest

from services.evaluation.model import OBSERVATIONAL_NOTE, MetricsBlock


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-4)


def test_hba1c_change_from_baseline(block: MetricsBlock) -> None:
    hba1c = block.outcomes.hba1c
    assert hba1c.mean_change.n == 5
    assert hba1c.baseline_mean.value == approx((9.5 + 7.4 + 8.37 + 8.6 + 9.0) / 5)
    assert hba1c.follow_up_mean.value == approx((8.2 + 7.6 + 7.2 + 8.1 + 8.0) / 5)
    assert hba1c.mean_change.value == approx((-1.3 + 0.2 - 1.17 - 0.5 - 1.0) / 5)
    # Sorted: -1.3, -1.17, -1.0, -0.5, +0.2.
    assert hba1c.median_change.value == approx(-1.0)
    # Drops of at least one point: P1, P3 and P9 (exactly 1.0).
    assert hba1c.drop_ge_1_share is not None
    assert hba1c.drop_ge_1_share.value == approx(3 / 5)


def test_hba1c_by_baseline_stratum(block: MetricsBlock) -> None:
    strata = block.outcomes.hba1c_by_baseline_stratum
    assert set(strata) == {"<8", "8-9", ">9"}
    # < 8: P2.
    assert strata["<8"].mean_change.n == 1
    assert strata["<8"].mean_change.value == approx(0.2)
    # 8-9 (inclusive): P3 8.37, P4 8.6, P9 9.0.
    middle = strata["8-9"]
    assert middle.mean_change.n == 3
    assert middle.mean_change.value == approx((-1.17 - 0.5 - 1.0) / 3)
    assert middle.median_change.value == approx(-1.0)
    assert middle.drop_ge_1_share is not None
    assert middle.drop_ge_1_share.value == approx(2 / 3)
    # > 9: P1.
    assert strata[">9"].mean_change.value == approx(-1.3)
    assert strata[">9"].drop_ge_1_share is not None
    assert strata[">9"].drop_ge_1_share.value == 1


def test_blood_pressure_change(block: MetricsBlock) -> None:
    # P1: 150/95 measured by the CHW at the first visit -> 138/85 at the clinic.
    # P4: 140/90 (day -30) -> 130/80 (day 100).
    systolic = block.outcomes.systolic_bp
    diastolic = block.outcomes.diastolic_bp
    assert systolic.mean_change.n == 2
    assert systolic.baseline_mean.value == approx(145)
    assert systolic.follow_up_mean.value == approx(134)
    assert systolic.mean_change.value == approx(-11)
    assert diastolic.mean_change.value == approx(-10)
    assert systolic.drop_ge_1_share is None


def test_distress_change_and_empty_measures(block: MetricsBlock) -> None:
    # P2: DDS-2 (4 + 4) / 2 = 4.0 -> (3 + 2) / 2 = 2.5.
    dds2 = block.outcomes.dds2_mean
    assert dds2.mean_change.n == 1
    assert dds2.mean_change.value == approx(-1.5)
    # Nobody has two PHQ-9 scores: no figure, and nothing to suppress either.
    phq9 = block.outcomes.phq9_total
    assert phq9.mean_change.n == 0
    assert phq9.mean_change.value is None
    assert phq9.mean_change.suppressed is False


def test_outcomes_are_labelled_observational(block: MetricsBlock) -> None:
    assert block.outcomes.note == OBSERVATIONAL_NOTE
    assert "observational" in OBSERVATIONAL_NOTE.lower()
    assert "control group" in OBSERVATIONAL_NOTE
