"""Shared pytest set-up for the whole suite.

Fixture plugins are registered here (the only conftest pytest allows ``pytest_plugins`` in),
so unit, integration and reliability tests all see them. A session-scoped fixture only does
work when a test asks for it: unit-only runs never start a broker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("tests.support.kafka",)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder (for tests that read checked-in files)."""
    return REPO_ROOT
