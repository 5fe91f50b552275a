"""HbA1c gaps: due (6 / 3 months), above goal, poor control (care_gap_rules.md 1.1, 5, 6)."""

from __future__ import annotations

from typing import Any

from schemas.vocabulary import GapCode
from services.caregaps import RulePolicy, apply
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, hba1c, run, tick

ABOVE = GapCode.A1C_ABOVE_GOAL.value
POOR = GapCode.A1C_POOR.value
DUE = GapCode.A1C_DUE.value
CODES = (ABOVE, POOR, DUE)


def delta(change: object) -> list[tuple[str, str, str]]:
    return builders.delta(change, *CODES)  # type: ignore[arg-type]


def open_codes(state: object) -> dict[str, str]:
    return builders.open_codes(state, *CODES)  # type: ignore[arg-type]


def enrolled(**data: Any) -> Log:
    log = Log()
    log.enrol("2026-01-02", **data)
    return log


def test_above_goal_opens_and_a_later_result_at_goal_closes_it() -> None:
    """7.8 % >= 7.0 % goal opens DM-A1C-ABOVE-GOAL; 6.6 % three months later closes it."""
    log = enrolled()
    log.result("2026-01-10", hba1c(7.8, "2026-01-10"))
    log.result("2026-04-10", hba1c(6.6, "2026-04-10"))
    state, changes = run(log.events)
    assert delta(changes[1]) == [("opened", ABOVE, "hba1c-at-or-above-goal-7-percent")]
    assert delta(changes[2]) == [("closed", ABOVE, "later-hba1c-below-goal")]
    assert ABOVE not in open_codes(state)


def test_late_result_with_an_earlier_date_never_reopens_a_gap_a_newer_result_closed() -> None:
    """8.4 % (1 Mar) opens, 6.5 % (1 Jun) closes; 9.6 % dated 1 Feb arriving last changes
    nothing: the most recent clinical date is still 1 Jun (rules 6.1)."""
    log = enrolled()
    log.result("2026-03-01", hba1c(8.4, "2026-03-01"))
    log.result("2026-06-01", hba1c(6.5, "2026-06-01"))
    log.result("2026-06-05", hba1c(9.6, "2026-02-01"))
    state, changes = run(log.events)
    assert changes[3] is None
    assert ABOVE not in open_codes(state)
    assert POOR not in open_codes(state)


def test_same_day_tie_uses_the_lowest_value_whatever_the_arrival_order() -> None:
    """7.4 % and 6.9 % on the same day: CMS122 takes the lowest, 6.9 % < 7 %, at goal."""
    for values in ((7.4, 6.9), (6.9, 7.4)):
        log = enrolled()
        for i, value in enumerate(values):
            log.result(f"2026-02-0{i + 1}T12:00:00Z", hba1c(value, "2026-02-01T08:00:00Z"))
        state, _ = run(log.events)
        assert ABOVE not in open_codes(state), values


def test_mmol_per_mol_is_converted_with_the_ifcc_master_equation() -> None:
    """75 mmol/mol -> 0.0915 x 75 + 2.15 = 9.01 % > 9 %: poor control (urgent) and above
    goal; 64 mmol/mol -> 8.01 %: above goal only."""
    log = enrolled()
    log.result("2026-02-01", hba1c(75, "2026-02-01", unit="mmol/mol"))
    state, _ = run(log.events)
    assert open_codes(state) == {
        ABOVE: "hba1c-at-or-above-goal-7-percent",
        POOR: "hba1c-above-9-percent",
    }
    assert state.gap(POOR).priority == "urgent"  # type: ignore[union-attr]

    log = enrolled()
    log.result("2026-02-01", hba1c(64, "2026-02-01", unit="mmol/mol"))
    state, _ = run(log.events)
    assert set(open_codes(state)) == {ABOVE}


def test_exactly_nine_percent_is_not_poor_control() -> None:
    """CMS122 counts > 9.0 %, so 9.0 % is above goal but not poor control."""
    log = enrolled()
    log.result("2026-02-01", hba1c(9.0, "2026-02-01"))
    state, _ = run(log.events)
    assert set(open_codes(state)) == {ABOVE}


def test_individualised_goal_from_enrolment_replaces_the_default() -> None:
    """Goal 8.0 % (less stringent, rules 1.1): 7.6 % is at goal, 8.0 % is not."""
    log = enrolled(a1c_goal_percent=8.0)
    log.result("2026-02-01", hba1c(7.6, "2026-02-01"))
    state, _ = run(log.events)
    assert ABOVE not in open_codes(state)
    log.result("2026-05-01", hba1c(8.0, "2026-05-01"))
    state, _ = run(log.events)
    assert open_codes(state)[ABOVE] == "hba1c-at-or-above-goal-8-percent"


def test_due_after_183_days_when_the_last_value_was_at_goal() -> None:
    """6.5 % on 4 Jan: due when more than 183 days have passed. 4 Jan + 183 days = 6 Jul,
    so a tick on 6 Jul changes nothing and a tick on 7 Jul opens the gap."""
    log = enrolled()
    log.result("2026-01-04", hba1c(6.5, "2026-01-04"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2026-07-06T23:00:00Z"), RulePolicy())
    assert DUE not in open_codes(state)
    state, change = apply(state, tick("2026-07-07T00:00:00Z"), RulePolicy())
    assert ("opened", DUE, "no-hba1c-within-183-days") in delta(change)


def test_due_after_92_days_when_the_last_value_was_not_at_goal() -> None:
    """7.5 % on 4 Jan: 4 Jan + 92 days = 6 Apr; opens on the 7 Apr tick."""
    log = enrolled()
    log.result("2026-01-04", hba1c(7.5, "2026-01-04"))
    state, _ = run(log.events)
    state, change = apply(state, tick("2026-04-06T12:00:00Z"), RulePolicy())
    assert DUE not in open_codes(state)
    state, change = apply(state, tick("2026-04-07T00:00:00Z"), RulePolicy())
    assert ("opened", DUE, "no-hba1c-within-92-days") in delta(change)


def test_level_2_hypoglycaemia_shortens_the_interval_to_three_months() -> None:
    """At goal (6.5 %) but a level 2 hypo on 20 Feb: the 92-day window applies (rules 5)."""
    log = enrolled()
    log.result("2026-01-04", hba1c(6.5, "2026-01-04"))
    log.contact(
        "2026-02-20",
        hypo_event={"level": 2, "occurred_at": "2026-02-20T07:00:00Z"},
    )
    state, _ = run(log.events)
    state, change = apply(state, tick("2026-04-07T00:00:00Z"), RulePolicy())
    assert ("opened", DUE, "no-hba1c-within-92-days") in delta(change)


def test_a_new_result_closes_the_due_gap() -> None:
    log = enrolled()
    log.result("2026-01-04", hba1c(7.5, "2026-01-04"))
    state, _ = run(log.events)
    state, _ = apply(state, tick("2026-04-10"), RulePolicy())
    assert DUE in open_codes(state)
    later = Log(n=log.n)
    later.result("2026-04-12", hba1c(7.1, "2026-04-11"))
    state, changes = run(later.events, state=state)
    assert ("closed", DUE, "hba1c-received") in delta(changes[0])


def test_nothing_on_record_opens_only_after_the_grace_period() -> None:
    """Enrolled 2 Jan with no HbA1c: 2 Jan + 30 days grace = 1 Feb; opens on 2 Feb."""
    log = enrolled()
    state, _ = run(log.events)
    state, _ = apply(state, tick("2026-02-01T23:59:00Z"), RulePolicy())
    assert DUE not in open_codes(state)
    state, change = apply(state, tick("2026-02-02T00:00:00Z"), RulePolicy())
    assert ("opened", DUE, "no-hba1c-on-record") in delta(change)


def test_self_tested_hba1c_does_not_count() -> None:
    """A home-tested A1c not processed by a lab does not count (NCQA GSD, rules 6.6)."""
    log = enrolled()
    log.result("2026-02-01", hba1c(9.5, "2026-02-01", source="self_report"))
    state, _ = run(log.events)
    assert open_codes(state) == {}


def test_preliminary_result_neither_opens_nor_closes() -> None:
    """Only final/amended/corrected results count (rules 6.5)."""
    log = enrolled()
    log.result("2026-02-01", hba1c(9.5, "2026-02-01", status="preliminary"))
    state, _ = run(log.events)
    assert open_codes(state) == {}
