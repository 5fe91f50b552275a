"""Sending a poll's outputs: one record batch per topic partition, every delivery awaited.

aiokafka's ``send`` costs one coroutine, one future and one accumulator lookup per record;
appending to a ``BatchBuilder`` per partition and submitting it with ``send_batch`` does the
same work once per batch (bench/README.md, "Send path"). The result on the wire is the
same: the producer's own batch size, compression, idempotent sequence numbers and, for a
transactional producer, the partitions added to the open transaction. Records without an
explicit partition are placed by key with the Java client's murmur2 partitioner, exactly as
``send`` places them, so co-partitioning with other producers holds.

Each batch is closed before it is submitted: nothing more will be appended to it, and an
open batch waits out the producer's ``linger_ms`` (meant for records sent one by one)
before the sender takes it, a delay once per poll that bought nothing.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from services.runtime.records import OutRecord
from services.runtime.settings import KafkaSettings

__all__ = ["key_partition", "send_all"]


@functools.lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    # aiokafka's murmur2 is pure Python (~3 µs for a participant key); keys repeat.
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: Sequence[int]) -> int:
    """The partition the default partitioner (Java and aiokafka alike) gives ``key``."""
    return partitions[_key_hash(key) % len(partitions)]


async def send_all(
    producer: AIOKafkaProducer, settings: KafkaSettings, outputs: Sequence[OutRecord]
) -> dict[str, int]:
    """Send every record and wait until all are acknowledged; returns counts per topic.

    Order per partition is the order of ``outputs``. A record without key and partition goes
    to a partition the producer picks, as with ``send``.
    """
    counts: dict[str, int] = {}
    builders: dict[tuple[str, int], Any] = {}
    layout: dict[str, list[int]] = {}
    futures: list[asyncio.Future[Any]] = []
    for out in outputs:
        topic = settings.topic_name(out.topic)
        partition = out.partition
        if partition is None:
            partitions = layout.get(topic)
            if partitions is None:
                partitions = layout[topic] = sorted(await producer.partitions_for(topic))
            partition = (
                key_partition(out.key, partitions)
                if out.key is not None
                else random.choice(partitions)  # noqa: S311 (placement, as the default partitioner)
            )
        tp = (topic, partition)
        builder = builders.get(tp)
        if builder is None:
            builder = builders[tp] = producer.create_batch()
        headers = list(out.headers)
        if builder.append(timestamp=None, key=out.key, value=out.value, headers=headers) is None:
            # Full: submit it (the next batch of this partition waits until it is drained,
            # which keeps the order) and start another; a first record always fits.
            builder.close()
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[tp] = producer.create_batch()
            builder.append(timestamp=None, key=out.key, value=out.value, headers=headers)
        counts[out.topic] = counts.get(out.topic, 0) + 1
    for (topic, partition), builder in builders.items():
        builder.close()
        futures.append(await producer.send_batch(builder, topic, partition=partition))
    if futures:
        await asyncio.gather(*futures)
    return counts
