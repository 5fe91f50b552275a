"""Golden example resources: checked in, valid in both tiers, and equal to the mapping output.

After an intended mapping change run ``peerlink fhir-publisher golden --write`` and review
the diff of ``schemas/golden/``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from schemas.events import CareGapsChangedEvent, parse_event
from services.fhir_publisher import ClinicProfile, Mapper
from services.fhir_publisher.checks import check_resource, validate_model
from services.fhir_publisher.examples import CANONICAL
from services.fhir_publisher.golden import GOLDEN_DIR, diff_goldens, scenarios, write_goldens
from tests.fhir_validation import FhirJsValidator
from tests.fhir_validation.pytest_fixtures import assert_fhirjs_clean


def _resources() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(GOLDEN_DIR.glob("*/*.json")):
        if path.name not in ("input.json", "clinic.json"):
            found.append((path, json.loads(path.read_text())))
    return found


def test_goldens_match_the_mapping() -> None:
    problems = diff_goldens()
    assert not problems, (
        "mapping output drifted from schemas/golden/ "
        "(regenerate with `peerlink fhir-publisher golden --write` and review):\n"
        + "\n".join(problems)
    )


def test_one_golden_per_gap_code_and_priority() -> None:
    names = {p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()}
    for code, canon in CANONICAL.items():
        for priority in canon.priorities:
            folder = GOLDEN_DIR / f"{code.value.lower()}-{priority.value}"
            assert folder.name in names
            (comm,) = [json.loads(p.read_text()) for p in folder.glob("*-Communication.json")]
            assert comm["priority"] == priority.value
            assert comm["topic"]["coding"][0]["code"] == code.value
            assert comm["category"][0]["coding"][0]["code"] == canon.category.value


def test_goldens_are_valid_tier_1() -> None:
    resources = _resources()
    assert len(resources) > 100
    for path, body in resources:
        validate_model(body)
        assert check_resource(body) == [], path


def test_goldens_are_valid_tier_2(fhirjs: FhirJsValidator) -> None:
    warnings: Counter[str] = assert_fhirjs_clean(fhirjs, [body for _, body in _resources()])
    # Only binding-expansion warnings remain (listed in the pytest_fixtures allow-list).
    assert set(warnings) <= {
        "CarePlan.category",
        "CarePlan.activity.detail.code",
        "CarePlan.activity.detail.reasonCode",
        "CarePlan.activity.detail.statusReason",
        "Condition.code",
        "Communication.topic",
        "Communication.reasonCode",
        "DetectedIssue.code",
        "DetectedIssue.evidence.code",
    }


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.name)
def test_inputs_on_disk_reproduce_the_resources(scenario: Any) -> None:
    folder = GOLDEN_DIR / scenario.name
    event = parse_event((folder / "input.json").read_bytes())
    assert isinstance(event, CareGapsChangedEvent)
    clinic = ClinicProfile.model_validate_json((folder / "clinic.json").read_bytes())
    result = Mapper().map_change(event.data, event.subject, clinic)
    on_disk = sorted(folder.glob("[0-9]*-*.json"), key=lambda p: int(p.name.split("-")[0]))
    assert [json.loads(p.read_text()) for p in on_disk] == [r.body for r in result.resources]


def test_write_then_diff_round_trips(tmp_path: Path) -> None:
    stale = tmp_path / "old-scenario" / "1-CarePlan.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    written = write_goldens(tmp_path)
    assert not stale.exists()
    assert not stale.parent.exists()
    assert diff_goldens(tmp_path) == []
    (tmp_path / written[-1]).write_text('{"changed": true}')
    assert diff_goldens(tmp_path) == [f"changed: {written[-1]}"]
