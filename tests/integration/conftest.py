"""Integration tests run against a real Kafka broker.

The Kafka fixtures (``kafka_settings``, ``kafka_admin``, ``unique_topic_factory``,
``producer_factory``, ``consumer_factory``) come from ``tests.support.kafka`` so the
reliability tests can share them; here every test in this folder is marked ``kafka``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.kafka)
