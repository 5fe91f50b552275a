"""Participant state: exact byte round trip, bounded size, pruning."""

from __future__ import annotations

import statistics
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas.events import EVENT_ADAPTER
from schemas.vocabulary import GapCode
from services.caregaps import ParticipantState, RulePolicy, apply
from services.caregaps.rules.catalogue import CODINGS
from services.caregaps.rules.facts import prune
from services.caregaps.state import (
    _CODINGS,
    _GAP_CODES,
    ENCODED_GAPS,
    Appointment,
    Consent,
    Exit,
    Stamp,
    StateFormatError,
    kept_dumps,
)
from services.caregaps.synthetic import synthetic_log
from tests.unit.caregaps.builders import Log, hba1c, run, tick


def synthetic_states(participants: int, events: int) -> dict[str, ParticipantState]:
    states: dict[str, ParticipantState] = {}
    policy = RulePolicy()
    for raw in synthetic_log(participants=participants, events_per_participant=events, seed=3):
        event = EVENT_ADAPTER.validate_python(raw)
        key = event.subject
        assert key is not None
        state, _ = apply(states.get(key) or ParticipantState.new(key), event, policy)
        states[key] = state
    return states


def test_from_bytes_inverts_to_bytes_exactly() -> None:
    """A state restored from the changelog equals the state before, field for field."""
    for state in synthetic_states(60, 80).values():
        raw = state.to_bytes()
        restored = ParticipantState.from_bytes(raw)
        assert restored == state
        assert restored.to_bytes() == raw


def test_evolve_replaces_exactly_the_named_fields() -> None:
    """``evolve`` pairs names with positions: a field it mixed up would be lost or never change."""
    state = next(iter(synthetic_states(1, 40).values()))
    assert state.profile is not None
    assert state.results
    assert state.gaps
    # A value of the field's own type (compiled code checks types), unlike the current one.
    replacements: dict[str, Any] = {
        "key": state.key + "-other",
        "clock": state.clock + 1,
        "seq": state.seq + 1,
        "profile": state.profile._replace(since=state.profile.since + 1),
        "consent": Consent(True, "c-other", 1, 2),
        "exited": Exit("moved_away", 3, "e-other"),
        "results": state.results[:-1],
        "last_contact": Stamp(4, "e-contact"),
        "adherence": (Stamp(5, "e-adherence"), False),
        "cost_barrier": (Stamp(6, "e-cost"), True),
        "appointments": (*state.appointments, state.appointments[0])
        if state.appointments
        else (Appointment("a-1", "kept", 7, 8, "eye", 9, "e-appt"),),
        "last_hypo": Stamp(10, "e-hypo"),
        "gaps": state.gaps[:-1],
        "next_due": state.next_due + 1,
        "due": (*state.due, 11),
    }
    names = list(ParticipantState._fields)
    assert sorted(replacements) == sorted(names)
    for name in names:
        assert replacements[name] != getattr(state, name), name
        new = state.evolve(**{name: replacements[name]})
        assert getattr(new, name) == replacements[name], name
        for other in names:
            if other != name:
                assert getattr(new, other) == getattr(state, other), other
    assert state.evolve() == state
    with pytest.raises(TypeError, match="no fields"):
        state.evolve(next_dew=1)


@pytest.mark.parametrize(
    "consent",
    [
        Consent(False, "c-1", None, 1_700_000_000),
        Consent(True, "c-1", 1_700_000_000, 1_700_000_000),
    ],
)
def test_consent_round_trips_and_older_states_still_decode(consent: Consent) -> None:
    state = ParticipantState.new("p-1").evolve(consent=consent)
    assert ParticipantState.from_bytes(state.to_bytes()).consent == consent
    # A state written before ``stated_at`` existed: [share, clinic, since] only.
    data = orjson.loads(state.to_bytes())
    data[5] = data[5][:3]
    old = ParticipantState.from_bytes(orjson.dumps(data)).consent
    assert old.stated_at == old.since == consent.since


def test_state_stays_small_however_long_the_history() -> None:
    """Pruning bounds the state: about 1.9 KB on average for a year of synthetic activity,
    and a 10-year history is no larger than a 1-year one by more than a few hundred bytes."""
    year = [len(s.to_bytes()) for s in synthetic_states(80, 40).values()]
    decade = [len(s.to_bytes()) for s in synthetic_states(12, 400).values()]
    assert statistics.mean(year) <= 2048
    assert max(decade) <= 4096
    assert statistics.mean(decade) <= statistics.mean(year) * 1.5


def test_pruning_keeps_the_newest_result_per_kind_however_old() -> None:
    """An HbA1c from 2020 is far past the 800-day retention, but it is the newest one, so
    DM-A1C-DUE still says "not within 183 days" rather than "nothing on record"."""
    log = Log()
    log.enrol("2019-12-01")
    log.result("2020-01-01", hba1c(6.5, "2020-01-01"))
    log.enrol("2026-01-01")
    state, _ = run(log.events)
    assert [r.kind for r in state.results] == ["hba1c"]
    assert state.gap(GapCode.A1C_DUE.value).reason == "no-hba1c-within-183-days"  # type: ignore[union-attr]


def test_pruning_drops_older_results_beyond_the_per_kind_limit() -> None:
    log = Log()
    log.enrol("2026-01-01")
    for month in range(1, 7):
        log.result(f"2026-0{month}-15", hba1c(7.0 + month / 10, f"2026-0{month}-15"))
    state, _ = run(log.events)
    assert [r.values[0] for r in state.results if r.kind == "hba1c"] == [7.5, 7.6]
    assert prune(state, state.clock, RulePolicy()) is state


def test_every_gap_code_and_coding_has_a_stable_state_index() -> None:
    """The byte format stores small integers for codes; a new code must be appended."""
    assert set(_GAP_CODES) == {c.value for c in GapCode}
    assert set(_CODINGS) == set(CODINGS)


@pytest.mark.parametrize("raw", [b"", b"{}", b"[2]", b'[1,"x"]', b"not json"])
def test_foreign_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(StateFormatError):
        ParticipantState.from_bytes(raw)


def _allocated(make: Callable[[], bytes], copies: int = 200) -> float:
    """Bytes allocated per kept result of ``make`` (what the allocator holds, not len)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make() for _ in range(copies)]
        return (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()


def test_bytes_kept_in_memory_take_their_own_size_not_the_serialiser_buffer() -> None:
    log = Log()
    state, _ = run([log.enrol("2026-01-05T09:00:00Z"), log.contact("2026-01-06T09:00:00Z")])
    value = [1, "a" * 300, None]
    assert kept_dumps(value) == orjson.dumps(value)
    assert ParticipantState.from_bytes(state.to_bytes()) == state
    # orjson's own result holds its 4 KiB working buffer however short the JSON.
    assert _allocated(lambda: orjson.dumps(value)) > 2048
    makers: list[Callable[[], bytes]] = [lambda: kept_dumps(value), state.to_bytes]
    for make in makers:
        assert _allocated(make) < len(make()) + 128


def test_a_state_written_again_reuses_the_encoding_of_its_unchanged_gaps() -> None:
    log = Log(key="p-encoding")
    state, _ = run([log.enrol("2026-01-05T09:00:00Z"), tick("2027-03-01T00:00:00Z")])
    assert len(state.gaps) >= 3
    ENCODED_GAPS.clear()
    before = ENCODED_GAPS.rendered
    first = state.to_bytes()
    made = ENCODED_GAPS.rendered
    assert made - before == len(state.gaps)
    later, _ = run([log.contact("2027-03-02T09:00:00Z")], state=state)
    changed = sum(g not in state.gaps for g in later.gaps)
    assert later.to_bytes() != first
    assert ENCODED_GAPS.rendered - made == changed
    ENCODED_GAPS.clear()  # encoded afresh: the same bytes
    assert later.to_bytes() == ParticipantState.from_bytes(later.to_bytes()).to_bytes()
