"""Per-test intake topics on the session broker, a running intake processor, and readers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import topic
from services.intake.metrics import IntakeMetrics
from services.intake.service import (
    DLQ_TOPIC,
    EVENTS_TOPIC,
    FHIR_TOPIC,
    RAW_TOPIC,
    IntakeDomain,
    IntakeHandler,
    build_processor,
)
from services.intake.settings import IntakeSettings
from services.runtime import Health, KafkaSettings, Processor, ServiceMetrics
from services.runtime.topics_admin import admin_client, ensure_topics

INTAKE_TOPICS = (RAW_TOPIC, FHIR_TOPIC, EVENTS_TOPIC, DLQ_TOPIC)


@pytest.fixture
async def intake_kafka(kafka_settings: KafkaSettings) -> AsyncIterator[KafkaSettings]:
    """The session broker with this test's own copy of the intake topics (a unique prefix)."""
    settings = kafka_settings.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    await ensure_topics(settings, [topic(name) for name in INTAKE_TOPICS])
    yield settings
    admin = admin_client(settings)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics([settings.topic_name(name) for name in INTAKE_TOPICS])
    finally:
        await admin.close()


@dataclass
class RunningIntake:
    processor: Processor
    handler: IntakeHandler
    health: Health
    metrics: ServiceMetrics
    intake_metrics: IntakeMetrics
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_intake(
    kafka: KafkaSettings, settings: IntakeSettings
) -> AsyncIterator[RunningIntake]:
    health = Health()
    metrics = ServiceMetrics(service="intake-it")
    intake_metrics = IntakeMetrics(base=metrics)
    processor, handler = build_processor(
        settings=settings,
        kafka=kafka,
        health=health,
        metrics=metrics,
        domain=IntakeDomain.from_settings(settings),
        intake_metrics=intake_metrics,
    )
    task = asyncio.create_task(processor.run())
    try:
        yield RunningIntake(processor, handler, health, metrics, intake_metrics, task)
    finally:
        processor.stop()
        await asyncio.wait_for(task, timeout=30)


async def wait_until(condition: Callable[[], bool], *, timeout_s: float) -> None:
    """Poll ``condition`` (state owned by another task) until it holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state has no event to wait on
            await asyncio.sleep(0.05)


async def read_topic(
    kafka: KafkaSettings,
    logical: str,
    *,
    count: int,
    timeout_s: float = 60.0,
    settle_s: float = 1.0,
) -> list[Any]:
    """Every record of a topic from the start, once ``count`` arrived (plus a settle time to
    catch any extra record that should not be there)."""
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        name = kafka.topic_name(logical)
        # The registry knows the partition count; no need to wait for fresh metadata.
        consumer.assign([TopicPartition(name, p) for p in range(topic(logical).partitions)])
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            polled = await consumer.getmany(timeout_ms=200)
            for batch in polled.values():
                records.extend(batch)
        settle_until = asyncio.get_running_loop().time() + settle_s
        while asyncio.get_running_loop().time() < settle_until:
            polled = await consumer.getmany(timeout_ms=100)
            for batch in polled.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def committed_everything(kafka: KafkaSettings, group: str, logical: str) -> bool:
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        name = kafka.topic_name(logical)
        partitions = [TopicPartition(name, p) for p in range(topic(logical).partitions)]
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            if ends[tp] and (await consumer.committed(tp) or 0) != ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()
