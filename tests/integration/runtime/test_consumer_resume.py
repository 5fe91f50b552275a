"""A consumer group resumes exactly after its committed offsets: no replay, no loss."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from tests.support.kafka import ConsumerFactory, ProducerFactory, TopicFactory

pytestmark = pytest.mark.kafka

EVENTS = 60
PARTITIONS = 3
FIRST_BATCH = 25


async def test_new_consumer_resumes_after_committed_offsets(
    unique_topic_factory: TopicFactory,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    topic = await unique_topic_factory(PARTITIONS)
    producer = await producer_factory()
    sent = [
        await producer.send(
            topic,
            key=f"participant-{i % 7}".encode(),
            value=json.dumps({"seq": i}).encode(),
        )
        for i in range(EVENTS)
    ]
    metadata = await asyncio.gather(*sent)
    produced = {(m.partition, m.offset) for m in metadata}
    assert len(produced) == EVENTS

    group = f"resume-{topic}"
    first = await consumer_factory(topic, group_id=group)
    seen_first: list[tuple[int, int]] = []
    async with asyncio.timeout(30):
        while len(seen_first) < FIRST_BATCH:
            record = await first.getone()
            seen_first.append((record.partition, record.offset))
    # Commit exactly what was processed: the next offset to read, per partition. The consumer
    # has prefetched more than it handed out; none of that may count as consumed.
    next_offsets: dict[TopicPartition, int] = {}
    for partition, offset in seen_first:
        tp = TopicPartition(topic, partition)
        next_offsets[tp] = max(next_offsets.get(tp, 0), offset + 1)
    await first.commit({tp: OffsetAndMetadata(o, "") for tp, o in next_offsets.items()})
    for tp, offset in next_offsets.items():
        assert await first.committed(tp) == offset
    await first.stop()

    second = await consumer_factory(topic, group_id=group)
    seen_second: list[tuple[int, int]] = []
    async with asyncio.timeout(30):
        while len(seen_second) < EVENTS - FIRST_BATCH:
            record = await second.getone()
            seen_second.append((record.partition, record.offset))
    # Nothing beyond the produced events arrives late.
    extra = await second.getmany(timeout_ms=1_000)
    assert not any(extra.values())

    assert not set(seen_first) & set(seen_second), "committed records were replayed"
    assert set(seen_first) | set(seen_second) == produced, "records were lost"
    assert len(seen_second) == len(set(seen_second)), "a record was delivered twice"
    # Per partition the second consumer starts at the committed offset exactly.
    for partition in range(PARTITIONS):
        tp = TopicPartition(topic, partition)
        resumed = [o for p, o in seen_second if p == partition]
        if resumed:
            assert min(resumed) == next_offsets.get(tp, 0)
