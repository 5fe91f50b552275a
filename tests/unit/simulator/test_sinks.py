"""The Kafka sink keeps order and syncs around every tick instant (no broker: a fake producer)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
import pytest

from services.runtime.settings import KafkaSettings
from services.simulator import CLOCK_TOPIC, SimulationConfig, build_cohort, simulate
from services.simulator import sinks as sinks_module


class _FakeProducer:
    def __init__(self, log: list[tuple[str, Any]], partitions: int) -> None:
        self.log = log
        self.partitions = partitions

    async def start(self) -> None:
        self.log.append(("start", None))

    async def stop(self) -> None:
        self.log.append(("stop", None))

    async def partitions_for(self, _topic: str) -> set[int]:
        return set(range(self.partitions))

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        self.log.append(("send", (topic, kwargs.get("partition"), kwargs.get("value"))))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _install(monkeypatch: pytest.MonkeyPatch, partitions: int = 4) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        sinks_module, "create_producer", lambda *_a, **_k: _FakeProducer(log, partitions)
    )
    return log


async def test_ticks_are_placed_after_everything_sent_before_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = _install(monkeypatch)
    config = SimulationConfig(participants=15, months=1, seed=2, invalid_share=0.0)
    cohort = build_cohort(config)

    async def place(at: datetime) -> dict[int, int]:
        sent = sum(1 for kind, _ in log if kind == "send")
        log.append(("place", at))
        return {p: sent + p for p in range(config.clock_partitions)}

    summary = await sinks_module.send_to_kafka(
        simulate(config, cohort),
        KafkaSettings(topic_prefix="x."),
        start=config.start,
        end=cohort.end,
        clock_partitions=config.clock_partitions,
        place_ticks=place,
    )
    sends = [entry for kind, entry in log if kind == "send"]
    assert len(sends) == summary.records
    assert all(entry[0].startswith("x.") for entry in sends)
    places = [i for i, (kind, _) in enumerate(log) if kind == "place"]
    assert len(places) == config.days
    for i in places:
        # The hook runs once per instant, right before that instant's ticks (one per partition).
        ticks = log[i + 1 : i + 1 + config.clock_partitions]
        assert {entry[0] for _, entry in ticks} == {f"x.{CLOCK_TOPIC}"}
        assert sorted(entry[1] for _, entry in ticks) == list(range(config.clock_partitions))
        sent_before = sum(1 for kind, _ in log[:i] if kind == "send")
        for _, entry in ticks:
            data = orjson.loads(entry[2])["data"]
            assert data["events_end_offset"] == sent_before + data["partition"]


async def test_clock_partition_mismatch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, partitions=8)
    config = SimulationConfig(participants=2, months=1, seed=2)
    with pytest.raises(ValueError, match="--clock-partitions 8"):
        await sinks_module.send_to_kafka(
            simulate(config),
            KafkaSettings(),
            start=config.start,
            end=config.start,
            clock_partitions=config.clock_partitions,
        )
