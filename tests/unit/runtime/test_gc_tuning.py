"""The services' garbage-collector thresholds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from services.cli import main
from services.runtime import tune_gc
from services.runtime.gc_tuning import SERVICE_GC_THRESHOLDS


@pytest.fixture
def restore_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_thresholds")
def test_tune_gc_collects_the_young_generation_far_less_often_than_the_default() -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc()
    assert gc.get_threshold() == SERVICE_GC_THRESHOLDS
    assert SERVICE_GC_THRESHOLDS[0] >= 100 * 700


@pytest.mark.parametrize(
    "argv",
    [
        ["intake", "run", "--no-http"],
        ["caregaps", "run"],
        ["fhir-publisher", "run"],
        ["evaluation", "run", "--db", "evaluation.sqlite"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_service_command_tunes_the_collector_before_it_runs(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr("services.runtime.tune_gc", lambda: calls.append("tune_gc"))
    monkeypatch.setattr("services.runtime.configure_logging", lambda *a, **k: None)

    def run(coroutine: Coroutine[Any, Any, Any]) -> None:
        coroutine.close()  # never start the service: only the order of calls matters
        calls.append("run")

    monkeypatch.setattr(asyncio, "run", run)
    assert main(argv) == 0
    assert calls == ["tune_gc", "run"]
