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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test an engine build older than its source (it would test the old code)."""
    from services.caregaps.native import stale_builds

    stale = stale_builds(REPO_ROOT)
    if stale:
        pytest.exit(
            f"compiled modules older than their source: {', '.join(stale)}; "
            "run `make venv` to compile them again (or `make clean` to drop them)",
            returncode=4,
        )
