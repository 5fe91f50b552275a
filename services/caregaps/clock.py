"""The pipeline clock: one tick per partition of ``caregaps.clock.v1``.

Each tick is written to an explicit partition with no key, and names the read-committed end
offset of the same partition of ``peer.events.v1`` at the moment it was cut, which is its
place in the engine's merged order (``services.caregaps.ordering``). Time-driven gaps (an
HbA1c that becomes overdue with no new event) open on these ticks, so the engine's output
is a function of the topics' contents, and a replay reproduces it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from services.runtime.health import Health
from services.runtime.logging import get_logger
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings

__all__ = ["ClockEmitter", "emit_ticks", "run_clock", "tick_payload"]

EVENTS_TOPIC = "peer.events.v1"
CLOCK_TOPIC = "caregaps.clock.v1"

_log = get_logger("peerlink.caregaps.clock")


def tick_payload(at: datetime, partition: int, events_end_offset: int | None) -> dict[str, Any]:
    """The ClockTickEvent of one partition at ``at`` (millisecond precision, UTC).

    The id names the time and the partition, so a tick written twice is recognisable.
    """
    at = at.astimezone(UTC)
    stamp = f"{at:%Y%m%dT%H%M%S}{at.microsecond // 1000:03d}Z"
    return {
        "specversion": "1.0",
        "schema_version": "1",
        "id": f"tick-{stamp}-p{partition}",
        "type": "peerlink.clock.tick",
        "source": "peerlink://clock",
        "time": f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z",
        "data": {"partition": partition, "events_end_offset": events_end_offset},
    }


class ClockEmitter:
    """A started producer plus a read-committed consumer for end offsets."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer = create_producer(settings, client_suffix="clock")
        self._consumer = AIOKafkaConsumer(
            **settings.client_kwargs(),
            client_id=f"{settings.client_id}-clock",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )

    async def __aenter__(self) -> ClockEmitter:
        await self._producer.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        await self._producer.stop()

    async def tick(self, at: datetime) -> dict[int, int]:
        """Write one tick per partition at ``at``; returns partition -> events end offset.

        The record timestamp is the producer's (brokers refuse timestamps far in the future);
        the tick's logical time is in the payload.
        """
        clock_topic = self.settings.topic_name(CLOCK_TOPIC)
        events_topic = self.settings.topic_name(EVENTS_TOPIC)
        partitions = await self._partitions(clock_topic)
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(
            [TopicPartition(events_topic, p) for p in partitions]
        )
        futures = []
        placed: dict[int, int] = {}
        for p in partitions:
            end = ends[TopicPartition(events_topic, p)]
            placed[p] = end
            value = tick_payload(at, p, end)
            futures.append(
                await self._producer.send(
                    clock_topic,
                    value=orjson.dumps(value),
                    key=None,
                    partition=p,
                )
            )
        await asyncio.gather(*futures)
        return placed

    async def _partitions(self, topic: str) -> list[int]:
        found: Any = await self._producer.partitions_for(topic)
        return sorted(int(p) for p in found)


async def emit_ticks(settings: KafkaSettings, at: datetime) -> dict[int, int]:
    """One-shot ``peerlink clock tick --at``."""
    async with ClockEmitter(settings) as clock:
        return await clock.tick(at)


async def run_clock(
    settings: KafkaSettings,
    interval_s: float,
    *,
    stop: asyncio.Event | None = None,
    health: Health | None = None,
) -> int:
    """Tick every ``interval_s`` seconds with the wall-clock time until ``stop``; returns
    the number of ticks written (per partition). A failed tick is retried at the next
    interval; the health report says so meanwhile."""
    stop = stop or asyncio.Event()
    health = health or Health(stall_after_s=max(60.0, 3 * interval_s))
    count = 0
    async with ClockEmitter(settings) as clock:
        health.set_ready(True)
        while not stop.is_set():
            try:
                await clock.tick(datetime.now(UTC))
                count += 1
                health.clear("kafka")
            except KafkaError as exc:
                health.set_unhealthy("kafka", "tick not written")
                _log.warning("tick failed", extra={"error_class": type(exc).__name__})
            health.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    health.set_ready(False)
    _log.info("clock stopped", extra={"count": count})
    return count
