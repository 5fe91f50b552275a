"""Depression screening and follow-up, diabetes distress (care_gap_rules.md 1.8, 4 RF15, 5)."""

from __future__ import annotations

from schemas.vocabulary import GapCode
from services.caregaps import RulePolicy, apply
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, measurement, run, tick

SCREEN = GapCode.DEPRESSION_SCREEN_DUE.value
FOLLOWUP = GapCode.DEPRESSION_FOLLOWUP.value
SUICIDE = GapCode.SUICIDE_RISK.value
HIGH = GapCode.DISTRESS_HIGH.value
MODERATE = GapCode.DISTRESS_MODERATE.value


def phq9(total: int | None, when: str, item9: int | None = 0) -> dict[str, object]:
    return measurement("phq9", when, total=total, item9=item9)


def phq2(total: int, when: str) -> dict[str, object]:
    return {**measurement("phq2", when, total=total), "source": "peer_measured"}


def dds2(item1: int, item2: int, when: str) -> dict[str, object]:
    return {**measurement("dds2", when, item1=item1, item2=item2), "source": "peer_measured"}


def test_phq9_of_10_or_more_needs_follow_up_until_a_behavioural_health_visit_is_kept() -> None:
    """PHQ-9 12 >= 10 opens DM-DEPR-FOLLOWUP (urgent, CMS2); a kept behavioural-health
    appointment on or after the screen date closes it."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", phq9(12, "2026-02-01"))
    log.appointment(
        "2026-02-03",
        appointment_id="a1",
        status="kept",
        scheduled_for="2026-02-03T10:00:00Z",
        purpose="behavioural_health",
    )
    state, changes = run(log.events)
    assert builders.delta(changes[1], FOLLOWUP) == [("opened", FOLLOWUP, "phq9-10-or-more")]
    assert state.gap(FOLLOWUP).priority == "urgent"  # type: ignore[union-attr]
    assert builders.delta(changes[2], FOLLOWUP) == [
        ("closed", FOLLOWUP, "behavioural-health-visit-kept")
    ]


def test_phq2_of_3_is_positive_only_without_a_phq9_that_day() -> None:
    """PHQ-2 3 alone is positive; a PHQ-9 of 6 the same day decides, and it is negative."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact("2026-02-01", observations=[phq2(3, "2026-02-01T09:00:00Z")])
    state, _ = run(log.events)
    assert builders.open_codes(state, FOLLOWUP) == {FOLLOWUP: "phq2-3-or-more-without-phq9"}
    log.result("2026-02-01T10:00:00Z", phq9(6, "2026-02-01T09:30:00Z"))
    state, changes = run(log.events)
    assert builders.delta(changes[-1], FOLLOWUP) == [("closed", FOLLOWUP, "later-screen-negative")]


def test_phq9_item9_above_zero_is_a_same_day_red_flag() -> None:
    """Item 9 (44260-8) = 1, "several days": DM-SUICIDE-RISK, alert, asap (rules 4 RF14)."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01T10:00:00Z", phq9(8, "2026-02-01T09:00:00Z", item9=1))
    state, changes = run(log.events)
    assert builders.delta(changes[1], SUICIDE) == [("opened", SUICIDE, "phq9-item9-positive")]
    gap = state.gap(SUICIDE)
    assert gap is not None
    assert gap.priority == "asap"
    assert builders.open_codes(state, FOLLOWUP) == {}  # total 8 < 10


def test_item9_asked_alone_still_raises_the_red_flag_but_is_not_a_screen() -> None:
    """Only item 9 answered (2, "more than half the days"), no total: DM-SUICIDE-RISK opens
    (RF14 must never be lost to an incomplete questionnaire), while the depression screen
    stays due a year after enrolment because no screen was done, and no follow-up opens."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact("2026-02-01", observations=[phq9(None, "2026-02-01T09:00:00Z", item9=2)])
    state, changes = run(log.events)
    assert builders.delta(changes[1], SUICIDE) == [("opened", SUICIDE, "phq9-item9-positive")]
    assert builders.open_codes(state, FOLLOWUP) == {}
    state, _ = apply(state, tick("2027-01-03"), RulePolicy())
    assert SCREEN in builders.open_codes(state, SCREEN)


def test_depression_screen_due_after_a_year() -> None:
    """PHQ-2 on 1 Feb 2026: + 365 = 1 Feb 2027; opens on 2 Feb 2027."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact("2026-02-01", observations=[phq2(1, "2026-02-01")])
    state, _ = run(log.events)
    state, change = apply(state, tick("2027-02-01T18:00:00Z"), RulePolicy())
    assert builders.open_codes(state, SCREEN) == {}
    state, change = apply(state, tick("2027-02-02"), RulePolicy())
    assert builders.delta(change, SCREEN) == [
        ("opened", SCREEN, "no-depression-screen-within-365-days")
    ]


def test_distress_moves_from_high_to_moderate_to_resolved() -> None:
    """DDS-2 (4, 3): mean 3.5 >= 3 high (urgent). (2, 2): mean 2.0, moderate: high closes,
    moderate opens. (1, 2): mean 1.5 < 2: moderate closes (Fisher 2008)."""
    log = Log()
    log.enrol("2026-01-02")
    log.contact("2026-02-01", observations=[dds2(4, 3, "2026-02-01")])
    log.contact("2026-03-01", observations=[dds2(2, 2, "2026-03-01")])
    log.contact("2026-04-01", observations=[dds2(1, 2, "2026-04-01")])
    state, changes = run(log.events)
    assert builders.delta(changes[1], HIGH, MODERATE) == [("opened", HIGH, "dds2-mean-3-or-more")]
    assert builders.delta(changes[2], HIGH, MODERATE) == [
        ("closed", HIGH, "later-dds2-below-3"),
        ("opened", MODERATE, "dds2-mean-2-to-below-3"),
    ]
    assert builders.delta(changes[3], HIGH, MODERATE) == [
        ("closed", MODERATE, "later-dds2-below-2")
    ]
    assert builders.open_codes(state, HIGH, MODERATE) == {}
