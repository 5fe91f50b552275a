"""With a real broker: a consumer that crashes between its store write and its offset commit
is restarted, re-reads the uncommitted batches, and the figures count every event once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.events import CareGapsChangedEvent, Event
from schemas.topics import topic
from services.evaluation.facts import Facts, facts_of
from services.evaluation.metrics import compute_metrics
from services.evaluation.service import INPUT_TOPICS, EvaluationService
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore
from services.runtime import KafkaSettings, OutRecord, PartitionBatch
from services.runtime.topics_admin import ensure_topics
from tests.support.kafka import ProducerFactory, free_port_pair
from tests.unit.evaluation.scenario import PERIOD, PROG, scenario_events

pytestmark = pytest.mark.kafka


class Crash(RuntimeError):
    """Stands for the process dying after the store write, before the offset commit."""


async def _produce(
    producer_factory: ProducerFactory, settings: KafkaSettings, events: list[Event]
) -> None:
    producer = await producer_factory()
    sent = []
    for event in events:
        logical = (
            "caregaps.changes.v1" if isinstance(event, CareGapsChangedEvent) else ("peer.events.v1")
        )
        sent.append(
            await producer.send(
                settings.topic_name(logical),
                key=event.subject.encode() if event.subject else None,
                value=event.model_dump_json().encode(),
            )
        )
    # Junk on the input topic is recorded (coordinates only) and skipped, never fatal.
    sent.append(await producer.send(settings.topic_name("peer.events.v1"), key=b"p-x", value=b"{"))
    await asyncio.gather(*sent)


async def _wait_for(db: Path, ingested: int, timeout_s: float = 60.0) -> dict[str, int]:
    async with asyncio.timeout(timeout_s):
        while True:
            with EvaluationStore(db) as reader:
                counts = reader.counts()
            if counts["ingested"] >= ingested and counts["rejects"] >= 1:
                return counts
            await asyncio.sleep(0.2)


async def test_restart_after_a_crash_before_commit_does_not_double_count(
    kafka_settings: KafkaSettings, producer_factory: ProducerFactory, tmp_path: Path
) -> None:
    settings = kafka_settings.model_copy(update={"topic_prefix": f"ev{uuid.uuid4().hex[:10]}."})
    await ensure_topics(settings, [topic(name) for name in INPUT_TOPICS])
    events = scenario_events()
    # At-least-once upstream: some events arrive twice.
    await _produce(producer_factory, settings, events + events[:15])

    db = tmp_path / "eval.sqlite3"
    config = EvaluationSettings(
        db_path=db,
        group_id=f"evaluation-{uuid.uuid4().hex[:8]}",
        max_records=7,
        gauge_refresh_s=3600,
        min_cell=1,
        http_host="127.0.0.1",
        http_port=free_port_pair(),
    )

    first = EvaluationService(config, settings, serve_http=False)
    handled = {"batches": 0}
    real_handle = first.handle

    async def crash_on_fourth_batch(batch: PartitionBatch) -> list[OutRecord]:
        out = await real_handle(batch)  # the store write happens...
        handled["batches"] += 1
        if handled["batches"] == 4:
            raise Crash  # ...but this poll's offsets are never committed
        return out

    first.processor.handler = crash_on_fourth_batch
    with pytest.raises(Crash):
        async with asyncio.timeout(60):
            await first.run()
    with EvaluationStore(db) as reader:
        partial = reader.counts()["ingested"]
    assert 0 < partial < len(events)

    second = EvaluationService(config, settings)
    task = asyncio.create_task(second.run())
    try:
        counts = await _wait_for(db, len(events))
        await asyncio.sleep(1.0)  # anything still arriving would be a double count
        base = f"http://{config.http_host}:{config.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get("/readyz")).status_code == 200
            response = await client.get(
                f"/v1/programmes/{PROG}/metrics", params={"from": "2026-01-01", "to": "2026-06-30"}
            )
            assert response.status_code == 200
            assert response.json()["overall"]["reach"]["enrolled"]["value"] == 7
            exposition = (await client.get("/metrics")).text
            assert "peerlink_evaluation_events_ingested_total" in exposition
    finally:
        second.stop()
        await asyncio.wait_for(task, 30)

    with EvaluationStore(db) as reader:
        final = reader.counts()
        stored = reader.load(PROG)
    assert final == counts
    assert final["ingested"] == len(events)
    assert final["rejects"] == 1

    # Redelivered batches and duplicate events were recognised, not re-counted. Which
    # instance meets a duplicate copy depends on how polls split the partitions: the first
    # one may already have read a short partition to its end, copies included.
    def dropped(service: EvaluationService) -> float:
        return next(
            float(line.split()[-1])
            for line in service.metrics.exposition().decode().splitlines()
            if line.startswith("peerlink_duplicates_dropped_total")
        )

    assert dropped(first) + dropped(second) >= 15

    expected = Facts.empty()
    for event in events:
        facts_of(event, expected)
    assert compute_metrics(stored, period=PERIOD, programme_id=PROG, min_cell=1) == (
        compute_metrics(expected, period=PERIOD, programme_id=PROG, min_cell=1)
    )
