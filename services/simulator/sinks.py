"""Where simulated records go: a JSONL file, or Kafka (the only part that needs a broker).

Kafka delivery keeps the simulator's order where it matters: records of one participant go to
one partition in emission order (acks=all, idempotent producer). Before each instant's clock
ticks every earlier record is acknowledged and ``place_ticks`` is awaited: it returns, per
partition, the end offset of ``peer.events.v1`` that the ticks carry as
``events_end_offset``. The engine applies a tick after exactly the events below that offset
(services.caregaps.ordering), so when the hook first waits for intake to catch up, each day's
ticks land after that day's events whatever the timing, and the engine's input order is a
function of the topics alone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.simulator.progress import Progress
from services.simulator.records import CLOCK_TOPIC, SimRecord

__all__ = ["PlaceTicks", "SimSummary", "send_to_kafka", "write_jsonl"]

#: Awaited before the ticks of an instant are sent; returns partition -> events end offset
#: to stamp on them (None or a missing partition: the tick is applied when it arrives).
PlaceTicks = Callable[[datetime], Awaitable[Mapping[int, int] | None]]


@dataclass(kw_only=True)
class SimSummary:
    """What was emitted, by topic and kind."""

    records: int = 0
    valid: int = 0
    invalid: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    participants: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0

    def add(self, record: SimRecord) -> None:
        self.records += 1
        if record.valid:
            self.valid += 1
        else:
            self.invalid += 1
        self.by_topic[record.topic] += 1
        self.by_kind[record.kind] += 1
        if record.participant:
            self.participants.add(record.participant)
        self.first = self.first or record.emit_at
        self.last = record.emit_at

    def describe(self) -> str:
        topics = ", ".join(f"{t} {n}" for t, n in sorted(self.by_topic.items()))
        return (
            f"{self.records} records ({self.valid} valid, {self.invalid} junk) for "
            f"{len(self.participants)} participants: {topics}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "valid": self.valid,
            "invalid": self.invalid,
            "participants": len(self.participants),
            "by_topic": dict(sorted(self.by_topic.items())),
            "by_kind": dict(sorted(self.by_kind.items())),
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "seconds": round(self.seconds, 2),
        }


def _progress_note(summary: SimSummary, record: SimRecord) -> str:
    return f"{record.emit_at:%Y-%m-%d} {summary.records} records"


def write_jsonl(
    records: Iterable[SimRecord],
    out: Path | BinaryIO,
    *,
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
) -> SimSummary:
    """Write one JSON object per line (see ``SimRecord.to_json_line``)."""
    summary = SimSummary()
    span = (end - start).total_seconds()
    handle: BinaryIO
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        handle = out.open("wb")
    else:
        handle = out
    try:
        for record in records:
            handle.write(record.to_json_line())
            summary.add(record)
            if progress is not None:
                progress.update(
                    (record.emit_at - start).total_seconds() / span * progress.total,
                    _progress_note(summary, record),
                )
    finally:
        if isinstance(out, Path):
            handle.close()
    if progress is not None:
        summary.seconds = progress.close(summary.describe())
    return summary


def _placed(tick: bytes, events_end_offset: int) -> bytes:
    """The tick with its place in the events partition."""
    envelope = orjson.loads(tick)
    envelope["data"]["events_end_offset"] = events_end_offset
    return orjson.dumps(envelope)


async def send_to_kafka(
    records: Iterable[SimRecord],
    settings: KafkaSettings,
    *,
    start: datetime,
    end: datetime,
    clock_partitions: int,
    place_ticks: PlaceTicks | None = None,
    progress: Progress | None = None,
    flush_every: int = 2_000,
) -> SimSummary:
    """Produce every record (acks=all); returns what was sent.

    Raises ``ValueError`` when the clock topic's partition count differs from the
    simulation's, since a tick per partition is what the engine relies on.
    """
    summary = SimSummary()
    span = (end - start).total_seconds()
    # With a hook every tick instant flushes: lingering would only add latency to each flush.
    producer = create_producer(
        settings, client_suffix="simulator", linger_ms=0 if place_ticks else 20
    )
    await producer.start()
    try:
        partitions = await producer.partitions_for(settings.topic_name(CLOCK_TOPIC))
        if len(partitions) != clock_partitions:
            raise ValueError(
                f"{settings.topic_name(CLOCK_TOPIC)} has {len(partitions)} partitions but the "
                f"simulation ticks {clock_partitions}; pass --clock-partitions {len(partitions)}"
            )
        pending: list[asyncio.Future[Any]] = []
        last_tick: datetime | None = None
        offsets: Mapping[int, int] | None = None
        for record in records:
            value = record.value
            if record.is_tick:
                if record.emit_at != last_tick:
                    last_tick = record.emit_at
                    # Everything before the ticks is durable before the hook looks.
                    await asyncio.gather(*pending)
                    pending.clear()
                    offsets = await place_ticks(record.emit_at) if place_ticks else None
                if offsets and record.partition is not None and record.partition in offsets:
                    value = _placed(value, offsets[record.partition])
            pending.append(
                await producer.send(
                    settings.topic_name(record.topic),
                    value=value,
                    key=record.key,
                    headers=list(record.headers),
                    partition=record.partition,
                )
            )
            summary.add(record)
            if len(pending) >= flush_every:
                await asyncio.gather(*pending)
                pending.clear()
            if progress is not None:
                progress.update(
                    (record.emit_at - start).total_seconds() / span * progress.total,
                    _progress_note(summary, record),
                )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    if progress is not None:
        summary.seconds = progress.close(summary.describe())
    return summary
