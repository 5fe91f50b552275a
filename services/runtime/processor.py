"""At-least-once consume -> handle -> produce -> commit, shared by the stateless services.

Checkpoint order (per poll, written down as Quix Streams does):

1. ``getmany`` returns records grouped by partition;
2. the handler turns each partition batch into output records (events, DLQ records, FHIR);
3. every output is sent and **its delivery awaited** (acks=all, idempotent producer);
4. only then are the offsets ``last + 1`` of exactly those partitions committed.

A crash between 3 and 4 re-delivers the batch; outputs carry deterministic ids, so downstream
sees an identical duplicate, never a loss. Processing is sequential in one task, so when a
rebalance revokes partitions inside ``getmany`` every earlier batch is already committed: the
drain on revoke is complete by construction, and stop() finishes the current batch first.

Transient broker errors retry the batch with bounded backoff, for the partitions still
assigned: a rebalance during the backoff hands the others to their new owner.
A handler may raise :class:`PauseConsumption` (the intake breaker): the batch is rewound, the
partitions are paused and the service reports unhealthy until the pause ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from services.runtime.connect import start_with_retry
from services.runtime.health import Health
from services.runtime.logging import get_logger
from services.runtime.metrics import ServiceMetrics
from services.runtime.producer import create_producer
from services.runtime.records import ConsumerPolicy, OutRecord, PartitionBatch, RetryPolicy
from services.runtime.sending import send_all
from services.runtime.settings import KafkaSettings

__all__ = [
    "BatchHandler",
    "PauseConsumption",
    "Processor",
    "create_consumer",
]

BatchHandler = Callable[[PartitionBatch], Awaitable[Sequence[OutRecord]]]

#: Seconds between refreshes of the consumer-lag gauges.
LAG_REFRESH_S = 1.0

_log = get_logger("peerlink.runtime.processor")


class PauseConsumption(Exception):
    """Raised by a handler to stop consuming for a while (e.g. a breaker opened)."""

    def __init__(self, reason: str, pause_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pause_s = pause_s


def create_consumer(
    settings: KafkaSettings, policy: ConsumerPolicy, **overrides: Any
) -> AIOKafkaConsumer:
    """An unstarted consumer with manual commits, subscribed by the caller.

    ``overrides`` are further aiokafka options (e.g. the partition assignment strategy).
    """
    return AIOKafkaConsumer(
        **settings.client_kwargs(),
        client_id=f"{settings.client_id}-{policy.group_id}",
        group_id=policy.group_id,
        group_instance_id=policy.group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset=policy.auto_offset_reset,
        isolation_level=policy.isolation_level,
        session_timeout_ms=policy.session_timeout_ms,
        heartbeat_interval_ms=policy.heartbeat_interval_ms,
        max_poll_interval_ms=policy.max_poll_interval_ms,
        max_poll_records=policy.max_records,
        **overrides,
    )


@dataclass(kw_only=True)
class Processor:
    """Runs one consumer group member of a stateless service until ``stop()``."""

    settings: KafkaSettings
    policy: ConsumerPolicy
    handler: BatchHandler
    health: Health
    metrics: ServiceMetrics
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    producer: AIOKafkaProducer | None = None
    #: Monotonic seconds (pacing of the lag gauge; tests pass their own).
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._owns_producer = self.producer is None
        self._logical = {self.settings.topic_name(t): t for t in self.policy.topics}
        self._lag_due = 0.0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        producer = self.producer or create_producer(
            self.settings, client_suffix=self.policy.group_id
        )
        self.producer = producer
        consumer = create_consumer(self.settings, self.policy)
        self._consumer = consumer
        await self._start_with_retry(producer.start, "producer")
        await self._start_with_retry(consumer.start, "consumer")
        consumer.subscribe(list(self._logical))
        self.health.set_ready(True)
        try:
            while not self._stopping.is_set():
                self.health.beat()
                await self._poll_once(consumer, producer)
        finally:
            self.health.set_ready(False)
            with contextlib.suppress(Exception):
                await consumer.stop()
            if self._owns_producer:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _start_with_retry(self, start: Callable[[], Awaitable[None]], what: str) -> None:
        await start_with_retry(
            start,
            servers=self.settings.bootstrap_servers,
            what=what,
            health=self.health,
            retry=self.retry,
            metrics=self.metrics,
        )

    async def _poll_once(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        polled = await consumer.getmany(
            timeout_ms=self.policy.poll_timeout_ms, max_records=self.policy.max_records
        )
        if not polled:
            await self._update_lag(consumer)
            return
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                await self._process(consumer, producer, polled)
                self.health.clear("kafka")
                break
            except PauseConsumption as pause:
                await self._pause(consumer, polled, pause)
                return
            except KafkaError as exc:
                attempt += 1
                delay = self.retry.delay(attempt)
                self.metrics.retries.inc()
                self.health.set_unhealthy("kafka", "produce or commit failing")
                _log.warning(
                    "transient kafka error, batch will be retried",
                    extra={"error_class": type(exc).__name__, "attempt": attempt, "delay_s": delay},
                )
                await asyncio.sleep(delay)
                if self._stopping.is_set():
                    self._rewind(consumer, polled)
                    return
                # A rebalance may have moved partitions away meanwhile (committing them
                # fails with IllegalStateError however often it is retried): their records
                # are the new owner's now, re-read from the last commit.
                assigned = consumer.assignment()
                polled = {tp: records for tp, records in polled.items() if tp in assigned}
                if not polled:
                    self.health.clear("kafka")
                    return
        self.metrics.processing_seconds.observe(time.perf_counter() - started)
        await self._update_lag(consumer)

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        polled: dict[TopicPartition, list[object]],
    ) -> None:
        outputs: list[OutRecord] = []
        for tp, records in polled.items():
            logical = self._logical.get(tp.topic, tp.topic)
            self.metrics.consumed.labels(topic=logical).inc(len(records))
            outputs.extend(
                await self.handler(
                    PartitionBatch(topic=logical, partition=tp.partition, records=records)
                )
            )
        counts = await send_all(producer, self.settings, outputs)
        for topic, count in counts.items():
            self.metrics.produced.labels(topic=topic).inc(count)
        offsets = {tp: int(records[-1].offset) + 1 for tp, records in polled.items()}  # type: ignore[attr-defined]
        await consumer.commit(offsets)
        self.metrics.commits.inc()

    def _rewind(
        self, consumer: AIOKafkaConsumer, polled: dict[TopicPartition, list[object]]
    ) -> None:
        for tp, records in polled.items():
            with contextlib.suppress(Exception):  # partition may have been revoked meanwhile
                consumer.seek(tp, int(records[0].offset))  # type: ignore[attr-defined]

    async def _pause(
        self,
        consumer: AIOKafkaConsumer,
        polled: dict[TopicPartition, list[object]],
        pause: PauseConsumption,
    ) -> None:
        self._rewind(consumer, polled)
        assigned = list(consumer.assignment())
        consumer.pause(*assigned)
        self.health.set_unhealthy("breaker", pause.reason)
        _log.error("consumption paused", extra={"reason": pause.reason, "delay_s": pause.pause_s})
        deadline = time.monotonic() + pause.pause_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            self.health.beat()  # paused on purpose: alive, but not ready
            await asyncio.sleep(min(0.5, pause.pause_s))
        consumer.resume(*[tp for tp in assigned if tp in consumer.assignment()])
        self.health.clear("breaker")

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        # At most once a second: a gauge scraped every few seconds gains nothing from more,
        # and each position lookup is a task of its own (a cost per poll and partition).
        now = self.clock()
        if now < self._lag_due:
            return
        self._lag_due = now + LAG_REFRESH_S
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            with contextlib.suppress(Exception):  # position unknown until the first fetch
                position = await asyncio.wait_for(consumer.position(tp), timeout=0.05)
                logical = self._logical.get(tp.topic, tp.topic)
                self.metrics.lag.labels(topic=logical, partition=str(tp.partition)).set(
                    max(0, end - position)
                )
