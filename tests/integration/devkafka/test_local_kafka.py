"""Lifecycle of a second, private local broker: up, reuse, down with and without data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.devkafka import LocalKafka, LocalKafkaConfig
from services.runtime.topics_admin import broker_answers
from tests.support.kafka import free_port_pair

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_up_status_down_keep_data(tmp_path: Path) -> None:
    kafka = LocalKafka(LocalKafkaConfig.from_env(port=free_port_pair(), state_dir=tmp_path))
    lines: list[str] = []
    try:
        settings = await kafka.up(topics=(), report=lines.append)
        status = kafka.status()
        assert status.running
        assert status.pid is not None
        assert await broker_answers(settings)
        assert kafka.log_file.stat().st_size > 0, "broker logs go to the log file"
        assert any("storage formatted" in line for line in lines)

        # A second `up` reuses the running broker instead of starting another.
        lines.clear()
        await kafka.up(topics=(), report=lines.append)
        assert kafka.status().pid == status.pid
        assert any("already running" in line for line in lines)

        assert await asyncio.to_thread(kafka.down, keep_data=True)
        assert not kafka.status().running
        assert (kafka.data_dir / "meta.properties").is_file()
        assert not await broker_answers(settings, timeout_s=1.0)

        # Restart on kept data: no re-format.
        lines.clear()
        await kafka.up(topics=(), report=lines.append)
        assert not any("storage formatted" in line for line in lines)
    finally:
        await asyncio.to_thread(kafka.down)
    assert not kafka.status().running
    assert not kafka.data_dir.exists()
    assert not kafka.pid_file.exists()
