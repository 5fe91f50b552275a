"""The whole intake process (``peerlink intake run``): Kafka path and HTTP API in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from schemas.events import parse_event
from services.devkafka.ports import free_port
from services.intake.runner import run_intake
from services.intake.service import EVENTS_TOPIC, RAW_TOPIC
from services.runtime import KafkaSettings, create_producer
from tests.integration.intake.conftest import read_topic
from tests.unit.intake import examples as ex


async def test_process_serves_http_and_consumes_kafka(intake_kafka: KafkaSettings) -> None:
    port = free_port()
    settings = ex.settings(group_id="it-runner", http_host="127.0.0.1", http_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(run_intake(settings=settings, kafka=intake_kafka, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(90):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            submission = ex.consent(participant="p-run001")
            del submission["source"]
            response = await client.post(
                "/v1/events",
                json=submission,
                headers={"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"},
            )
            assert response.status_code == 202, response.text
            metrics = (
                await client.get(
                    "/metrics", headers={"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}
                )
            ).text
            assert "peerlink_intake_accepted_total" in metrics

        producer = create_producer(intake_kafka, client_suffix="it-runner")
        await producer.start()
        try:
            await producer.send_and_wait(
                intake_kafka.topic_name(RAW_TOPIC),
                key=b"p-run002",
                value=json.dumps(ex.exited(participant="p-run002", event_id="evt-run-2")).encode(),
            )
        finally:
            await producer.stop()
        records = await read_topic(intake_kafka, EVENTS_TOPIC, count=2, timeout_s=30)
        subjects = sorted(parse_event(r.value).subject or "" for r in records)
        assert subjects == ["p-run001", "p-run002"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
