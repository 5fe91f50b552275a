"""The SQLite store: idempotent by event id, atomic per batch, the same figures after restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from schemas.events import CareGapsChangedEvent, Event
from services.evaluation import store as store_module
from services.evaluation.facts import facts_of
from services.evaluation.metrics import compute_metrics
from services.evaluation.model import ProgrammeMetrics
from services.evaluation.store import EvaluationStore, Reject, StoreVersionError
from tests.unit.evaluation.scenario import PERIOD, PROG


def _metrics(store: EvaluationStore) -> ProgrammeMetrics:
    return compute_metrics(store.load(PROG), period=PERIOD, programme_id=PROG, min_cell=1)


def test_store_round_trip_gives_the_same_figures_as_the_pure_facts(
    tmp_path: Path, events: list[Event], metrics: ProgrammeMetrics
) -> None:
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        result = store.ingest(events)
        assert result.accepted == len(events)
        assert result.duplicates == 0
        assert _metrics(store) == metrics


def test_ingesting_again_and_after_a_restart_never_double_counts(
    tmp_path: Path, events: list[Event], metrics: ProgrammeMetrics
) -> None:
    path = tmp_path / "eval.sqlite3"
    with EvaluationStore(path) as store:
        store.ingest(events[:40])
        first_counts = store.counts()
        again = store.ingest(events[:40])
        assert again.accepted == 0
        assert again.duplicates == 40
        assert store.counts() == first_counts
    # A restarted consumer re-reads everything after its last committed offset, which may
    # overlap what the store already holds.
    with EvaluationStore(path) as store:
        result = store.ingest(events[20:] + events[:5])
        assert result.accepted == len(events) - 40
        assert result.duplicates == 25
        assert store.counts()["ingested"] == len(events)
        assert _metrics(store) == metrics


def test_duplicates_inside_one_batch_count_once(tmp_path: Path, events: list[Event]) -> None:
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        result = store.ingest([events[0], events[1], events[0]])
        assert (result.accepted, result.duplicates) == (2, 1)


def test_a_replayed_gap_change_with_a_new_envelope_id_adds_no_gap(
    tmp_path: Path, events: list[Event], metrics: ProgrammeMetrics
) -> None:
    change = next(e for e in events if isinstance(e, CareGapsChangedEvent))
    replay = change.model_copy(update={"id": "replayed-envelope-id"})
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        store.ingest(events)
        gaps = store.counts()["gaps"]
        assert store.ingest([replay]).accepted == 1
        assert store.counts()["gaps"] == gaps
        assert _metrics(store) == metrics


def test_a_failing_batch_leaves_nothing_behind(
    tmp_path: Path, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = facts_of

    def flaky(event: Event, into: object = None) -> object:
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("disk full")
        return real(event, into)  # type: ignore[arg-type]

    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        monkeypatch.setattr(store_module, "facts_of", flaky)
        with pytest.raises(RuntimeError):
            store.ingest(events)
        assert all(count == 0 for count in store.counts().values())
        monkeypatch.setattr(store_module, "facts_of", real)
        assert store.ingest(events).accepted == len(events)


def test_catalogue_extent_and_rejects(tmp_path: Path, events: list[Event]) -> None:
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        assert store.extent() is None
        store.ingest(events)
        assert store.programmes() == {
            "prog-a": ["community_health_worker", "peer_coach"],
            "prog-b": ["community_health_worker"],
        }
        low, high = store.extent() or (0.0, 0.0)
        assert min(e.time.timestamp() for e in events) == low
        assert max(e.time.timestamp() for e in events) == high
        reject = Reject(topic="peer.events.v1", partition=1, offset=7, error_class="X")
        store.record_rejects([reject, reject])
        assert store.counts()["rejects"] == 1


def test_the_store_keeps_no_free_text_or_patient_links(tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / "eval.sqlite3"
    with EvaluationStore(path) as store:
        store.ingest(events)
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "recommended_action" not in dump
    assert "Follow the programme protocol" not in dump
    assert "clinic-1" not in dump


def test_a_file_of_another_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "eval.sqlite3"
    EvaluationStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreVersionError, match="replay"):
        EvaluationStore(path)


def test_results_with_the_same_id_from_different_participants_do_not_collide(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from services.evaluation.sample import EventBuilder

    b = EventBuilder()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    b.hba1c("p-one", when, 7.0, result_id="lab-1")
    b.hba1c("p-two", when, 9.0, result_id="lab-1")
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        store.ingest(b.events)
        keys = {m.result_key for m in store.load().measurements}
    assert keys == {"r:p-one:lab-1", "r:p-two:lab-1"}
