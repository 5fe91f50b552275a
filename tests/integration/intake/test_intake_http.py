"""HTTP intake against a real broker: 202 only once the events are in Kafka (acks=all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from schemas.events import parse_event
from services.intake.http_api import EventPublisher, create_app
from services.intake.metrics import IntakeMetrics
from services.intake.service import EVENTS_TOPIC, IntakeDomain
from services.runtime import Health, KafkaSettings, ServiceMetrics
from tests.integration.intake.conftest import read_topic
from tests.unit.intake import examples as ex

CHW = {"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}
TPP = {"Authorization": f"Bearer {ex.TOKENS[ex.OTHER_PROGRAMME]}"}


@pytest.fixture
async def client(intake_kafka: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    publisher = EventPublisher(intake_kafka)
    await publisher.start()
    app = create_app(
        domain=IntakeDomain.from_settings(ex.settings()),
        publisher=publisher,
        metrics=IntakeMetrics(base=ServiceMetrics(service="intake-http-it")),
        health=Health(),
        manage_publisher=False,
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as c:
            yield c
    finally:
        await publisher.stop()


def _submission(**kw: Any) -> dict[str, Any]:
    submission = ex.contact(**kw)
    del submission["source"]
    return submission


async def test_accepted_events_are_in_kafka_when_202_returns(
    client: httpx.AsyncClient, intake_kafka: KafkaSettings
) -> None:
    single = await client.post("/v1/events", json=_submission(participant="p-http01"), headers=CHW)
    assert single.status_code == 202, single.text
    absurd = _submission(participant="p-http02")
    absurd["data"]["observations"][0]["systolic"] = 999
    batch = {
        "events": [
            ex.consent(participant="p-http02", source=f"peerlink://programme/{ex.PROGRAMME}"),
            absurd,
            _submission(participant="p-http02", duration=5),
            {"type": "peerlink.participant.exited", "subject": "p-http02"},
            _submission(participant="p-http01"),  # resend of the single event
        ]
    }
    response = await client.post("/v1/events:batch", json=batch, headers=CHW)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [(a["index"], a["duplicate"]) for a in body["accepted"]] == [
        (0, False),
        (2, False),
        (4, True),
    ]
    assert {r["index"]: r["code"] for r in body["rejected"]} == {
        1: "invalid_event",
        3: "invalid_event",
    }
    assert any(
        e["loc"] == "data.observations.0.blood_pressure.systolic"
        for e in body["rejected"][0]["errors"]
    )
    assert {e["loc"] for e in body["rejected"][1]["errors"]} == {"time", "data"}
    assert body["accepted"][2]["event_id"] == single.json()["event_id"]

    # 202 was returned after the acks: a reader sees exactly the three new events, in order.
    records = await read_topic(intake_kafka, EVENTS_TOPIC, count=3, timeout_s=10)
    events = [parse_event(r.value) for r in records]
    assert sorted(e.id for e in events) == sorted(
        [
            single.json()["event_id"],
            body["accepted"][0]["event_id"],
            body["accepted"][1]["event_id"],
        ]
    )
    by_participant = [e.id for e in events if e.subject == "p-http02"]
    assert by_participant == [body["accepted"][0]["event_id"], body["accepted"][1]["event_id"]]
    assert all(r.key == str(e.subject).encode() for r, e in zip(records, events, strict=True))
    assert all(e.source == f"peerlink://programme/{ex.PROGRAMME}" for e in events)


async def test_cross_programme_batch_publishes_nothing(
    client: httpx.AsyncClient, intake_kafka: KafkaSettings
) -> None:
    batch = {
        "events": [ex.consent(source=f"peerlink://programme/{ex.OTHER_PROGRAMME}"), _submission()]
    }
    response = await client.post("/v1/events:batch", json=batch, headers=TPP)
    assert response.status_code == 403
    assert await read_topic(intake_kafka, EVENTS_TOPIC, count=0, timeout_s=0, settle_s=1.0) == []
