"""The at-least-once processor's consumer-lag gauge: refreshed at most once a second."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from services.runtime import ConsumerPolicy, Health, KafkaSettings, Processor, ServiceMetrics
from services.runtime.processor import LAG_REFRESH_S


class _Consumer:
    """What _update_lag reads from an aiokafka consumer."""

    def __init__(self, tp: TopicPartition, end: int) -> None:
        self.tp, self.end, self.at = tp, end, 0
        self.lookups = 0

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    def highwater(self, tp: TopicPartition) -> int:
        return self.end

    async def position(self, tp: TopicPartition) -> int:
        self.lookups += 1
        return self.at


async def _no_batches(batch: Any) -> list[Any]:
    return []


async def test_lag_is_refreshed_at_most_once_per_interval() -> None:
    settings = KafkaSettings(topic_prefix="t.")
    metrics = ServiceMetrics(service="lag-test")
    clock = [1_000.0]
    processor = Processor(
        settings=settings,
        policy=ConsumerPolicy(group_id="g", topics=("peer.events.v1",)),
        handler=_no_batches,
        health=Health(),
        metrics=metrics,
        clock=lambda: clock[0],
    )
    consumer = _Consumer(TopicPartition("t.peer.events.v1", 0), end=100)

    def lag() -> float | None:
        return metrics.registry.get_sample_value(
            "peerlink_consumer_lag", {"topic": "peer.events.v1", "partition": "0"}
        )

    await processor._update_lag(consumer)
    assert (consumer.lookups, lag()) == (1, 100)
    consumer.at = 60
    clock[0] += LAG_REFRESH_S / 2
    await processor._update_lag(consumer)
    assert (consumer.lookups, lag()) == (1, 100)  # too soon: not looked up again
    clock[0] += LAG_REFRESH_S
    await processor._update_lag(consumer)
    assert (consumer.lookups, lag()) == (2, 40)
