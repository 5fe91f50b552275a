"""Small-cell suppression: figures resting on fewer than min_cell participants are hidden."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from services.evaluation.facts import Facts
from services.evaluation.metrics import compute_metrics
from services.evaluation.model import Figure, ProgrammeMetrics
from tests.unit.evaluation.scenario import PERIOD, PROG


def _hidden(figure: Figure) -> bool:
    return figure.suppressed and figure.value is None and figure.n is None


def test_default_minimum_of_eleven_hides_the_whole_small_programme(facts: Facts) -> None:
    result = compute_metrics(facts, period=PERIOD, programme_id=PROG)
    assert result.min_cell == 11
    block = result.overall
    assert _hidden(block.reach.enrolled)  # 7 < 11
    assert _hidden(block.dose.contacts_per_participant_month)
    assert _hidden(block.linkage.red_flags_per_100_participant_months["all"])
    assert _hidden(block.outcomes.hba1c.mean_change)
    assert block.linkage.gaps_by_kind["care_gap"].closure_time_bins is None
    # Nothing behind it at all: no value, but nothing to protect either.
    assert block.outcomes.phq9_total.mean_change == Figure(value=None, n=0)


def test_a_lower_minimum_shows_large_enough_cells_only(facts: Facts) -> None:
    result = compute_metrics(facts, period=PERIOD, programme_id=PROG, min_cell=6)
    block = result.overall
    assert block.reach.enrolled == Figure(value=7, n=7)
    assert block.reach.ever_contacted_share.value == pytest.approx(6 / 7, abs=1e-4)
    assert block.dose.month1_contacts_per_participant.n == 6
    # 5 participants with an HbA1c pair: suppressed, and so are its strata.
    assert _hidden(block.outcomes.hba1c.mean_change)
    assert block.outcomes.hba1c.drop_ge_1_share is not None
    assert _hidden(block.outcomes.hba1c.drop_ge_1_share)
    for stratum in block.outcomes.hba1c_by_baseline_stratum.values():
        assert _hidden(stratum.mean_change)
    # 6 participants with care gaps opened: shown; the eye gap (one person) is not.
    care = block.linkage.gaps_by_kind["care_gap"]
    assert care.opened.value == 6
    assert care.closure_time_bins is not None
    (eye,) = [g for g in block.linkage.gaps_by_code if g.code == "DM-EYE-DUE"]
    assert _hidden(eye.opened)
    assert eye.closure_time_bins is None
    # The peer-coach model has a single participant: every figure of it is hidden.
    coach = result.by_model["peer_coach"]
    assert _hidden(coach.reach.enrolled)
    assert _hidden(coach.dose.contacts_per_participant_month)


def test_no_published_figure_rests_on_fewer_than_min_cell(facts: Facts) -> None:
    result = compute_metrics(facts, period=PERIOD, programme_id=PROG, min_cell=4)

    def figures(node: object) -> list[Figure]:
        if isinstance(node, Figure):
            return [node]
        if isinstance(node, dict):
            return [f for value in node.values() for f in figures(value)]
        if isinstance(node, list | tuple):
            return [f for value in node for f in figures(value)]
        if isinstance(node, BaseModel):
            return [f for name in type(node).model_fields for f in figures(getattr(node, name))]
        return []

    found = figures(result)
    assert len(found) > 100
    for figure in found:
        if figure.suppressed:
            assert figure.value is None
            assert figure.n is None
        else:
            assert figure.n is not None
            assert figure.n == 0 or figure.n >= 4


def test_min_cell_must_be_positive(facts: Facts) -> None:
    with pytest.raises(ValueError, match="min_cell"):
        compute_metrics(facts, period=PERIOD, programme_id=PROG, min_cell=0)


def test_result_is_json_serialisable(metrics: ProgrammeMetrics) -> None:
    body = metrics.model_dump(mode="json")
    assert body["programme_id"] == PROG
    assert body["period_from"] == "2026-01-01"
    assert "observational" in body["observational_note"].lower()
