"""Watching the pipeline from outside: consumer-group lag, membership, and reading topics.

Lag is ``end offset - committed offset`` per partition. Topics written in transactions (the
engine's output) end with a commit marker that no consumer ever "consumes", so a caught-up
group still shows a lag of one per transaction there; ``effective_lag`` looks past such
markers with a read_committed consumer before calling a partition behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.topics import topic as registry_topic
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import admin_client

__all__ = ["PipelineWatch", "StalledError", "TopicRecord"]


class StalledError(RuntimeError):
    """The pipeline did not catch up in time; the message says which group lags where."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicRecord:
    """One consumed record, topic given by its logical (registry) name."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class PipelineWatch:
    """Admin client plus a group-less read_committed consumer, both owned by this object."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._admin: AIOKafkaAdminClient = admin_client(settings)
        self._consumer = AIOKafkaConsumer(
            **settings.client_kwargs(),
            client_id=f"{settings.client_id}-demo-watch",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            # Short broker-side waits: this consumer re-seeks often and must not idle.
            fetch_max_wait_ms=50,
        )
        self._coordinator: int | None = None
        #: Partition -> (committed, end) span already known to hold only markers.
        self._no_data: dict[TopicPartition, tuple[int, int]] = {}

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Physical partitions of registry topics (counts come from the registry)."""
        return [
            TopicPartition(self.settings.topic_name(name), p)
            for name in topics
            for p in range(registry_topic(name).partitions)
        ]

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = await self._consumer.end_offsets(
            self.partitions(topics)
        )
        return offsets

    async def committed(self, group_id: str) -> dict[TopicPartition, int]:
        if self._coordinator is None:
            self._coordinator = await self._admin.find_coordinator(group_id)
        try:
            raw = await self._admin.list_consumer_group_offsets(
                group_id, group_coordinator_id=self._coordinator
            )
        except KafkaError:
            # The coordinator may have moved (or was still loading); find it again once.
            self._coordinator = await self._admin.find_coordinator(group_id)
            raw = await self._admin.list_consumer_group_offsets(
                group_id, group_coordinator_id=self._coordinator
            )
        return {tp: meta.offset for tp, meta in raw.items() if meta.offset >= 0}

    async def lag(self, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """Raw lag per partition (end minus committed; an uncommitted partition counts all)."""
        ends = await self.end_offsets(topics)
        committed = await self.committed(group_id)
        return {tp: max(0, end - committed.get(tp, 0)) for tp, end in ends.items()}

    async def effective_lag(self, group_id: str, topics: Iterable[str]) -> int:
        """Lag that ignores transaction markers and aborted records after the last commit."""
        behind = {tp: n for tp, n in (await self.lag(group_id, topics)).items() if n > 0}
        if not behind:
            return 0
        committed = await self.committed(group_id)
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(list(behind))
        spans = {tp: (committed.get(tp, 0), ends[tp]) for tp in behind}
        unknown = {tp: span for tp, span in spans.items() if self._no_data.get(tp) != span}
        if unknown:
            for tp in await self._without_data(unknown):
                self._no_data[tp] = unknown[tp]
        return sum(n for tp, n in behind.items() if self._no_data.get(tp) != spans[tp])

    async def _without_data(
        self, spans: Mapping[TopicPartition, tuple[int, int]]
    ) -> set[TopicPartition]:
        """Partitions whose ``[start, end)`` holds no committed record (markers only)."""
        consumer = self._consumer
        consumer.assign(list(spans))
        for tp, (start, _end) in spans.items():
            consumer.seek(tp, start)
        open_ = set(spans)
        empty: set[TopicPartition] = set()
        deadline = time.monotonic() + 5.0
        while open_ and time.monotonic() < deadline:
            batch = await consumer.getmany(*open_, timeout_ms=100, max_records=1)
            for tp in list(open_):
                if batch.get(tp):
                    open_.discard(tp)  # a record to consume: really behind
                elif await consumer.position(tp) >= spans[tp][1]:
                    open_.discard(tp)
                    empty.add(tp)
        return empty

    async def wait_caught_up(
        self,
        groups: Mapping[str, Iterable[str]],
        *,
        timeout_s: float,
        interval_s: float = 0.01,
        alive: Callable[[], str | None] | None = None,
    ) -> None:
        """Until every group's raw lag on its topics is zero (non-transactional inputs)."""
        deadline = time.monotonic() + timeout_s
        for group_id, topics in groups.items():
            wanted = list(topics)
            while True:
                try:
                    lag = await self.lag(group_id, wanted)
                except KafkaError:
                    lag = {}  # coordinator still loading: retry until the deadline
                    if time.monotonic() > deadline:
                        raise
                else:
                    if not any(lag.values()):
                        break
                _check_alive(alive)
                if time.monotonic() > deadline:
                    raise StalledError(_describe_lag(group_id, lag, timeout_s))
                await asyncio.sleep(interval_s)

    async def joined(self, group_ids: Iterable[str]) -> set[str]:
        """Which of ``group_ids`` the cluster knows, i.e. a member has joined (fresh ids).

        ListGroups rather than DescribeGroups: aiokafka cannot decode the latter's response
        from Kafka 4 brokers.
        """
        wanted = set(group_ids)
        listed = await self._admin.list_consumer_groups()
        return {str(entry[0]) for entry in listed} & wanted

    async def wait_joined(
        self,
        group_ids: Iterable[str],
        *,
        timeout_s: float,
        alive: Callable[[], str | None] | None = None,
    ) -> None:
        """Until a member of every group has joined."""
        wanted = set(group_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                joined = await self.joined(wanted)
            except KafkaError:
                # Right after the broker starts the group coordinator is still loading.
                joined = set()
            if joined == wanted:
                return
            _check_alive(alive)
            if time.monotonic() > deadline:
                raise StalledError(
                    f"consumer groups not joined after {timeout_s:g} s: "
                    + ", ".join(sorted(wanted - joined))
                )
            await asyncio.sleep(0.25)

    async def read_all(self, topics: Iterable[str]) -> list[TopicRecord]:
        """Every committed record of ``topics`` up to their current end, in partition order."""
        names = list(topics)
        ends = await self.end_offsets(names)
        wanted = [tp for tp, end in ends.items() if end > 0]
        if not wanted:
            return []
        consumer = self._consumer
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        logical = {self.settings.topic_name(n): n for n in names}
        out: list[TopicRecord] = []
        pending = set(wanted)
        while pending:
            batch: dict[TopicPartition, list[Any]] = await consumer.getmany(
                *pending, timeout_ms=500, max_records=5_000
            )
            for tp, records in batch.items():
                out.extend(
                    TopicRecord(
                        topic=logical[tp.topic],
                        partition=tp.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers=tuple(r.headers or ()),
                    )
                    for r in records
                )
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        out.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return out


def _check_alive(alive: Callable[[], str | None] | None) -> None:
    if alive is not None:
        problem = alive()
        if problem is not None:
            raise StalledError(problem)


def _describe_lag(group_id: str, lag: Mapping[TopicPartition, int], timeout_s: float) -> str:
    worst = sorted(((n, f"{tp.topic}[{tp.partition}]") for tp, n in lag.items() if n), reverse=True)
    where = ", ".join(f"{name} {n}" for n, name in worst[:4])
    return f"group {group_id} still behind after {timeout_s:g} s: {where}"
