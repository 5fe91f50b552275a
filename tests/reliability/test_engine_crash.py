"""The engine under SIGKILL and rebalancing, as real processes on a real broker.

While a seeded stream of events and ticks is being written, the engine is killed with
SIGKILL at random points and restarted (static membership, so the restart takes the
partitions back at once). A read-committed consumer then proves:

* no change lost and none duplicated: the change records are exactly those of a crash-free
  run, partition by partition, in order, byte for byte;
* the final state (the compacted changelog) equals that of a crash-free run.

The crash-free run is a second engine on an exact copy of the input logs (same partitions,
same offsets), and both are also checked against the rules applied directly to the logs.
A second scenario starts another instance mid-stream (rebalance) and then stops the first.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from services.caregaps.synthetic import synthetic_log
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from tests.integration.caregaps.harness import (
    EngineProcess,
    Reference,
    committed_offsets,
    delete_prefixed_topics,
    emit_tick,
    fresh_settings,
    produce_events,
    read_all,
    reference,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

SEED = 20260901
CHUNKS = 10


TopicMaker = Callable[[str], Awaitable[KafkaSettings]]


@pytest.fixture
async def make_topics(kafka_settings: KafkaSettings) -> AsyncIterator[TopicMaker]:
    """Fresh topic prefixes (all registry topics); the test asks for as many as it needs."""
    made: list[KafkaSettings] = []

    async def make(label: str) -> KafkaSettings:
        settings = await fresh_settings(kafka_settings, label)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        await delete_prefixed_topics(settings)


async def write_stream(settings: KafkaSettings, *, pause_s: float) -> None:
    """The seeded stream in chunks, each followed by a tick one month later than the last."""
    log = list(synthetic_log(participants=60, events_per_participant=30, seed=SEED))
    size = -(-len(log) // CHUNKS)
    for i in range(CHUNKS):
        await produce_events(settings, log[i * size : (i + 1) * size])
        await emit_tick(settings, datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=30 * i))
        await asyncio.sleep(pause_s)


async def caught_up(settings: KafkaSettings, group: str) -> bool:
    events = await read_all(settings, "peer.events.v1")
    ticks = await read_all(settings, "caregaps.clock.v1")
    if sum(map(len, ticks.values())) < CHUNKS * len(ticks):
        return False
    ref = reference(events, ticks)
    committed = await committed_offsets(settings, group)
    for partition, records in ticks.items():
        clock = committed.get((settings.topic_name("caregaps.clock.v1"), partition))
        done = committed.get((settings.topic_name("peer.events.v1"), partition), 0)
        if clock != records[-1].offset + 1 or done < ref.events_processed[partition]:
            return False
    return True


async def outputs(settings: KafkaSettings) -> tuple[dict[int, list[bytes]], dict[str, bytes]]:
    """Change records per partition and the last changelog value per participant."""
    changes = await read_all(settings, "caregaps.changes.v1")
    changelog = await read_all(settings, "caregaps.state.changelog")
    states = {r.key.decode(): r.value for rs in changelog.values() for r in rs}
    return {p: [r.value for r in rs] for p, rs in changes.items()}, dict(sorted(states.items()))


async def expected(settings: KafkaSettings) -> Reference:
    events = await read_all(settings, "peer.events.v1")
    ticks = await read_all(settings, "caregaps.clock.v1")
    return reference(events, ticks)


async def copy_inputs(source: KafkaSettings, target: KafkaSettings) -> None:
    """Copy the input logs partition by partition: the copy has the same offsets."""
    producer = create_producer(target, client_suffix="test-copy")
    await producer.start()
    try:
        for logical in ("peer.events.v1", "caregaps.clock.v1"):
            for partition, records in (await read_all(source, logical)).items():
                assert [r.offset for r in records] == list(range(len(records)))
                for r in records:
                    await producer.send(
                        target.topic_name(logical), r.value, key=r.key, partition=partition
                    )
        await producer.flush()
    finally:
        await producer.stop()


def assert_exactly(
    changes: dict[int, list[bytes]], states: dict[str, bytes], ref: Reference
) -> None:
    assert changes == dict(ref.changes), "change records differ from the rules' output"
    ids = [orjson.loads(v)["id"] for vs in changes.values() for v in vs]
    assert len(ids) == len(set(ids)), "a change record was duplicated"
    assert states == dict(sorted(ref.states.items())), "final state differs"


async def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    make_topics: TopicMaker, tmp_path: Path
) -> None:
    settings = await make_topics("crash")
    group = f"{settings.topic_prefix}engine"
    rng = random.Random(SEED)
    engine = EngineProcess(
        settings, group=group, instance_id="engine-1", log_path=tmp_path / "engine.log"
    )
    writer = asyncio.create_task(write_stream(settings, pause_s=0.7))
    engine.start()
    kills_mid_stream = 0
    try:
        for _ in range(4):
            await asyncio.sleep(rng.uniform(1.5, 3.5))
            engine.kill()
            kills_mid_stream += not writer.done()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            engine.start()
        await writer
        await engine.wait_ready()
        await wait_until(lambda: caught_up(settings, group), timeout_s=90)
        assert engine.terminate() == 0
    finally:
        engine.kill()
    assert kills_mid_stream >= 2, "the kills must hit the engine while input is flowing"

    crashed_changes, crashed_states = await outputs(settings)
    ref = await expected(settings)
    assert ref.change_count > 500
    assert_exactly(crashed_changes, crashed_states, ref)

    # The crash-free run: the same logs, one engine that is never interrupted.
    clean = await make_topics("clean")
    await copy_inputs(settings, clean)
    clean_group = f"{clean.topic_prefix}engine"
    calm = EngineProcess(
        clean, group=clean_group, instance_id=None, log_path=tmp_path / "clean.log"
    )
    calm.start()
    try:
        await calm.wait_ready()
        await wait_until(lambda: caught_up(clean, clean_group), timeout_s=90)
        assert calm.terminate() == 0
    finally:
        calm.kill()
    clean_changes, clean_states = await outputs(clean)
    assert clean_changes == crashed_changes
    assert clean_states == crashed_states


async def test_a_second_instance_mid_stream_then_stopping_the_first(
    make_topics: TopicMaker, tmp_path: Path
) -> None:
    """Instance B joins while A processes (both rebalance; each keeps two partitions), then
    A is stopped (B takes all four). The output is still exactly the rules' output."""
    settings = await make_topics("rebalance")
    group = f"{settings.topic_prefix}engine"
    first = EngineProcess(settings, group=group, instance_id=None, log_path=tmp_path / "a.log")
    second = EngineProcess(settings, group=group, instance_id=None, log_path=tmp_path / "b.log")
    writer = asyncio.create_task(write_stream(settings, pause_s=0.8))
    first.start()
    try:
        await first.wait_ready()
        await asyncio.sleep(1.0)
        second.start()
        await second.wait_ready()
        await asyncio.sleep(1.0)
        assert not writer.done(), "the rebalance must happen while input is flowing"
        assert first.terminate() == 0
        await writer
        await wait_until(lambda: caught_up(settings, group), timeout_s=90)
        assert second.terminate() == 0
    finally:
        first.kill()
        second.kill()

    changes, states = await outputs(settings)
    assert_exactly(changes, states, await expected(settings))
    assigned = [
        orjson.loads(line)["partitions"]
        for line in (tmp_path / "b.log").read_text().splitlines()
        if line.startswith("{") and "tasks assigned" in line
    ]
    assert assigned[0] != [0, 1, 2, 3], "B should first share the partitions with A"
    assert assigned[-1] == [0, 1, 2, 3], "B should own every partition once A stopped"
