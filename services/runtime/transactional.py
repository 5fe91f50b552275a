"""Exactly-once consume -> process -> produce between Kafka topics, with aiokafka transactions.

Work is split into *tasks*: task *n* owns partition *n* of every input topic (the inputs are
co-partitioned, so the range assignor gives all of them to the same member). Per task and
per poll, the checkpoint is one Kafka transaction (streaming_anchors.md 2.2, 3.1)::

    begin -> send outputs -> send_offsets_to_transaction(next offsets) -> commit

so outputs and input offsets become visible together (downstream reads ``read_committed``)
or not at all. A task's transaction starts as soon as the task is processed, so its round
trips overlap the processing of the next task; the next poll waits for all of them.

aiokafka has no KIP-447 consumer-group fencing, so each task has its own transactional
producer with the stable id ``{group}.{first input topic}.{n}``: whoever owns task *n* next
initialises the same id, which fences a zombie and aborts its open transaction before any
state is restored.

Rebalances: ``on_partitions_revoked`` waits for the in-flight batch (a lock shared with the
processing loop), lets the processor drop the task and closes its producer. On assignment
the new producers are initialised first (fencing), then the committed offsets are read and
sought, then the processor restores its state, all before the loop may process the task.
Records handed out by ``getmany`` before a rebalance are discarded: the new assignment
starts again from the committed offsets. aiokafka does not call the revoke listener on
``stop()``, so stopping runs the same drain.

A failed transaction is aborted, the processor rolls its task back to the last commit and the
consumer is rewound; a fenced producer means another member owns the task, which is fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced

from services.runtime.connect import start_with_retry
from services.runtime.health import Health
from services.runtime.logging import get_logger
from services.runtime.metrics import ServiceMetrics
from services.runtime.processor import create_consumer
from services.runtime.producer import create_producer
from services.runtime.records import ConsumerPolicy, OutRecord, RetryPolicy
from services.runtime.sending import send_all
from services.runtime.settings import KafkaSettings

__all__ = [
    "CoPartitioningError",
    "TaskBatch",
    "TaskProcessor",
    "TransactionalRunner",
    "transactional_id",
]

_log = get_logger("peerlink.runtime.transactional")


class CoPartitioningError(RuntimeError):
    """A member received partition n of some input topics but not of all of them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskBatch:
    """What one task produced from one poll, committed atomically with ``offsets``."""

    outputs: Sequence[OutRecord] = ()
    #: Next offset to consume per input topic (logical name); the processor decides, since
    #: it may hold records back. Topics absent here keep their last committed offset.
    offsets: Mapping[str, int] = field(default_factory=dict)
    #: Input topics (logical names) of this task to pause until the next batch says otherwise.
    pause: frozenset[str] = frozenset()


class TaskProcessor(Protocol):
    """The stateful part the runner drives; one instance serves all tasks of the member."""

    async def assign(self, tasks: Mapping[int, Mapping[str, int | None]]) -> None:
        """Restore state for newly owned tasks (task -> committed offset per input topic)."""

    def process(
        self,
        task: int,
        records: Mapping[str, Sequence[ConsumerRecord[bytes, bytes]]],
        positions: Mapping[str, int],
    ) -> TaskBatch | None:
        """Turn new records (per logical topic) into outputs; ``positions`` are the
        consumer's next fetch offsets. None: nothing to commit."""

    def pending(self, task: int) -> bool:
        """Whether the task holds records that may become processable without new input."""

    def committed(self, task: int) -> None:
        """The last batch of ``task`` is durable."""

    def rolled_back(self, task: int) -> None:
        """The last batch of ``task`` was aborted: forget everything since the last commit."""

    async def revoke(self, task: int) -> None:
        """The task moves away (or the member stops): drop its state."""


def transactional_id(group_id: str, primary_topic: str, partition: int) -> str:
    """The stable transactional id of one task (streaming_anchors.md 2.2)."""
    return f"{group_id}.{primary_topic}.{partition}"


@dataclass(slots=True)
class _Task:
    partition: int
    producer: AIOKafkaProducer
    tps: dict[str, TopicPartition]
    committed: dict[str, int]
    paused: set[str] = field(default_factory=set)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: TransactionalRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._runner._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._runner._on_assigned(set(assigned))


class TransactionalRunner:
    """Runs one consumer-group member of an exactly-once stateful service until ``stop()``.

    ``policy.topics`` are the co-partitioned input topics (logical names); the first one
    names the transactional ids.
    """

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        policy: ConsumerPolicy,
        processor: TaskProcessor,
        health: Health | None = None,
        metrics: ServiceMetrics | None = None,
        retry: RetryPolicy | None = None,
        transaction_timeout_ms: int = 60_000,
        max_failed_commits: int = 5,
    ) -> None:
        if policy.isolation_level != "read_committed":
            raise ValueError("an exactly-once runner must read committed records only")
        self.settings = settings
        self.policy = policy
        self.processor = processor
        self.health = health or Health()
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.transaction_timeout_ms = transaction_timeout_ms
        self.max_failed_commits = max_failed_commits
        self._logical = {settings.topic_name(t): t for t in policy.topics}
        self._primary = policy.topics[0]
        self._lock = asyncio.Lock()
        self._generation = 0
        self._tasks: dict[int, _Task] = {}
        self._stopping = asyncio.Event()
        self._fatal: BaseException | None = None
        self._failed_commits = 0
        self._consumer: AIOKafkaConsumer | None = None

    # ------------------------------------------------------------------ public surface

    @property
    def tasks(self) -> tuple[int, ...]:
        """The partitions (tasks) this member owns now."""
        return tuple(sorted(self._tasks))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = create_consumer(
            self.settings,
            # Exactly-once needs committed input only, whatever the policy says.
            replace(self.policy, isolation_level="read_committed"),
            # Range keeps partition n of every input topic on one member (co-partitioning).
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        self._consumer = consumer
        await start_with_retry(
            consumer.start,
            servers=self.settings.bootstrap_servers,
            what="consumer",
            health=self.health,
            retry=self.retry,
            metrics=self.metrics,
        )
        consumer.subscribe(list(self._logical), listener=_Listener(self))
        self.health.set_ready(True)
        try:
            while not self._stopping.is_set():
                if self._fatal is not None:
                    raise self._fatal
                self.health.beat()
                await self._poll_once(consumer)
            if self._fatal is not None:
                raise self._fatal
        finally:
            self.health.set_ready(False)
            await self._shutdown(consumer)

    # ---------------------------------------------------------------------- the loop

    async def _poll_once(self, consumer: AIOKafkaConsumer) -> None:
        polled = await consumer.getmany(
            timeout_ms=self.policy.poll_timeout_ms, max_records=self.policy.max_records
        )
        # Read right after getmany returns: a rebalance that completes while this batch waits
        # for the lock changes the generation, and the batch is dropped (the new assignment
        # starts again from the committed offsets).
        generation = self._generation
        async with self._lock:
            if generation != self._generation or self._fatal is not None:
                return
            started = time.perf_counter()
            by_task: dict[int, dict[str, list[ConsumerRecord[bytes, bytes]]]] = {}
            for tp, records in polled.items():
                if tp.partition not in self._tasks:
                    # Not ours to process (an assignment that failed): fetch these again.
                    consumer.seek(tp, records[0].offset)
                    continue
                logical = self._logical[tp.topic]
                by_task.setdefault(tp.partition, {})[logical] = records
                if self.metrics is not None:
                    self.metrics.consumed.labels(topic=logical).inc(len(records))
            work = [n for n in sorted(self._tasks) if n in by_task or self.processor.pending(n)]
            if not work:
                return
            commits: list[asyncio.Task[None]] = []
            for n in work:
                task = self._tasks[n]
                positions = {
                    logical: await consumer.position(tp) for logical, tp in task.tps.items()
                }
                batch = self.processor.process(n, by_task.get(n, {}), positions)
                if batch is not None:
                    self._apply_backpressure(consumer, task, batch.pause)
                    # Each task commits with its own producer: its transaction's round trips
                    # run while the next task is processed.
                    commits.append(asyncio.create_task(self._commit(consumer, task, batch)))
                # Processing is synchronous: let heartbeats, fetches and commits run.
                await asyncio.sleep(0)
            if not commits:
                return
            results = await asyncio.gather(*commits, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self._fatal = result
                    return
            if self.metrics is not None:
                self.metrics.processing_seconds.observe(time.perf_counter() - started)
                self._update_lag(consumer)

    def _apply_backpressure(
        self, consumer: AIOKafkaConsumer, task: _Task, pause: frozenset[str]
    ) -> None:
        for logical, tp in task.tps.items():
            if logical in pause and logical not in task.paused:
                consumer.pause(tp)
                task.paused.add(logical)
            elif logical not in pause and logical in task.paused:
                consumer.resume(tp)
                task.paused.discard(logical)

    async def _commit(self, consumer: AIOKafkaConsumer, task: _Task, batch: TaskBatch) -> None:
        """One transaction: outputs plus the task's next input offsets."""
        offsets = {
            task.tps[logical]: offset
            for logical, offset in batch.offsets.items()
            if offset != task.committed.get(logical)
        }
        if not batch.outputs and not offsets:
            self.processor.committed(task.partition)
            return
        producer = task.producer
        try:
            async with producer.transaction():
                produced = await send_all(producer, self.settings, batch.outputs)
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.policy.group_id)
        except ProducerFenced:
            # Another member initialised this task's transactional id: it owns the task now.
            _log.error(
                "producer fenced: another member owns the task",
                extra={"partition": task.partition, "group": self.policy.group_id},
            )
            self.processor.rolled_back(task.partition)
            raise
        except KafkaError as exc:
            self._failed_commits += 1
            if self.metrics is not None:
                self.metrics.retries.inc()
            self.health.set_unhealthy("kafka", "transaction failed")
            _log.warning(
                "transaction aborted; task rolled back to its last commit",
                extra={
                    "partition": task.partition,
                    "error_class": type(exc).__name__,
                    "attempt": self._failed_commits,
                },
            )
            self.processor.rolled_back(task.partition)
            for logical, tp in task.tps.items():
                consumer.seek(tp, task.committed[logical])
            if self._failed_commits >= self.max_failed_commits:
                raise
            await self._renew_producer(task)
            await asyncio.sleep(self.retry.delay(self._failed_commits))
            return
        self._failed_commits = 0
        self.health.clear("kafka")
        for logical, offset in batch.offsets.items():
            task.committed[logical] = offset
        self.processor.committed(task.partition)
        if self.metrics is not None:
            self.metrics.commits.inc()
            for topic, count in produced.items():
                self.metrics.produced.labels(topic=topic).inc(count)

    async def _renew_producer(self, task: _Task) -> None:
        """A producer in an error state is replaced; re-initialising the same id aborts
        whatever the old one left open."""
        with contextlib.suppress(Exception):
            await task.producer.stop()
        task.producer = await self._start_producer(task.partition)

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        assert self.metrics is not None
        for task in self._tasks.values():
            for logical, tp in task.tps.items():
                end = consumer.highwater(tp)
                if end is not None and logical in task.committed:
                    self.metrics.lag.labels(topic=logical, partition=str(tp.partition)).set(
                        max(0, end - task.committed[logical])
                    )

    # ---------------------------------------------------------------- rebalancing

    async def _start_producer(self, partition: int) -> AIOKafkaProducer:
        producer = create_producer(
            self.settings,
            transactional_id=transactional_id(self.policy.group_id, self._primary, partition),
            client_suffix=f"{self.policy.group_id}-{partition}",
            transaction_timeout_ms=self.transaction_timeout_ms,
        )
        await producer.start()  # init_transactions: fences the previous owner of this id
        return producer

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:  # waits for the batch in flight to commit
            self._generation += 1
            partitions = {tp.partition for tp in revoked} & set(self._tasks)
            await self._drop(partitions)

    async def _drop(self, partitions: set[int]) -> None:
        for n in sorted(partitions):
            task = self._tasks.pop(n)
            with contextlib.suppress(Exception):
                await self.processor.revoke(n)
            with contextlib.suppress(Exception):
                await task.producer.stop()
            _log.info("task released", extra={"partition": n, "group": self.policy.group_id})

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            try:
                await self._assign(assigned)
            except BaseException as exc:
                # aiokafka only logs listener errors; the loop re-raises this one.
                self._fatal = exc
                self.health.set_unhealthy("tasks", "assignment failed")
                _log.error("task assignment failed", extra={"error_class": type(exc).__name__})
            finally:
                # Records handed out while this ran were fetched before the seeks below:
                # drop them, the consumer fetches again from the committed offsets.
                self._generation += 1

    async def _assign(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        by_partition: dict[int, dict[str, TopicPartition]] = {}
        for tp in assigned:
            by_partition.setdefault(tp.partition, {})[self._logical[tp.topic]] = tp
        incomplete = {
            n: sorted(set(self.policy.topics) - set(tps))
            for n, tps in by_partition.items()
            if set(tps) != set(self.policy.topics)
        }
        if incomplete:
            raise CoPartitioningError(
                f"inputs are not co-partitioned on this member: missing {incomplete}"
            )
        new = {n: tps for n, tps in by_partition.items() if n not in self._tasks}
        started = time.perf_counter()
        restore: dict[int, Mapping[str, int | None]] = {}
        for n in sorted(new):
            producer = await self._start_producer(n)  # fence first, then read offsets
            committed: dict[str, int] = {}
            for logical, tp in new[n].items():
                offset = await consumer.committed(tp)
                if offset is None:
                    # Never committed: start where the reset policy says, and use that as
                    # the baseline a rolled-back batch returns to.
                    bounds = (
                        await consumer.beginning_offsets([tp])
                        if self.policy.auto_offset_reset == "earliest"
                        else await consumer.end_offsets([tp])
                    )
                    offset = int(bounds[tp])
                committed[logical] = offset
            self._tasks[n] = _Task(
                partition=n, producer=producer, tps=dict(new[n]), committed=dict(committed)
            )
            restore[n] = dict(committed)
        if restore:
            await self.processor.assign(restore)
            # Seek last, with no await until the generation changes (in _on_assigned):
            # whatever was consumed while restoring is dropped and fetched again from here.
            for n in restore:
                task = self._tasks[n]
                for logical, tp in task.tps.items():
                    consumer.seek(tp, task.committed[logical])
            _log.info(
                "tasks assigned and restored",
                extra={
                    "partitions": sorted(restore),
                    "group": self.policy.group_id,
                    "elapsed_ms": round((time.perf_counter() - started) * 1000),
                },
            )

    async def _shutdown(self, consumer: AIOKafkaConsumer) -> None:
        async with self._lock:  # the last batch is committed or aborted by now
            self._generation += 1
            await self._drop(set(self._tasks))
        with contextlib.suppress(Exception):
            await consumer.stop()
