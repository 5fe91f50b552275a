"""The engine as a whole: corrections, enrolment, consent, exit, ticks and determinism."""

from __future__ import annotations

import uuid

from schemas.caregaps import CareGapChange
from schemas.events import CareGapsChangedEvent, parse_event
from schemas.vocabulary import GapCode
from services.caregaps import ParticipantState, RulePolicy, apply, change_event
from services.caregaps.engine import step
from services.caregaps.ids import NAMESPACE, change_id, gap_id
from tests.unit.caregaps import builders
from tests.unit.caregaps.builders import Log, glucose, hba1c, run, tick

ABOVE = GapCode.A1C_ABOVE_GOAL.value
POOR = GapCode.A1C_POOR.value
DUE = GapCode.A1C_DUE.value
POLICY = RulePolicy()


# ----------------------------------------------------------------------------- corrections


def test_entered_in_error_reopens_the_due_gap_a_result_had_closed() -> None:
    """An HbA1c closes DM-A1C-DUE; marking it entered-in-error re-opens the gap as a new
    episode (rules 6.5: it must re-open a gap it had closed)."""
    log = Log()
    log.enrol("2025-01-02")
    state, _ = run(log.events)
    state, _ = apply(state, tick("2025-06-01"), POLICY)
    assert builders.open_codes(state, DUE) == {DUE: "no-hba1c-on-record"}
    more = Log(n=log.n)
    more.result("2025-06-02", hba1c(6.4, "2025-06-02"), rid="r1")
    more.result("2025-06-03", hba1c(6.4, "2025-06-02", status="entered_in_error"), rid="r1")
    state, changes = run(more.events, state=state)
    assert builders.delta(changes[0], DUE) == [("closed", DUE, "hba1c-received")]
    assert builders.delta(changes[1], DUE) == [("opened", DUE, "no-hba1c-on-record")]
    assert state.gap(DUE).episode == 2  # type: ignore[union-attr]


def test_entered_in_error_cancels_the_gaps_it_had_opened() -> None:
    """9.5 % opens above-goal and poor control; when it is entered in error and no other
    result remains, both gaps are cancelled (never existed), not closed."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", hba1c(9.5, "2026-02-01"), rid="r1")
    log.result("2026-02-02", hba1c(9.5, "2026-02-01", status="entered_in_error"), rid="r1")
    _, changes = run(log.events)
    assert builders.delta(changes[2], ABOVE, POOR) == [
        ("cancelled", ABOVE, "evidence-entered-in-error"),
        ("cancelled", POOR, "evidence-entered-in-error"),
    ]


def test_error_on_the_newest_result_falls_back_to_the_previous_one() -> None:
    """6.5 % (Jan) then 9.4 % (Mar) opens poor control; the March value is entered in error:
    January's 6.5 % is the most recent again, both glycaemia gaps are cancelled."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-01-10", hba1c(6.5, "2026-01-10"), rid="r1")
    log.result("2026-03-10", hba1c(9.4, "2026-03-10"), rid="r2")
    log.result("2026-03-11", hba1c(9.4, "2026-03-10", status="entered_in_error"), rid="r2")
    state, changes = run(log.events)
    assert builders.open_codes(state, ABOVE, POOR) == {}
    assert [a for a, _, _ in builders.delta(changes[3], ABOVE, POOR)] == ["cancelled", "cancelled"]


def test_an_amended_value_flips_the_goal_state() -> None:
    """8.0 % opens above-goal; amended to 6.8 % the gap closes (rules 6.5)."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", hba1c(8.0, "2026-02-01"), rid="r1")
    log.result("2026-02-03", hba1c(6.8, "2026-02-01", status="amended"), rid="r1")
    _, changes = run(log.events)
    assert builders.delta(changes[2], ABOVE) == [("closed", ABOVE, "later-hba1c-below-goal")]


def test_a_correction_arriving_before_its_original_still_wins() -> None:
    """The correction is reported later (log time) than the original, so it wins even when
    it is consumed first: the result never counts."""
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-02", hba1c(9.5, "2026-02-01", status="entered_in_error"), rid="r1")
    log.result("2026-02-01T12:00:00Z", hba1c(9.5, "2026-02-01"), rid="r1")
    state, changes = run(log.events)
    assert changes[2] is None
    assert builders.open_codes(state, ABOVE, POOR) == {}


# ------------------------------------------------------------- enrolment, consent, exit


def test_every_change_carries_programme_model_clinic_patient_and_consent() -> None:
    log = Log(programme="prog-chw", model="community_health_worker")
    log.enrol("2026-01-02", patient={"literal_id": "pat-9"}, clinic_id="clinic-9")
    log.result("2026-02-01", hba1c(8.1, "2026-02-01"))
    _, changes = run(log.events)
    for change in changes:
        assert change is not None
        assert change.programme_id == "prog-chw"
        assert change.support_model.value == "community_health_worker"
        assert change.clinic_id == "clinic-9"
        assert change.patient is not None
        assert change.patient.literal_id == "pat-9"
        assert change.consent.share_with_clinic is True
        assert change.consent.clinic_id == "clinic-9"


def test_enrolment_and_consent_changes_are_published_even_without_gap_changes() -> None:
    """Downstream gates publication on consent at that point of the log (ARCHITECTURE)."""
    log = Log()
    log.enrol("2026-01-02")
    log.consent("2026-01-03", share=False)
    log.consent("2026-01-04", share=True)
    _, changes = run(log.events)
    shares = [c.consent.share_with_clinic for c in changes if c is not None]
    assert shares == [True, False, True]
    assert all(c is not None and c.delta == () for c in changes)


def test_a_consent_event_older_than_the_current_consent_is_ignored() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.consent("2026-01-10", share=False)
    log.consent("2026-01-05", share=True)  # older, arrives late
    state, changes = run(log.events)
    assert changes[2] is None
    assert state.consent.share_with_clinic is False


def test_consent_since_tells_never_consented_from_withdrawn() -> None:
    """``since`` is when sharing was granted or withdrawn: None for a participant who never
    agreed, so downstream does not report a refusal at enrolment as a withdrawal."""
    log = Log()
    log.enrol("2026-01-02", consent_share_with_clinic=False)
    log.consent("2026-01-03", share=False)  # declined again: still never consented
    log.consent("2026-01-05", share=True)
    log.consent("2026-01-09", share=False)
    log.enrol("2026-01-11", consent_share_with_clinic=False)  # re-stated: withdrawn since 9th
    _, changes = run(log.events)
    stamps = [
        (c.consent.share_with_clinic, c.consent.since and c.consent.since.day)
        for c in changes
        if c is not None
    ]
    assert stamps == [(False, None), (False, None), (True, 5), (False, 9), (False, 9)]


def test_a_late_older_statement_is_ignored_even_when_consent_was_never_granted() -> None:
    log = Log()
    log.enrol("2026-01-10", consent_share_with_clinic=False)
    log.consent("2026-01-05", share=True)  # older than the enrolment's "no", arrives late
    state, changes = run(log.events)
    assert changes[1] is None
    assert state.consent.share_with_clinic is False
    assert state.consent.since is None


def test_exit_cancels_every_open_gap_and_nothing_opens_afterwards() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", hba1c(9.2, "2026-02-01"))
    log.exit("2026-02-10", reason="moved_away")
    log.result("2026-02-11", hba1c(9.9, "2026-02-11"))
    state, changes = run(log.events)
    exit_change = changes[2]
    assert exit_change is not None
    assert exit_change.participation.value == "exited"
    assert {(a, r) for a, _, r in builders.delta(exit_change)} == {
        ("cancelled", "participant-exited")
    }
    assert exit_change.open_gaps == ()
    assert changes[3] is None
    state, change = apply(state, tick("2027-01-01"), POLICY)
    assert change is None
    assert builders.open_codes(state) == {}


def test_death_cancels_with_its_own_reason() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", hba1c(9.2, "2026-02-01"))
    log.exit("2026-02-10", reason="died")
    _, changes = run(log.events)
    assert {r for _, _, r in builders.delta(changes[2])} == {"participant-died"}


def test_re_enrolment_after_exit_reactivates_the_participant() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.exit("2026-02-10")
    log.enrol("2026-05-01")
    log.result("2026-05-02", hba1c(8.0, "2026-05-02"))
    _, changes = run(log.events)
    assert changes[2] is not None
    assert changes[2].participation.value == "active"
    assert builders.delta(changes[3], ABOVE) == [
        ("opened", ABOVE, "hba1c-at-or-above-goal-7-percent")
    ]


def test_events_before_enrolment_are_kept_and_evaluated_at_enrolment() -> None:
    """A clinic result without programme arrives first: nothing can be published. At
    enrolment the facts already held open the gap in the enrolment's change."""
    log = Log()
    log.result("2026-01-01", hba1c(8.5, "2026-01-01"))
    log.enrol("2026-01-02")
    _, changes = run(log.events)
    assert changes[0] is None
    assert builders.delta(changes[1], ABOVE) == [
        ("opened", ABOVE, "hba1c-at-or-above-goal-7-percent")
    ]


def test_a_red_flag_from_a_contact_before_enrolment_is_still_published() -> None:
    """The contact names programme and model, so the alert is not held back."""
    log = Log()
    log.contact("2026-01-01T10:00:00Z", red_flags=[{"code": "RF11"}])
    state, changes = run(log.events)
    assert builders.delta(changes[0]) == [("opened", "DM-REDFLAG-RF11", "peer-reported-RF11")]
    assert state.profile is not None
    assert state.profile.enrolled is False


# ------------------------------------------------------------------------ ticks and ids


def test_a_tick_before_next_due_returns_the_same_state_object() -> None:
    log = Log()
    log.enrol("2026-01-02")
    state, _ = run(log.events)
    same, change = apply(state, tick("2026-01-10"), POLICY)
    assert same is state
    assert change is None


def test_a_tick_older_than_the_participant_clock_does_not_rewind_it() -> None:
    log = Log()
    log.enrol("2026-03-02")
    state, _ = run(log.events)
    state, _ = apply(state, tick("2026-05-01"), POLICY)
    clock = state.clock
    state, change = apply(state, tick("2026-04-01"), POLICY)
    assert state.clock == clock
    assert change is None


def test_ids_are_uuid5_of_participant_code_episode_and_sequence() -> None:
    log = Log()
    log.enrol("2026-01-02")
    log.result("2026-02-01", hba1c(8.0, "2026-02-01"))
    _, changes = run(log.events)
    change = changes[1]
    assert change is not None
    expected_gap = str(uuid.uuid5(NAMESPACE, f"gap/p-0001/{ABOVE}/1"))
    assert change.delta[0].gap_id == expected_gap == gap_id("p-0001", ABOVE, 1)
    assert (
        change.change_id == change_id("p-0001", 2) == str(uuid.uuid5(NAMESPACE, "change/p-0001/2"))
    )
    assert change.sequence == 2


def test_replaying_the_same_log_gives_byte_identical_output() -> None:
    """No wall clock, no randomness: two runs give the same change bytes and state bytes."""

    def once() -> tuple[list[bytes], bytes]:
        log = Log()
        log.enrol("2026-01-02")
        log.result("2026-02-01", hba1c(9.4, "2026-02-01"))
        log.contact("2026-02-03T10:00:00Z", observations=[glucose(45, "2026-02-03T09:00:00Z")])
        state, changes = run([*log.events, tick("2026-06-01")])
        blobs = [change_event(c, "p-0001").model_dump_json().encode() for c in changes if c]
        return blobs, state.to_bytes()

    assert once() == once()


def test_change_event_envelope_round_trips_through_the_contract() -> None:
    log = Log()
    log.enrol("2026-01-02")
    _, changes = run(log.events)
    change = changes[0]
    assert isinstance(change, CareGapChange)
    event = change_event(change, "p-0001")
    parsed = parse_event(event.model_dump_json())
    assert isinstance(parsed, CareGapsChangedEvent)
    assert parsed == event
    assert parsed.id == change.change_id
    assert parsed.subject == "p-0001"


def test_the_engine_ignores_its_own_output() -> None:
    log = Log()
    log.enrol("2026-01-02")
    state, changes = run(log.events)
    assert changes[0] is not None
    same, change = apply(state, change_event(changes[0], "p-0001"), POLICY)
    assert same is state
    assert change is None


def test_an_event_for_another_participant_is_refused() -> None:
    log = Log(key="p-0002")
    log.enrol("2026-01-02")
    try:
        apply(ParticipantState.new("p-0001"), log.events[0], POLICY)
    except ValueError:
        return
    raise AssertionError("expected ValueError")


def test_the_fast_json_of_a_change_equals_the_contract_serialisation() -> None:
    """The service writes change records with orjson; with an event time in another offset
    and fractions of a second, a patient identifier and a withdrawn consent, the bytes are
    those the pydantic models produce."""
    log = Log()
    log.enrol(
        "2026-01-02T09:30:00.250+02:00",
        patient={"identifier_system": "urn:oid:1.2.3", "identifier_value": "A1"},
    )
    log.consent("2026-01-03T10:00:00.5-05:00", share=False)
    log.result("2026-02-01T08:00:00.123456+01:00", hba1c(9.4, "2026-02-01"))
    state = ParticipantState.new("p-0001")
    for event in log.events:
        state, change = step(state, event, POLICY)
        assert change is not None
        assert change.to_json() == change_event(change.model(), "p-0001").model_dump_json().encode()
