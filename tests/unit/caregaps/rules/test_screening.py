"""Eye, foot, kidney and blood-pressure gaps (care_gap_rules.md 1.3-1.6, 5, 6.2, 6.6)."""

from __future__ import annotations

from schemas.vocabulary import GapCode
from services.caregaps import RulePolicy, apply
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, bp, hba1c, measurement, run, tick

EYE = GapCode.EYE_DUE.value
FOOT = GapCode.FOOT_DUE.value
KIDNEY = GapCode.KIDNEY_DUE.value
CONFIRM = GapCode.KIDNEY_CONFIRM.value
BP_DUE = GapCode.BP_DUE.value
BP_HIGH = GapCode.BP_ABOVE_GOAL.value
POLICY = RulePolicy()


def opened(change: object, code: str) -> list[str]:
    return [r for a, c, r in builders.delta(change, code) if a == "opened"]  # type: ignore[arg-type]


def open_reason(state: object, code: str) -> str | None:
    return builders.open_codes(state, code).get(code)  # type: ignore[arg-type]


def retinal(when: str, found: bool | None) -> dict[str, object]:
    return measurement("retinal_exam", when, retinopathy_found=found)


# ------------------------------------------------------------------------------------ eye


def test_eye_exam_due_after_12_months() -> None:
    """Exam on 4 Jan 2026 with retinopathy: 4 Jan + 365 = 4 Jan 2027; opens on 5 Jan 2027."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-01-04", retinal("2026-01-04", True))
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-01-04T12:00:00Z"), POLICY)
    assert open_reason(state, EYE) is None
    state, change = apply(state, tick("2027-01-05"), POLICY)
    assert opened(change, EYE) == ["no-retinal-exam-within-365-days"]


def test_eye_exam_every_two_years_after_a_negative_exam_with_a1c_at_goal() -> None:
    """Negative exam and HbA1c 6.8 % < 7 %: the 730-day interval applies (rules 1.3).
    4 Jan 2026 + 730 days = 4 Jan 2028."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-01-04", retinal("2026-01-04", False))
    log.result("2026-01-05", hba1c(6.8, "2026-01-05"))
    state, _ = run(log.events)
    state, _ = apply(state, tick("2027-06-01"), POLICY)
    assert open_reason(state, EYE) is None
    state, change = apply(state, tick("2028-01-05"), POLICY)
    assert opened(change, EYE) == ["no-retinal-exam-within-730-days"]


def test_negative_exam_with_a1c_not_at_goal_keeps_the_yearly_interval() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-01-04", retinal("2026-01-04", False))
    log.result("2026-01-05", hba1c(7.9, "2026-01-05"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-01-05"), POLICY)
    assert opened(change, EYE) == ["no-retinal-exam-within-365-days"]


def test_earlier_retinopathy_keeps_the_yearly_interval_after_a_negative_exam() -> None:
    """Retinopathy seen in 2025, negative in 2026: no extension (no retinopathy diagnosis
    is a condition of the 2-year interval, rules 5 DM-EYE-DUE)."""
    log = Log()
    log.enrol("2025-01-02")
    log.result("2025-01-04", retinal("2025-01-04", True))
    log.result("2026-01-04", retinal("2026-01-04", False))
    log.result("2026-01-05", hba1c(6.5, "2026-01-05"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-01-05"), POLICY)
    assert opened(change, EYE) == ["no-retinal-exam-within-365-days"]


def test_an_exam_without_a_read_result_does_not_close_the_gap() -> None:
    """The report, not just the referral, closes the gap (rules 5)."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", retinal("2026-03-01", None))
    state, _ = run(log.events)
    assert open_reason(state, EYE) == "no-retinal-exam-on-record"


# ----------------------------------------------------------------------------------- foot


def foot(when: str, *, comprehensive: bool = True, risk: int | None = None) -> dict[str, object]:
    return measurement("foot_exam", when, comprehensive=comprehensive, iwgdf_risk=risk)


def test_foot_exam_interval_shortens_with_recorded_iwgdf_risk() -> None:
    """Risk 2 -> 183 days, risk 3 -> 92 days (IWGDF upper bounds, rules 1.4).
    Exam 1 Feb 2026: + 183 days = 3 Aug, + 92 days = 4 May; each opens the day after."""
    for risk, quiet_on, opens_on in (
        (2, "2026-08-03", "2026-08-04"),
        (3, "2026-05-04", "2026-05-05"),
    ):
        log = Log()
        log.enrol("2026-01-02")
        log.result("2026-02-01", foot("2026-02-01", risk=risk))
        state, _ = run(log.events)
        state, _ = apply(state, tick(quiet_on), POLICY)
        assert open_reason(state, FOOT) is None, risk
        state, change = apply(state, tick(opens_on), POLICY)
        assert opened(change, FOOT) != [], risk


def test_enrolment_foot_risk_applies_until_an_exam_records_one() -> None:
    """Enrolled with IWGDF risk 3; exam on 1 Feb without a risk: due after 92 days
    (1 Feb + 92 = 4 May, opens 5 May)."""
    log = Log()
    log.enrol("2026-01-02", iwgdf_foot_risk=3)
    log.result("2026-02-01", foot("2026-02-01"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2026-05-05"), POLICY)
    assert opened(change, FOOT) == ["no-foot-exam-within-92-days"]


def test_a_partial_foot_exam_does_not_close_the_gap() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", foot("2026-03-01", comprehensive=False))
    state, _ = run(log.events)
    assert open_reason(state, FOOT) == "no-foot-exam-on-record"


# --------------------------------------------------------------------------------- kidney


def egfr(value: float, when: str) -> dict[str, object]:
    return {**measurement("egfr", when, value=value, unit="mL/min/1.73m2"), "source": "clinic_lab"}


def uacr(value: float, when: str, unit: str = "mg/g") -> dict[str, object]:
    return {**measurement("uacr", when, value=value, unit=unit), "source": "clinic_lab"}


def test_kidney_gap_needs_both_egfr_and_uacr() -> None:
    """eGFR alone leaves DM-KIDNEY-DUE open (reason names the missing UACR, coding 9318-7);
    a UACR closes it (CMS951)."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", egfr(74, "2026-03-01"))
    state, _ = run(log.events)
    assert open_reason(state, KIDNEY) == "no-uacr-within-365-days"
    assert state.gap(KIDNEY).coding == "uacr"  # type: ignore[union-attr]
    more = Log(n=log.n)
    more.result("2026-03-02", uacr(12, "2026-03-02"))
    state, changes = run(more.events, state=state)
    assert builders.delta(changes[0], KIDNEY) == [("closed", KIDNEY, "egfr-and-uacr-received")]


def test_kidney_gap_opens_when_one_test_is_older_than_a_year() -> None:
    """eGFR 1 Mar 2026, UACR 1 Jun 2026: eGFR falls out first, 1 Mar + 365 = 1 Mar 2027."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", egfr(80, "2026-03-01"))
    log.result("2026-06-01", uacr(10, "2026-06-01"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-03-02"), POLICY)
    assert opened(change, KIDNEY) == ["no-egfr-within-365-days"]


def test_established_ckd_uses_the_shorter_interval() -> None:
    """With established CKD both tests are due after 183 days: 1 Mar + 183 = 31 Aug."""
    log = Log()
    log.enrol("2026-01-02", established_ckd=True)
    log.result("2026-03-01", egfr(50, "2026-03-01"))
    log.result("2026-03-01", uacr(40, "2026-03-01"))
    state, _ = run(log.events)
    assert open_reason(state, CONFIRM) is None  # CKD already known: no confirmation gap
    state, change = apply(state, tick("2026-09-01"), POLICY)
    assert opened(change, KIDNEY) == ["no-egfr-and-uacr-within-183-days"]


def test_first_abnormal_uacr_needs_a_repeat_and_a_normal_repeat_closes_it() -> None:
    """UACR 5 mg/mmol x 8.84 = 44.2 mg/g >= 30: DM-KIDNEY-CONFIRM opens (urgent); a repeat
    of 18 mg/g closes it with reason repeat-normal."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", uacr(5, "2026-03-01", unit="mg/mmol"))
    log.result("2026-06-01", uacr(18, "2026-06-01"))
    _state, changes = run(log.events)
    assert opened(changes[1], CONFIRM) == ["uacr-30-mg-g-or-more-needs-repeat"]
    assert builders.delta(changes[2], CONFIRM) == [("closed", CONFIRM, "repeat-normal")]


def test_an_abnormal_repeat_closes_the_confirmation_gap_for_ckd_workup() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", egfr(52, "2026-03-01"))
    log.result("2026-06-01", egfr(55, "2026-06-01"))
    _, changes = run(log.events)
    assert opened(changes[1], CONFIRM) == ["egfr-below-60-needs-repeat"]
    assert builders.delta(changes[2], CONFIRM) == [
        ("closed", CONFIRM, "repeat-abnormal-refer-ckd-workup")
    ]


# ------------------------------------------------------------------------- blood pressure


def test_bp_uses_lowest_systolic_and_lowest_diastolic_of_the_most_recent_day() -> None:
    """142/78 and 128/84 on one day: lowest 128 and lowest 78 come from different readings;
    128/78 is below 130/80, so no gap (CMS165, rules 6.2)."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact(
        "2026-03-01",
        observations=[
            bp(142, 78, "2026-03-01T09:00:00Z"),
            bp(128, 84, "2026-03-01T09:05:00Z", reading_number=2),
        ],
    )
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) is None


def test_bp_above_goal_when_the_lowest_systolic_is_130_or_more() -> None:
    """142/78 and 134/84: lowest 134/78, systolic >= 130 -> above goal (routine)."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact(
        "2026-03-01",
        observations=[
            bp(142, 78, "2026-03-01T09:00:00Z"),
            bp(134, 84, "2026-03-01T09:05:00Z", reading_number=2),
        ],
    )
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) == "bp-at-or-above-goal-130-80"
    assert state.gap(BP_HIGH).priority == "routine"  # type: ignore[union-attr]


def test_only_the_most_recent_day_counts_and_a_later_normal_day_closes() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", bp(150, 95, "2026-03-01"))
    log.result("2026-03-09", bp(124, 76, "2026-03-08"))
    log.result("2026-03-10", bp(170, 105, "2026-02-20"))  # older day, arrives late
    state, changes = run(log.events)
    assert builders.delta(changes[2], BP_HIGH) == [("closed", BP_HIGH, "later-bp-below-goal")]
    assert changes[3] is None
    assert open_reason(state, BP_HIGH) is None


def test_repeated_readings_of_160_100_or_more_are_urgent() -> None:
    """Two readings 168/102 and 164/101 the same day: lowest 164/101 >= 160/100 -> urgent."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact(
        "2026-03-01",
        observations=[
            bp(168, 102, "2026-03-01T09:00:00Z"),
            bp(164, 101, "2026-03-01T09:05:00Z", reading_number=2),
        ],
    )
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) == "bp-160-100-or-more-repeated"
    assert state.gap(BP_HIGH).priority == "urgent"  # type: ignore[union-attr]


def test_individual_bp_goal_overrides_the_ada_goal() -> None:
    """Clinician goal 140/90 (frail, rules 1.6): 136/84 is at goal."""
    log = Log()
    log.enrol("2026-01-02", bp_goal_systolic=140, bp_goal_diastolic=90)
    log.result("2026-03-01", bp(136, 84, "2026-03-01"))
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) is None


def test_manual_cuff_self_report_does_not_count_but_an_automated_one_does() -> None:
    """Patient-conveyed readings count only from automated devices (NCQA BPD, rules 6.6)."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-01", bp(150, 95, "2026-03-01", source="self_report", device="manual"))
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) is None
    assert open_reason(state, BP_DUE) == "no-blood-pressure-on-record"
    log.result("2026-03-02", bp(150, 95, "2026-03-02", source="self_report"))
    state, _ = run(log.events)
    assert open_reason(state, BP_HIGH) == "bp-at-or-above-goal-130-80"
    assert open_reason(state, BP_DUE) is None


def test_bp_due_after_12_months() -> None:
    """Reading 10 Mar 2026: + 365 = 10 Mar 2027; opens on 11 Mar 2027."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-03-10", bp(120, 70, "2026-03-10"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-03-10T20:00:00Z"), POLICY)
    assert open_reason(state, BP_DUE) is None
    state, change = apply(state, tick("2027-03-11"), POLICY)
    assert opened(change, BP_DUE) == ["no-blood-pressure-within-365-days"]
