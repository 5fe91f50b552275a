"""Red flags: reports and readings, one alert per episode (care_gap_rules.md 4, 6.12)."""

from __future__ import annotations

import pytest

from schemas.vocabulary import GapCode
from services.caregaps import RulePolicy, apply
from services.caregaps.ids import gap_id
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, bp, glucose, measurement, run, tick

HYPO = GapCode.HYPO_EVENT.value
RED = (*tuple(c.value for c in GapCode if "REDFLAG" in c.value), HYPO, GapCode.SUICIDE_RISK.value)


def flags(change: object) -> list[tuple[str, str, str]]:
    return builders.delta(change, *RED)  # type: ignore[arg-type]


def enrolled() -> Log:
    log = Log()
    log.enrol("2026-03-01T08:00:00Z")
    return log


@pytest.mark.parametrize(
    ("mg_dl", "code", "reason", "priority"),
    [
        (520, "DM-REDFLAG-RF5", "glucose-above-500-mg-dl", "stat"),
        (410, "DM-REDFLAG-RF6", "glucose-above-400-mg-dl", "asap"),
        (380, "DM-REDFLAG-RF9", "glucose-above-360-mg-dl", "urgent"),
        (65, "DM-REDFLAG-RF9", "glucose-below-72-mg-dl", "urgent"),
        (50, HYPO, "glucose-below-54-mg-dl", "asap"),
    ],
)
def test_a_glucose_reading_raises_only_its_most_severe_flag(
    mg_dl: float, code: str, reason: str, priority: str
) -> None:
    """520 mg/dL is above 500, 400 and 360, but raises RF5 alone (no fan-out)."""
    log = enrolled()
    log.contact("2026-03-02T10:00:00Z", observations=[glucose(mg_dl, "2026-03-02T09:50:00Z")])
    state, changes = run(log.events)
    assert flags(changes[1]) == [("opened", code, reason)]
    assert state.gap(code).priority == priority  # type: ignore[union-attr]


def test_mmol_per_litre_glucose_is_converted() -> None:
    """2.8 mmol/L x 18 = 50.4 mg/dL < 54: level 2 hypoglycaemia."""
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z", observations=[glucose(2.8, "2026-03-02T09:50:00Z", unit="mmol/L")]
    )
    _, changes = run(log.events)
    assert flags(changes[1]) == [("opened", HYPO, "glucose-below-54-mg-dl")]


def test_meter_hi_raises_rf6() -> None:
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z", observations=[glucose(600, "2026-03-02T09:50:00Z", meter_hi=True)]
    )
    _, changes = run(log.events)
    # The meter's upper limit (600) is > 500: RF5 wins over "HI" (more severe).
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF5", "glucose-above-500-mg-dl")]
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z", observations=[glucose(450, "2026-03-02T09:50:00Z", meter_hi=True)]
    )
    _, changes = run(log.events)
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF6", "glucose-meter-reads-hi")]


def test_glucose_above_240_with_moderate_ketones_the_same_day_is_rf4() -> None:
    log = enrolled()
    ketones = {
        **measurement("ketones", "2026-03-02T09:55:00Z", level="moderate"),
        "source": "self_report",
    }
    log.contact(
        "2026-03-02T10:00:00Z", observations=[glucose(260, "2026-03-02T09:50:00Z"), ketones]
    )
    state, changes = run(log.events)
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF4", "glucose-above-240-with-ketones")]
    assert state.gap("DM-REDFLAG-RF4").priority == "stat"  # type: ignore[union-attr]


def test_glucose_above_300_on_two_consecutive_days_is_rf7() -> None:
    log = enrolled()
    log.contact("2026-03-02T10:00:00Z", observations=[glucose(310, "2026-03-02T09:50:00Z")])
    log.contact("2026-03-03T10:00:00Z", observations=[glucose(320, "2026-03-03T09:50:00Z")])
    _, changes = run(log.events)
    assert flags(changes[1]) == []
    assert flags(changes[2]) == [
        ("opened", "DM-REDFLAG-RF7", "glucose-above-300-on-2-consecutive-days")
    ]


def test_hypertensive_crisis_on_recheck_is_rf13_and_with_symptoms_rf12() -> None:
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z",
        observations=[bp(186, 112, "2026-03-02T09:50:00Z", reading_number=2)],
    )
    log.contact(
        "2026-03-05T10:00:00Z",
        observations=[bp(190, 125, "2026-03-05T09:50:00Z", with_symptoms=True)],
    )
    _state, changes = run(log.events)
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF13", "bp-180-120-or-more-on-recheck")]
    # Three days later the RF13 episode (48 h) is over; the new reading is an emergency.
    assert flags(changes[2]) == [
        ("opened", "DM-REDFLAG-RF12", "bp-180-120-or-more-with-symptoms"),
        ("closed", "DM-REDFLAG-RF13", "episode-window-elapsed"),
    ]


def test_bp_above_160_100_after_three_readings_is_the_chw_threshold_rf9() -> None:
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z", observations=[bp(166, 98, "2026-03-02T09:50:00Z", reading_number=3)]
    )
    _, changes = run(log.events)
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF9", "bp-above-160-100-after-3-readings")]


def test_peer_reported_flags_open_with_the_proposed_priority() -> None:
    """RF11 chest pain -> stat; RF10 new foot wound -> asap; RF14 -> DM-SUICIDE-RISK asap;
    RF1 (level 3 hypo) -> DM-HYPO-EVENT stat (rules 4)."""
    log = enrolled()
    log.contact(
        "2026-03-02T10:00:00Z",
        red_flags=[{"code": "RF11"}, {"code": "RF10"}, {"code": "RF14"}, {"code": "RF1"}],
    )
    state, changes = run(log.events)
    assert flags(changes[1]) == [
        ("opened", "DM-SUICIDE-RISK", "peer-reported-RF14"),
        ("opened", HYPO, "peer-reported-RF1"),
        ("opened", "DM-REDFLAG-RF10", "peer-reported-RF10"),
        ("opened", "DM-REDFLAG-RF11", "peer-reported-RF11"),
    ]
    priorities = {g.code: g.priority for g in state.gaps}
    assert priorities["DM-REDFLAG-RF11"] == "stat"
    assert priorities["DM-REDFLAG-RF10"] == "asap"
    assert priorities["DM-SUICIDE-RISK"] == "asap"
    assert priorities[HYPO] == "stat"


def test_one_alert_per_episode_unless_severity_rises() -> None:
    """Level 2 hypo opens (asap); another level 2 within the episode is silent (no change
    record); a level 3 escalates to stat (updated, previous asap); after 48 h a tick closes
    the episode; the next level 2 is a new episode with a new id."""
    log = enrolled()
    hypo2 = {"level": 2, "occurred_at": "2026-03-02T07:00:00Z"}
    log.contact("2026-03-02T08:00:00Z", hypo_event=hypo2)
    log.contact("2026-03-02T12:00:00Z", hypo_event={**hypo2, "occurred_at": "2026-03-02T11:00:00Z"})
    log.contact(
        "2026-03-02T20:00:00Z",
        hypo_event={"level": 3, "needed_assistance": True, "occurred_at": "2026-03-02T19:30:00Z"},
    )
    state, changes = run(log.events)
    assert flags(changes[1]) == [("opened", HYPO, "hypoglycaemia-level-2")]
    assert changes[2] is None
    assert changes[3] is not None
    (update,) = [t for t in changes[3].delta if t.code.value == HYPO]
    assert (update.action.value, update.priority.value, update.previous_priority) == (
        "updated",
        "stat",
        "asap",
    )
    first = state.gap(HYPO)
    assert first is not None
    assert first.evidence == ("e2", "e3", "e4")

    # The episode opened at 08:00 on 2 Mar; 48 h later is 08:00 on 4 Mar.
    state, change = apply(state, tick("2026-03-04T07:59:59Z"), RulePolicy())
    assert change is None
    state, change = apply(state, tick("2026-03-04T08:00:00Z"), RulePolicy())
    assert flags(change) == [("closed", HYPO, "episode-window-elapsed")]
    later = Log(n=log.n)
    later.contact(
        "2026-03-05T08:00:00Z", hypo_event={**hypo2, "occurred_at": "2026-03-05T07:00:00Z"}
    )
    state, changes = run(later.events, state=state)
    assert flags(changes[0]) == [("opened", HYPO, "hypoglycaemia-level-2")]
    assert state.gap(HYPO).episode == 2  # type: ignore[union-attr]
    (opened,) = [t for t in changes[0].delta if t.code.value == HYPO]  # type: ignore[union-attr]
    assert opened.gap_id == gap_id("p-0001", HYPO, 2) != gap_id("p-0001", HYPO, 1)


def test_a_reading_older_than_72_hours_at_arrival_raises_no_flag() -> None:
    """A 520 mg/dL reading from 4 days ago: the acute window has passed (PeerLink policy)."""
    log = enrolled()
    log.result("2026-03-06T10:00:00Z", glucose(520, "2026-03-02T09:00:00Z"))
    _, changes = run(log.events)
    assert flags(changes[1]) == []


def test_a_flag_whose_only_evidence_is_entered_in_error_is_cancelled() -> None:
    log = enrolled()
    log.result("2026-03-02T10:00:00Z", glucose(520, "2026-03-02T09:00:00Z"), rid="g1")
    log.result(
        "2026-03-02T11:00:00Z",
        glucose(520, "2026-03-02T09:00:00Z", status="entered_in_error"),
        rid="g1",
    )
    _, changes = run(log.events)
    assert flags(changes[1]) == [("opened", "DM-REDFLAG-RF5", "glucose-above-500-mg-dl")]
    assert flags(changes[2]) == [("cancelled", "DM-REDFLAG-RF5", "evidence-entered-in-error")]
