"""Fixtures of the intake unit tests: settings of two test programmes and the pure domain."""

from __future__ import annotations

import pytest

from services.intake.service import IntakeDomain
from services.intake.settings import IntakeSettings
from tests.unit.intake import examples as ex


@pytest.fixture
def settings() -> IntakeSettings:
    return ex.settings()


@pytest.fixture
def domain(settings: IntakeSettings) -> IntakeDomain:
    return IntakeDomain.from_settings(settings)
