"""The rule layer catches what fhir.resources accepts (fhir_anchors.md 1.3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.vocabulary import GapCode
from services.fhir_publisher import ClinicProfile, Mapper
from services.fhir_publisher.checks import check_resource, validate_model
from services.fhir_publisher.examples import make_change, make_gap, opened


@pytest.fixture(scope="module")
def bodies() -> dict[str, dict[str, Any]]:
    gap = make_gap(GapCode.REDFLAG_RF4)
    result = Mapper().map_change(
        make_change(open_gaps=[gap], delta=[opened(gap)]), "p-1", ClinicProfile(detected_issue=True)
    )
    return {r.resource_type: r.body for r in result.resources}


def _broken(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    node = copied
    for step in path[:-1]:
        node = node[step]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copied


def test_mapped_resources_pass(bodies: dict[str, dict[str, Any]]) -> None:
    for body in bodies.values():
        assert check_resource(body) == []


@pytest.mark.parametrize(
    ("rtype", "path", "value", "needle"),
    [
        ("CarePlan", ("status",), "bogus", "CarePlan.status"),
        ("CarePlan", ("intent",), "directive", "CarePlan.intent"),
        ("CarePlan", ("subject",), {"reference": "Practitioner/1"}, "CarePlan.subject"),
        ("CarePlan", ("subject", "reference"), "not a ref!!", "reference"),
        ("CarePlan", ("text", "div"), "plain text", "XHTML"),
        (
            "CarePlan",
            ("text", "div"),
            '<div xmlns="http://www.w3.org/1999/xhtml"><script/></div>',
            "script",
        ),
        ("CarePlan", ("category",), [], "empty array"),
        ("CarePlan", ("addresses",), KeyError, "not referenced"),
        ("CarePlan", ("activity", 0, "detail", "status"), "open", "detail.status"),
        ("CarePlan", ("activity", 0, "detail", "kind"), "Observation", "detail.kind"),
        ("CarePlan", ("meta", "versionId"), "v 1", "versionId"),
        ("CarePlan", ("id",), "has space", "id"),
        ("Communication", ("priority",), "high", "priority"),
        ("Communication", ("sent",), "2026-09-03T09:30:00", "sent"),
        ("Communication", ("sender", "type"), "CareTeam", "sender"),
        ("Communication", ("category", 0, "coding", 0, "code"), "emergency", "category"),
        ("Communication", ("payload", 0, "contentString"), "   ", "blank"),
        ("Communication", ("topic", "coding", 0, "code"), "two  spaces", "code"),
        ("DetectedIssue", ("status",), "open", "DetectedIssue.status"),
        ("DetectedIssue", ("severity",), "critical", "severity"),
        (
            "DetectedIssue",
            ("modifierExtension", 0, "valueCodeableConcept", "coding", 0, "code"),
            "gap",
            "gapStatus",
        ),
        ("DetectedIssue", ("patient",), {"type": "Group", "identifier": {"value": "x"}}, "patient"),
    ],
)
def test_rule_layer_finds_problems(
    bodies: dict[str, dict[str, Any]], rtype: str, path: tuple[Any, ...], value: Any, needle: str
) -> None:
    problems = check_resource(_broken(bodies[rtype], path, value))
    assert any(needle in p for p in problems), problems


def test_r4b_accepts_what_the_rules_reject(bodies: dict[str, dict[str, Any]]) -> None:
    """Why the rule layer exists: the structure check alone lets a bad code through."""
    bad = _broken(bodies["CarePlan"], ("status",), "bogus")
    validate_model(bad)
    assert check_resource(bad)


def test_unexpected_resource_type() -> None:
    assert check_resource({"resourceType": "Patient"}) == ["resourceType: unexpected 'Patient'"]
