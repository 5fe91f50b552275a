"""``run_service``: ops endpoints report readiness and metrics while it publishes."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from schemas.vocabulary import GapCode
from services.devkafka.ports import free_port
from services.fhir_publisher import PublisherSettings
from services.fhir_publisher.examples import change_event, make_change, make_gap, opened
from services.fhir_publisher.service import run_service
from services.runtime import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from tests.support.kafka import ConsumerFactory, ProducerFactory

pytestmark = pytest.mark.kafka


async def test_run_service_serves_health_and_metrics(
    kafka_settings: KafkaSettings,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
) -> None:
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"svc{uuid.uuid4().hex[:10]}."})
    await ensure_topics(kafka)
    port = free_port()
    settings = PublisherSettings(group_id=f"svc-{kafka.topic_prefix}", ops_port=port)
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(settings, kafka, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        gap = make_gap(GapCode.REDFLAG_RF3)
        event = change_event(make_change(open_gaps=[gap], delta=[opened(gap)]))
        producer = await producer_factory()
        await producer.send_and_wait(
            kafka.topic_name("caregaps.changes.v1"),
            key=event.subject.encode(),
            value=event.model_dump_json().encode(),
        )
        async with httpx.AsyncClient(base_url=base) as client, asyncio.timeout(60):
            while True:
                try:
                    metrics = (await client.get("/metrics")).text
                except httpx.ConnectError:  # the ops server is still starting
                    await asyncio.sleep(0.2)
                    continue
                if 'peerlink_records_produced_total{topic="fhir.r4.communication"} 1.0' in metrics:
                    break
                await asyncio.sleep(0.2)
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
        assert "p-000123" not in metrics  # no participant keys in metrics
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=30)
