"""Engagement gaps: contact cadence per model, missed visits, adherence, cost barriers."""

from __future__ import annotations

from dataclasses import replace

from schemas.vocabulary import GapCode, SupportModel
from services.caregaps import EngagementPolicy, RulePolicy, apply
from services.caregaps.policy import DEFAULT_CADENCE_DAYS
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, run, tick

DIS = GapCode.DISENGAGED.value
MISSED = GapCode.MISSED_APPOINTMENT.value
ADH = GapCode.MEDICATION_NONADHERENCE.value
COST = GapCode.MEDICATION_COST_BARRIER.value
POLICY = RulePolicy()


def test_no_completed_contact_for_longer_than_the_model_cadence() -> None:
    """Peer coach cadence 14 days: last contact 10 Jan 10:00; a tick exactly 14 days later
    changes nothing, one second later opens the gap; the next contact closes it."""
    log = Log()
    log.enrol("2026-01-05T10:00:00Z")
    log.contact("2026-01-10T10:00:00Z")
    state, _ = run(log.events)
    state, change = apply(state, tick("2026-01-24T10:00:00Z"), POLICY)
    assert builders.delta(change, DIS) == []
    state, change = apply(state, tick("2026-01-24T10:00:01Z"), POLICY)
    assert builders.delta(change, DIS) == [("opened", DIS, "no-completed-contact-within-14-days")]
    later = Log(n=log.n)
    later.contact("2026-01-26T10:00:00Z")
    state, changes = run(later.events, state=state)
    assert builders.delta(changes[0], DIS) == [("closed", DIS, "completed-contact-logged")]


def test_cadence_is_configurable_per_model() -> None:
    cadence = {**DEFAULT_CADENCE_DAYS, SupportModel.PEER_COACH: 7}
    policy = replace(POLICY, engagement=EngagementPolicy(cadence_days=cadence))
    log = Log()
    log.enrol("2026-01-05T10:00:00Z")
    state, _ = run(log.events, policy)
    state, change = apply(state, tick("2026-01-12T10:00:01Z"), policy)
    assert builders.delta(change, DIS) == [("opened", DIS, "no-completed-contact-within-7-days")]


def test_attempts_and_missed_group_sessions_are_not_completed_contacts() -> None:
    log = Log(model="peer_led_group")
    log.enrol("2026-01-05T10:00:00Z")
    log.contact("2026-01-20T10:00:00Z", outcome="attempted_no_answer")
    log.contact(
        "2026-02-01T10:00:00Z",
        channel="group_session_in_person",
        detail={
            "kind": "group_session",
            "session_id": "g1",
            "session_number": 2,
            "attended": False,
            "facilitator": "peer",
        },
    )
    state, _ = run(log.events)
    assert state.last_contact is None
    # Peer-led group cadence 35 days from enrolment on 5 Jan: 9 Feb 10:00 + 1 s.
    state, change = apply(state, tick("2026-02-09T10:00:01Z"), POLICY)
    assert builders.delta(change, DIS) == [("opened", DIS, "no-completed-contact-within-35-days")]


def test_missed_appointment_stays_open_until_a_later_one_is_kept() -> None:
    log = Log()
    log.enrol("2026-01-05")
    log.appointment(
        "2026-02-10", appointment_id="a1", status="missed", scheduled_for="2026-02-10T09:00:00Z"
    )
    log.appointment(
        "2026-02-20", appointment_id="a2", status="kept", scheduled_for="2026-02-20T09:00:00Z"
    )
    _, changes = run(log.events)
    assert builders.delta(changes[1], MISSED) == [
        ("opened", MISSED, "missed-diabetes-review-appointment")
    ]
    assert builders.delta(changes[2], MISSED) == [("closed", MISSED, "later-appointment-kept")]


def test_an_appointment_corrected_from_missed_to_kept_closes_the_gap() -> None:
    log = Log()
    log.enrol("2026-01-05")
    log.appointment(
        "2026-02-10", appointment_id="a1", status="missed", scheduled_for="2026-02-10T09:00:00Z"
    )
    log.appointment(
        "2026-02-11", appointment_id="a1", status="kept", scheduled_for="2026-02-10T09:00:00Z"
    )
    _, changes = run(log.events)
    assert builders.delta(changes[2], MISSED) == [
        ("closed", MISSED, "appointment-no-longer-missed")
    ]


def test_non_adherence_and_cost_barrier_open_and_close_with_later_reports() -> None:
    """Not taking medication because of cost opens both gaps; a later contact reporting
    taking as prescribed (no cost barrier) closes both."""
    log = Log()
    log.enrol("2026-01-05")
    log.contact("2026-02-01", adherence={"taking_as_prescribed": False, "reason": "cost"})
    log.contact("2026-03-01", adherence={"taking_as_prescribed": True})
    _state, changes = run(log.events)
    assert builders.delta(changes[1], ADH, COST) == [
        ("opened", ADH, "not-taking-medication-as-prescribed"),
        ("opened", COST, "medication-cost-barrier-reported"),
    ]
    assert builders.delta(changes[2], ADH, COST) == [
        ("closed", ADH, "taking-medication-as-prescribed"),
        ("closed", COST, "no-cost-barrier-reported"),
    ]


def test_an_older_contact_arriving_late_does_not_override_a_newer_report() -> None:
    log = Log()
    log.enrol("2026-01-05")
    log.contact("2026-03-01", adherence={"taking_as_prescribed": True})
    log.contact(
        "2026-02-01", adherence={"taking_as_prescribed": False}, barriers=["medication_cost"]
    )
    state, _ = run(log.events)
    assert builders.open_codes(state, ADH, COST) == {}
