"""Fixtures of the evaluation unit tests: the hand-built scenario, as facts and as metrics."""

from __future__ import annotations

import pytest

from schemas.events import Event
from services.evaluation.facts import Facts, facts_of
from services.evaluation.metrics import compute_metrics
from services.evaluation.model import MetricsBlock, ProgrammeMetrics
from tests.unit.evaluation.scenario import PERIOD, PROG, scenario_events


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return scenario_events()


@pytest.fixture(scope="module")
def facts(events: list[Event]) -> Facts:
    out = Facts.empty()
    for event in events:
        facts_of(event, out)
    return out


@pytest.fixture(scope="module")
def metrics(facts: Facts) -> ProgrammeMetrics:
    # min_cell=1: every figure visible, so the hand-worked answers can be checked.
    return compute_metrics(facts, period=PERIOD, programme_id=PROG, min_cell=1)


@pytest.fixture(scope="module")
def block(metrics: ProgrammeMetrics) -> MetricsBlock:
    return metrics.overall
