"""``send_all`` on a real broker: order per partition, placement, headers, transactions."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from services.runtime.records import OutRecord
from services.runtime.sending import send_all
from services.runtime.settings import KafkaSettings
from tests.support.kafka import ConsumerFactory, ProducerFactory, TopicFactory

pytestmark = pytest.mark.kafka

PARTITIONS = 3


async def _read_all(
    consumer: AIOKafkaConsumer, topic: str, expected: int, timeout_s: float = 30.0
) -> dict[int, list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]]]:
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    seen: dict[int, list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]]]
    seen = defaultdict(list)
    async with asyncio.timeout(timeout_s):
        while sum(len(v) for v in seen.values()) < expected:
            polled = await consumer.getmany(timeout_ms=200)
            for tp, records in polled.items():
                seen[tp.partition].extend((r.key, r.value, tuple(r.headers)) for r in records)
    return seen


@pytest.fixture
async def target(
    kafka_settings: KafkaSettings, unique_topic_factory: TopicFactory
) -> tuple[str, KafkaSettings]:
    """A fresh topic, and settings that name it as it is (OutRecord topics get no prefix)."""
    topic = await unique_topic_factory(PARTITIONS)
    return topic, kafka_settings.model_copy(update={"topic_prefix": ""})


def _outputs(topic: str, count: int) -> list[OutRecord]:
    """Keyed, explicitly placed and keyless records, with and without headers."""
    outputs = []
    for i in range(count):
        value = f"{i:06d}".encode() * 40  # ~240 bytes: many batches of 16 KB
        if i % 5 == 0:
            outputs.append(OutRecord(topic=topic, value=value, partition=i % PARTITIONS))
        elif i % 7 == 0:
            outputs.append(OutRecord(topic=topic, value=value, headers=(("n", str(i).encode()),)))
        else:
            outputs.append(
                OutRecord(
                    topic=topic,
                    value=value,
                    key=f"participant-{i % 11}".encode(),
                    headers=(("kind", b"keyed"),),
                )
            )
    return outputs


async def test_every_record_arrives_in_order_on_the_partition_send_would_choose(
    target: tuple[str, KafkaSettings],
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    topic, settings = target
    producer = await producer_factory(max_batch_size=16 * 1024)
    outputs = _outputs(topic, 3000)

    counts = await send_all(producer, settings, outputs)

    assert counts == {topic: 3000}
    seen = await _read_all(await consumer_factory(), topic, 3000)
    assert sum(len(v) for v in seen.values()) == 3000  # nothing duplicated
    partitions = list(range(PARTITIONS))
    keyless: list[tuple[bytes | None, tuple[tuple[str, bytes], ...]]] = []
    expected: dict[int, list[bytes | None]] = defaultdict(list)
    for out in outputs:
        if out.partition is not None:
            expected[out.partition].append(out.value)
        elif out.key is not None:
            expected[DefaultPartitioner()(out.key, partitions, partitions)].append(out.value)
        else:
            keyless.append((out.value, out.headers))
    keyless_values = {value for value, _ in keyless}
    for partition in partitions:
        arrived = [value for _, value, _ in seen[partition] if value not in keyless_values]
        # Right partition, and the order of the outputs.
        assert arrived == expected[partition]
    arrived_keyless = {
        (value, headers) for records in seen.values() for _, value, headers in records
    }
    assert {(value, headers) for value, headers in keyless} <= arrived_keyless
    keyed = [r for records in seen.values() for r in records if r[0] is not None]
    assert all(headers == (("kind", b"keyed"),) for _, _, headers in keyed)


async def test_batches_are_sent_at_once_not_after_the_producers_linger(
    target: tuple[str, KafkaSettings], producer_factory: ProducerFactory
) -> None:
    # A batch left open waits out linger_ms before the sender takes it; send_all closes its
    # batches, so a linger of a minute must not hold the acknowledgements back.
    topic, settings = target
    producer = await producer_factory(linger_ms=60_000)

    async with asyncio.timeout(20):
        counts = await send_all(producer, settings, _outputs(topic, 300))

    assert counts == {topic: 300}


async def test_an_aborted_transaction_publishes_nothing_and_a_committed_one_everything(
    target: tuple[str, KafkaSettings],
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    topic, settings = target
    producer = await producer_factory(transactional_id=f"send-all-{topic}")
    aborted = [OutRecord(topic=topic, value=b"aborted", key=f"k{i}".encode()) for i in range(50)]
    committed = [OutRecord(topic=topic, value=b"kept", key=f"k{i}".encode()) for i in range(50)]

    await producer.begin_transaction()
    await send_all(producer, settings, aborted)
    await producer.abort_transaction()
    async with producer.transaction():
        await send_all(producer, settings, committed)

    seen = await _read_all(await consumer_factory(), topic, 50)
    values = [value for records in seen.values() for _, value, _ in records]
    assert values == [b"kept"] * 50
