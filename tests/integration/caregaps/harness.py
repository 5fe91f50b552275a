"""Shared by the engine's integration and reliability tests.

* a fresh topic prefix per test (all registry topics created under it);
* reading a topic back completely (read committed), per partition in offset order;
* the *reference*: the pure rules applied to the input logs in the merged order the engine
  promises (per partition, each tick after the events below its ``events_end_offset``),
  giving the exact change records and final states a correct engine must produce;
* an engine running as a real subprocess (``python -m services.caregaps``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, ClockTickEvent
from schemas.topics import topic as registry_topic
from services.caregaps import ParticipantState, PolicySet, apply, change_event
from services.caregaps.clock import ClockEmitter
from services.caregaps.rules.facts import epoch
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import admin_client, ensure_topics

__all__ = [
    "EngineProcess",
    "Reference",
    "delete_prefixed_topics",
    "fresh_settings",
    "produce_events",
    "read_all",
    "reference",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[3]


async def fresh_settings(base: KafkaSettings, label: str) -> KafkaSettings:
    """Settings with a unique topic prefix; every registry topic exists under it."""
    settings = base.model_copy(update={"topic_prefix": f"{label}-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings)
    return settings


async def delete_prefixed_topics(settings: KafkaSettings) -> None:
    admin = admin_client(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def produce_events(settings: KafkaSettings, events: Iterable[dict[str, Any]]) -> int:
    """Send events keyed by subject (the default partitioner, as intake does)."""
    producer = create_producer(settings, client_suffix="test-events")
    await producer.start()
    count = 0
    try:
        topic = settings.topic_name("peer.events.v1")
        for event in events:
            await producer.send(topic, orjson.dumps(event), key=event["subject"].encode())
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def emit_tick(settings: KafkaSettings, at: datetime) -> dict[int, int]:
    async with ClockEmitter(settings) as clock:
        return await clock.tick(at)


async def read_all(
    settings: KafkaSettings, logical: str, *, timeout_s: float = 30.0
) -> dict[int, list[Any]]:
    """Every committed record of a topic, per partition in offset order."""
    topic = settings.topic_name(logical)
    consumer = AIOKafkaConsumer(
        **settings.client_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    out: dict[int, list[Any]] = defaultdict(list)
    try:
        partitions = range(registry_topic(logical).partitions)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            fetched = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in fetched.items():
                out[tp.partition].extend(records)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"could not read {topic} to its end")
    finally:
        await consumer.stop()
    return dict(out)


async def committed_offsets(settings: KafkaSettings, group: str) -> dict[tuple[str, int], int]:
    admin = admin_client(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(interval_s)


@dataclass
class Reference:
    """What a correct engine produces from the input logs."""

    #: Change record values per partition, in output order.
    changes: dict[int, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    #: Final state bytes per participant.
    states: dict[str, bytes] = field(default_factory=dict)
    #: Next offsets of the inputs up to which the engine commits (events held after the last
    #: tick are not processed yet).
    events_processed: dict[int, int] = field(default_factory=dict)

    @property
    def change_count(self) -> int:
        return sum(len(v) for v in self.changes.values())


def reference(
    events: dict[int, list[Any]], ticks: dict[int, list[Any]], policy: PolicySet | None = None
) -> Reference:
    """Apply the rules to the logs in the engine's merged order (services.caregaps.ordering)."""
    policy = policy or PolicySet()
    ref = Reference()
    for partition in sorted(set(events) | set(ticks)):
        states: dict[str, ParticipantState] = {}
        queue = list(events.get(partition, []))
        processed = 0

        def run(
            event: Any,
            targets: list[str],
            states: dict[str, ParticipantState] = states,
            partition: int = partition,
        ) -> None:
            for key in targets:
                state = states.get(key) or ParticipantState.new(key)
                new, change = apply(state, event, policy)
                states[key] = new
                if change is not None:
                    ref.changes[partition].append(
                        change_event(change, key).model_dump_json().encode()
                    )

        for record in ticks.get(partition, []):
            tick = EVENT_ADAPTER.validate_json(record.value)
            assert isinstance(tick, ClockTickEvent)
            end = tick.data.events_end_offset
            assert end is not None, "tests write ticks with offsets"
            while queue and queue[0].offset < end:
                try:
                    event = EVENT_ADAPTER.validate_json(queue.pop(0).value)
                except ValidationError:
                    continue  # the engine dead-letters it
                assert event.subject is not None
                run(event, [event.subject])
            processed = max(processed, end)
            at = epoch(tick.time)
            run(tick, sorted(k for k, s in states.items() if s.next_due <= at))
        ref.events_processed[partition] = processed
        ref.states.update({key: state.to_bytes() for key, state in states.items()})
    return ref


class EngineProcess:
    """One engine instance as a subprocess; killed or stopped by its own pid only."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group: str,
        instance_id: str | None,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "PEERLINK_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "PEERLINK_KAFKA_TOPIC_PREFIX": settings.topic_prefix,
            "PEERLINK_CAREGAPS_GROUP_ID": group,
            "PEERLINK_CAREGAPS_OPS_PORT": "0",
            "PEERLINK_CAREGAPS_SESSION_TIMEOUT_MS": "6000",
            "PEERLINK_CAREGAPS_HEARTBEAT_INTERVAL_MS": "1000",
            "PEERLINK_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        if instance_id is not None:
            env["PEERLINK_CAREGAPS_INSTANCE_ID"] = instance_id
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_from = 0

    def start(self) -> None:
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "services.caregaps"],
            cwd=REPO,
            env=self._env,
            stdout=log,
            stderr=log,
        )
        log.close()

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until this start of the process has been given (and restored) its partitions."""

        async def ready() -> bool:
            if not self.running:
                raise RuntimeError(f"engine exited early, see {self.log_path}")
            with self.log_path.open("rb") as log:
                log.seek(self._log_from)
                return b"tasks assigned and restored" in log.read()

        await wait_until(ready, timeout_s=timeout_s, interval_s=0.2)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no graceful anything."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
                raise
        return int(self._proc.returncode)
