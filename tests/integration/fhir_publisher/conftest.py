"""Fixtures of the FHIR publisher integration tests."""

from __future__ import annotations

import pytest

from services.fhir_publisher import ClinicProfile, Mapper
from tests.fhir_validation.pytest_fixtures import fhirjs

__all__ = ["clinic", "fhirjs", "mapper"]


@pytest.fixture
def mapper() -> Mapper:
    return Mapper()


@pytest.fixture
def clinic() -> ClinicProfile:
    return ClinicProfile()
