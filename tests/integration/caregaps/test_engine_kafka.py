"""The engine against a real broker: exactly-once output, restore, dead letters.

The expected output is not hand-written: it is the pure rules applied to the same input
logs in the merged order the engine promises (``harness.reference``), so every change record
must appear exactly once, in order, byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson
import pytest

from services.caregaps import PolicySet
from services.caregaps.clock import run_clock
from services.caregaps.service import CareGapsProcessor, CaregapsSettings
from services.caregaps.synthetic import synthetic_log
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.runtime.transactional import TransactionalRunner
from tests.integration.caregaps.harness import (
    committed_offsets,
    delete_prefixed_topics,
    emit_tick,
    fresh_settings,
    produce_events,
    read_all,
    reference,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


class Engine:
    """An engine instance in this process, so the test can look at its stores."""

    def __init__(self, settings: KafkaSettings, group: str) -> None:
        config = CaregapsSettings(
            group_id=group,
            ops_port=None,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
            max_records=500,
        )
        self.processor = CareGapsProcessor(kafka=settings, settings=config, policy=PolicySet())
        self.runner = TransactionalRunner(
            settings=settings, policy=config.consumer_policy(), processor=self.processor
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Engine:
        self._task = asyncio.create_task(self.runner.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.runner.stop()
        assert self._task is not None
        await self._task

    def snapshot(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for n in self.runner.tasks:
            out.update(self.processor.store(n).snapshot())
        return dict(sorted(out.items()))


@pytest.fixture
async def topics(kafka_settings: KafkaSettings) -> AsyncIterator[KafkaSettings]:
    settings = await fresh_settings(kafka_settings, "cg-it")
    yield settings
    await delete_prefixed_topics(settings)


async def _caught_up(settings: KafkaSettings, group: str) -> bool:
    """The group committed every event before the last tick and every tick."""
    events = await read_all(settings, "peer.events.v1")
    ticks = await read_all(settings, "caregaps.clock.v1")
    ref = reference(events, ticks)
    committed = await committed_offsets(settings, group)
    for partition, records in ticks.items():
        if committed.get((settings.topic_name("caregaps.clock.v1"), partition)) != (
            records[-1].offset + 1
        ):
            return False
        done = committed.get((settings.topic_name("peer.events.v1"), partition), 0)
        if done < ref.events_processed[partition]:
            return False
    return True


def _last_values(records: dict[int, list[Any]]) -> dict[str, bytes]:
    latest: dict[str, bytes] = {}
    for partition_records in records.values():
        for r in partition_records:
            latest[r.key.decode()] = r.value
    return dict(sorted(latest.items()))


async def test_every_change_once_in_order_and_state_restores_exactly(
    topics: KafkaSettings,
) -> None:
    """Events in three chunks, a tick after each; the engine's output equals the rules
    applied to the logs. After a clean stop, a new instance restores exactly the state the
    first one had, then continues with new input without repeating anything."""
    settings, group = topics, f"{topics.topic_prefix}engine"
    log = list(synthetic_log(participants=30, events_per_participant=24, seed=21))
    first, second = log[: len(log) // 2], log[len(log) // 2 :]
    chunk = len(first) // 2
    for i, part in enumerate((first[:chunk], first[chunk:])):
        await produce_events(settings, part)
        await emit_tick(settings, datetime(2026, 4 + 3 * i, 1, tzinfo=UTC))

    async with Engine(settings, group) as engine:
        await wait_until(lambda: _caught_up(settings, group), timeout_s=60)
        before = engine.snapshot()

    events = await read_all(settings, "peer.events.v1")
    ticks = await read_all(settings, "caregaps.clock.v1")
    expected = reference(events, ticks)
    changes = await read_all(settings, "caregaps.changes.v1")
    assert expected.change_count > 150
    assert {p: [r.value for r in rs] for p, rs in changes.items()} == dict(expected.changes)
    assert before == dict(sorted(expected.states.items()))
    assert _last_values(await read_all(settings, "caregaps.state.changelog")) == before

    # A second instance of the same group: restores, then continues with more input.
    async with Engine(settings, group) as engine:

        async def restored() -> bool:
            return len(engine.runner.tasks) == 4

        await wait_until(restored, timeout_s=30)
        assert engine.snapshot() == before
        await produce_events(settings, second)
        await emit_tick(settings, datetime(2027, 3, 1, tzinfo=UTC))
        await wait_until(lambda: _caught_up(settings, group), timeout_s=60)

    events = await read_all(settings, "peer.events.v1")
    ticks = await read_all(settings, "caregaps.clock.v1")
    expected = reference(events, ticks)
    changes = await read_all(settings, "caregaps.changes.v1")
    assert {p: [r.value for r in rs] for p, rs in changes.items()} == dict(expected.changes)
    ids = [orjson.loads(r.value)["id"] for rs in changes.values() for r in rs]
    assert len(ids) == len(set(ids))
    assert _last_values(await read_all(settings, "caregaps.state.changelog")) == dict(
        sorted(expected.states.items())
    )


async def test_bad_input_is_dead_lettered_and_the_engine_carries_on(
    topics: KafkaSettings,
) -> None:
    """A record that is not a valid event goes to the dead-letter topic with a coded reason,
    in the same transaction; the events around it are processed normally."""
    settings, group = topics, f"{topics.topic_prefix}engine"
    log = list(islice(synthetic_log(participants=4, events_per_participant=6, seed=5), 20))
    await produce_events(settings, log[:10])
    producer = create_producer(settings, client_suffix="test-junk")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic_name("peer.events.v1"),
            b'{"not": "an event"}',
            key=log[0]["subject"].encode(),
        )
    finally:
        await producer.stop()
    await produce_events(settings, log[10:])
    await emit_tick(settings, datetime(2026, 6, 1, tzinfo=UTC))

    async with Engine(settings, group):
        await wait_until(lambda: _caught_up(settings, group), timeout_s=60)

    dlq = [r for rs in (await read_all(settings, "peer.intake.dlq")).values() for r in rs]
    assert len(dlq) == 1
    assert dlq[0].value == b'{"not": "an event"}'
    headers = dict(dlq[0].headers)
    assert headers["x-dlq-reason"] == b"invalid-event"
    assert headers["x-dlq-original-topic"] == b"peer.events.v1"
    changes = await read_all(settings, "caregaps.changes.v1")
    assert sum(map(len, changes.values())) > 0


async def test_the_clock_writes_one_placed_tick_per_partition(topics: KafkaSettings) -> None:
    """``peerlink clock run``: every interval, one tick per partition of the clock topic,
    with no key, carrying the events partition's end offset at that moment."""
    settings = topics
    log = list(islice(synthetic_log(participants=8, events_per_participant=3, seed=9), 24))
    await produce_events(settings, log)
    ends = {p: len(rs) for p, rs in (await read_all(settings, "peer.events.v1")).items()}
    stop = asyncio.Event()
    clock = asyncio.create_task(run_clock(settings, 0.3, stop=stop))
    await asyncio.sleep(1.0)
    stop.set()
    written = await clock
    assert written >= 2
    ticks = await read_all(settings, "caregaps.clock.v1")
    assert sorted(ticks) == [0, 1, 2, 3]
    for partition, records in ticks.items():
        assert len(records) == written
        for record in records:
            assert record.key is None
            tick = orjson.loads(record.value)
            assert tick["data"] == {
                "partition": partition,
                "events_end_offset": ends.get(partition, 0),
            }
