"""pytest fixtures for tier-2 validation; conftest files import them by name."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from tests.fhir_validation import FhirJsResult, FhirJsValidator, ensure_fhirjs

__all__ = ["ALLOWED_WARNING_LOCATIONS", "assert_fhirjs_clean", "fhirjs"]

#: Reviewed FHIR.js warnings: codes of example/preferred bindings that FHIR.js cannot expand
#: offline (SNOMED, LOINC, PeerLink's own code systems, US Core and DEQM codes). Any other
#: warning fails the tests until it is reviewed and listed here.
ALLOWED_WARNING_LOCATIONS = frozenset(
    {
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
)
_UNEXPANDED = re.compile(r'Code "[^"]+" \([^)]+\) not found in value set')
_INDEX = re.compile(r"\[\d+\]")


@pytest.fixture(scope="session")
def fhirjs() -> FhirJsValidator:
    """FHIR.js installed (once per lockfile) into the npm cache outside the repository."""
    return FhirJsValidator(ensure_fhirjs())


def assert_fhirjs_clean(
    validator: FhirJsValidator, resources: Iterable[Mapping[str, Any]]
) -> Counter[str]:
    """Zero errors, only reviewed warnings; returns the warning locations counted."""
    results: list[FhirJsResult] = validator.validate(list(resources))
    errors = [f"{r.resource_type}/{r.id}: {e}" for r in results for e in r.errors]
    assert not errors, "FHIR.js errors:\n" + "\n".join(errors[:50])
    assert all(r.valid for r in results)
    seen: Counter[str] = Counter()
    unreviewed = []
    for result in results:
        for message in result.messages:
            if message.get("severity") != "warning":
                continue
            location = _INDEX.sub("", str(message.get("location", "")))
            if location in ALLOWED_WARNING_LOCATIONS and _UNEXPANDED.fullmatch(
                str(message.get("message", ""))
            ):
                seen[location] += 1
            else:
                unreviewed.append(f"{location}: {message.get('message')}")
    assert not unreviewed, "unreviewed FHIR.js warnings:\n" + "\n".join(sorted(set(unreviewed)))
    return seen
