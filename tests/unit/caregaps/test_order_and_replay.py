"""Properties: arrival order, incremental evaluation and replay (care_gap_rules.md 6.1, 6.5).

* The final derived care gaps do not depend on the order in which clinic results arrive:
  clinical dates decide, corrections win by report time (hypothesis, many permutations).
* Re-evaluating only the rules whose facts changed gives exactly what evaluating every rule
  gives, on a long synthetic log with ticks.
* Every change record the engine emits is valid under the published contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_ADAPTER, CareGapsChangedEvent, Event, parse_event
from services.caregaps import ParticipantState, RulePolicy, apply, change_event, engine
from services.caregaps.clock import tick_payload
from services.caregaps.engine import step
from services.caregaps.state import ENCODED_GAPS
from services.caregaps.synthetic import synthetic_log
from tests.unit.caregaps.builders import Log, tick

START = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RulePolicy()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Per kind: a measurement builder and how many results pruning keeps (so no order-dependent
# pruning happens inside the generated history; bounded-state limits are tested elsewhere).
_KINDS: dict[str, tuple[int, Any]] = {
    "hba1c": (
        2,
        st.builds(
            lambda v: {"value": v, "unit": "%"}, st.sampled_from([6.2, 6.9, 7.0, 7.6, 9.0, 9.4])
        ),
    ),
    "blood_pressure": (
        4,
        st.builds(
            lambda s, d: {"systolic": s, "diastolic": d, "unit": "mmHg", "device": "automated"},
            st.sampled_from([118, 129, 130, 150, 165]),
            st.sampled_from([70, 79, 80, 101]),
        ),
    ),
    "egfr": (
        2,
        st.builds(
            lambda v: {"value": v, "unit": "mL/min/1.73m2"}, st.sampled_from([45, 59, 60, 90])
        ),
    ),
    "uacr": (
        2,
        st.builds(lambda v: {"value": v, "unit": "mg/g"}, st.sampled_from([10, 29, 30, 120])),
    ),
    "retinal_exam": (3, st.builds(lambda f: {"retinopathy_found": f}, st.booleans())),
    "foot_exam": (
        2,
        st.builds(
            lambda r: {"comprehensive": True, "iwgdf_risk": r}, st.sampled_from([None, 0, 2, 3])
        ),
    ),
    "phq9": (2, st.builds(lambda t: {"total": t, "item9": 0}, st.sampled_from([3, 9, 10, 15]))),
    "dds2": (
        1,
        st.builds(lambda a, b: {"item1": a, "item2": b}, st.integers(1, 6), st.integers(1, 6)),
    ),
}


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Clinic results over ten months, a few corrections (later reports of the same id)."""
    results: list[dict[str, Any]] = []
    for kind, (limit, values) in _KINDS.items():
        for i in range(draw(st.integers(0, limit))):
            effective = START + timedelta(days=draw(st.integers(0, 300)), hours=9)
            reported = effective + timedelta(days=draw(st.integers(0, 5)), hours=1)
            results.append(
                {
                    "rid": f"{kind}-{i}",
                    "reported": reported,
                    "measurement": {
                        "kind": kind,
                        "effective_at": _iso(effective),
                        "source": "clinic_lab",
                        **draw(values),
                    },
                }
            )
    for original in draw(
        st.lists(st.sampled_from(results), max_size=3, unique_by=lambda r: r["rid"])
        if results
        else st.just([])
    ):
        status = draw(st.sampled_from(["amended", "corrected", "entered_in_error"]))
        results.append(
            {
                "rid": original["rid"],
                "reported": original["reported"] + timedelta(days=draw(st.integers(1, 20))),
                "measurement": {**original["measurement"], "status": status},
            }
        )
    return results


def _events(history: list[dict[str, Any]]) -> list[Event]:
    log = Log()
    for item in history:
        log.result(
            _iso(item["reported"]),
            item["measurement"],
            rid=item["rid"],
            event_id=f"ev-{item['rid']}-{item['reported']:%m%d%H}",
        )
    return log.events


def _final_gaps(events: list[Event]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    enrol = Log()
    enrol.enrol("2025-12-01")
    state = ParticipantState.new("p-0001")
    for event in [*enrol.events, *events, tick("2026-12-31")]:
        state, _ = apply(state, event, POLICY)
    return {
        g.code: (g.reason, g.priority, g.evidence)
        for g in state.gaps
        if g.status == "open" and g.code.startswith("DM-") and "REDFLAG" not in g.code
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), data=st.data())
def test_arrival_order_of_results_does_not_change_the_final_gaps(
    history: list[dict[str, Any]], data: st.DataObject
) -> None:
    events = _events(history)
    shuffled = data.draw(st.permutations(events))
    assert _final_gaps(list(shuffled)) == _final_gaps(events)


def _synthetic_run(
    full: bool, *, fresh_renderings: bool = False
) -> tuple[list[bytes], list[bytes]]:
    """A synthetic log with a tick for every partition-less participant set every 50 events.

    ``fresh_renderings`` forgets every rendered gap before each step, so no change record
    reuses the serialised gaps of an earlier one.
    """
    engine.FULL_EVALUATION = full
    try:
        states: dict[str, ParticipantState] = {}
        out: list[bytes] = []
        for n, raw in enumerate(synthetic_log(participants=40, events_per_participant=60, seed=11)):
            if fresh_renderings:
                engine.RENDERED.clear()
                ENCODED_GAPS.clear()
            event = EVENT_ADAPTER.validate_python(raw)
            assert event.subject is not None
            state, change = step(
                states.get(event.subject) or ParticipantState.new(event.subject), event, POLICY
            )
            states[event.subject] = state
            if change is not None:
                out.append(change.to_json())
            if n % 50 == 49:
                ticked = parse_event(
                    json.dumps(
                        tick_payload(
                            datetime.fromisoformat(raw["time"].replace("Z", "+00:00")), 0, None
                        )
                    )
                )
                for key in sorted(states):
                    states[key], change = step(states[key], ticked, POLICY)
                    if change is not None:
                        out.append(change.to_json())
        return out, [states[k].to_bytes() for k in sorted(states)]
    finally:
        engine.FULL_EVALUATION = False


@pytest.fixture(scope="module")
def incremental_run() -> tuple[list[bytes], list[bytes]]:
    return _synthetic_run(full=False)


def test_incremental_evaluation_equals_evaluating_every_rule(
    incremental_run: tuple[list[bytes], list[bytes]],
) -> None:
    changes, states = incremental_run
    full_changes, full_states = _synthetic_run(full=True)
    assert len(changes) > 500
    assert changes == full_changes

    # The per-rule due times may differ only where the incremental run skipped a rule; the
    # gaps, facts and emitted records may not. Compare states without that cache.
    def strip(raw: bytes) -> list[Any]:
        return list(json.loads(raw)[:-1])

    assert [strip(s) for s in states] == [strip(s) for s in full_states]


def test_replaying_the_synthetic_log_is_byte_identical(
    incremental_run: tuple[list[bytes], list[bytes]],
) -> None:
    assert _synthetic_run(full=False) == incremental_run


def test_reused_gap_serialisations_give_the_bytes_of_fresh_ones(
    incremental_run: tuple[list[bytes], list[bytes]],
) -> None:
    """Change records and state writes reuse each gap's serialisation while the record is
    unchanged: the same bytes as serialising everything afresh, with far fewer renders."""
    caches = (engine.RENDERED, ENCODED_GAPS)
    for cache in caches:
        cache.clear()
    before = [cache.rendered for cache in caches]
    assert _synthetic_run(full=False) == incremental_run
    reusing = [cache.rendered - n for cache, n in zip(caches, before, strict=True)]
    before = [cache.rendered for cache in caches]
    assert _synthetic_run(full=False, fresh_renderings=True) == incremental_run
    fresh = [cache.rendered - n for cache, n in zip(caches, before, strict=True)]
    # This run writes each state once, at the end: only change records can reuse here.
    assert reusing[0] < fresh[0] / 2


def test_every_emitted_change_is_valid_under_the_contract(
    incremental_run: tuple[list[bytes], list[bytes]],
) -> None:
    """The service writes change records with orjson, not through the pydantic models:
    every one must parse under the contract and re-serialise to the very same bytes, which
    is also what ``apply`` + ``change_event`` give (tests and callers use those)."""
    changes, _ = incremental_run
    for raw in changes:
        event = CareGapsChangedEvent.model_validate_json(raw)
        assert event.model_dump_json().encode() == raw
        assert change_event(event.data, event.subject).model_dump_json().encode() == raw
