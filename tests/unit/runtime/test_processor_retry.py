"""The at-least-once processor's retries when a rebalance takes partitions away."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from services.runtime import (
    ConsumerPolicy,
    Health,
    KafkaSettings,
    OutRecord,
    PartitionBatch,
    Processor,
    RetryPolicy,
    ServiceMetrics,
)

KEPT, MOVED = TopicPartition("peer.events.v1", 0), TopicPartition("peer.events.v1", 1)


@dataclass
class _Record:
    offset: int


class _Consumer:
    """Two partitions; the second is revoked while the first commit fails."""

    def __init__(self) -> None:
        self.assigned = {KEPT, MOVED}
        self.committed: list[dict[TopicPartition, int]] = []

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[_Record]]:
        return {KEPT: [_Record(4)], MOVED: [_Record(9)]}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if any(tp not in self.assigned for tp in offsets):
            raise IllegalStateError("partition is not assigned")
        if MOVED in self.assigned:  # the rebalance lands during the first attempt
            self.assigned.discard(MOVED)
            raise IllegalStateError("rebalance in progress")
        self.committed.append(offsets)

    def highwater(self, tp: TopicPartition) -> int | None:
        return None


async def _no_outputs(batch: PartitionBatch) -> list[OutRecord]:
    return []


def _processor() -> Processor:
    return Processor(
        settings=KafkaSettings(),
        policy=ConsumerPolicy(group_id="g", topics=("peer.events.v1",)),
        handler=_no_outputs,
        health=Health(),
        metrics=ServiceMetrics(service="retry-test"),
        retry=RetryPolicy(initial_delay_s=0.001, max_delay_s=0.001),
    )


async def test_a_retry_commits_only_the_partitions_still_assigned() -> None:
    consumer = _Consumer()
    processor = _processor()
    async with asyncio.timeout(5):  # before the fix: retried for ever
        await processor._poll_once(consumer, producer=None)
    assert consumer.committed == [{KEPT: 5}]


async def test_a_batch_whose_partitions_all_moved_is_left_to_their_new_owner() -> None:
    consumer = _Consumer()
    consumer.assigned = {MOVED}
    processor = _processor()
    async with asyncio.timeout(5):
        await processor._poll_once(consumer, producer=None)
    assert consumer.committed == []
