"""Property on a real broker: random input never stops intake, and each record ends in
exactly one place (one event on ``peer.events.v1``, dropped as a duplicate, or one DLQ record).

A few hypothesis examples, each a batch of random bytes, random JSON and mutated valid
submissions pushed through a running processor; the pure validator predicts every record's
fate and the broker must agree record by record. The pure property tests run many more.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import parse_event
from schemas.topics import topic
from services.intake.rejection import Rejection
from services.intake.service import DLQ_TOPIC, EVENTS_TOPIC, FHIR_TOPIC, RAW_TOPIC, IntakeDomain
from services.runtime import KafkaSettings, create_producer
from services.runtime.topics_admin import admin_client, ensure_topics
from tests.integration.intake.conftest import read_topic, running_intake, wait_until
from tests.unit.intake import examples as ex
from tests.unit.intake.test_properties import _VALID, json_values, mutated

KEY = "p-prop01"
inputs = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(_VALID).map(lambda v: json.dumps(v).encode()),
    st.integers(0, 50).map(lambda i: json.dumps(ex.valid_submission(i, KEY)).encode()),
)


def _total(counter: object) -> float:
    return sum(
        s.value
        for metric in counter.collect()  # type: ignore[attr-defined]
        for s in metric.samples
        if s.name.endswith("_total")
    )


async def _push_and_check(kafka: KafkaSettings, values: list[bytes]) -> None:
    producer = create_producer(kafka, client_suffix="it-prop")
    await producer.start()
    try:
        sent = [
            await (await producer.send(kafka.topic_name(RAW_TOPIC), key=KEY.encode(), value=v))
            for v in values
        ]
    finally:
        await producer.stop()
    intake_settings = ex.settings(group_id="it-prop", breaker_max_invalid_ratio=1.0)
    async with running_intake(kafka, intake_settings) as intake:
        await wait_until(
            lambda: (
                _total(intake.metrics.consumed) >= len(values)
                and _total(intake.metrics.commits) > 0
            ),
            timeout_s=60,
        )
        assert not intake.task.done(), "the processor stopped"
    events = await read_topic(kafka, EVENTS_TOPIC, count=0, timeout_s=0, settle_s=1.0)
    dlq = await read_topic(kafka, DLQ_TOPIC, count=0, timeout_s=0, settle_s=1.0)

    validator = IntakeDomain.from_settings(intake_settings).validator
    predicted_dlq: set[int] = set()
    predicted_ids: list[str] = []
    for metadata, value in zip(sent, values, strict=True):
        outcome = validator.from_bytes(value)
        if isinstance(outcome, Rejection):
            predicted_dlq.add(metadata.offset)
        elif outcome.event_id not in predicted_ids:  # later copies are duplicates
            predicted_ids.append(outcome.event_id)
    dlq_offsets = [int(dict(r.headers)["x-dlq-original-offset"]) for r in dlq]
    assert sorted(dlq_offsets) == sorted(predicted_dlq)
    assert all(b"internal_error" not in dict(r.headers)["x-dlq-reason"] for r in dlq)
    assert [parse_event(r.value).id for r in events] == predicted_ids


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.lists(inputs, min_size=20, max_size=40))
def test_random_input_ends_in_exactly_one_place(
    values: list[bytes], kafka_settings: KafkaSettings
) -> None:
    # A sync test: each example runs in an event loop of its own, with topics of its own.
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"p{uuid.uuid4().hex[:10]}."})
    names = (RAW_TOPIC, FHIR_TOPIC, EVENTS_TOPIC, DLQ_TOPIC)

    async def run() -> None:
        await ensure_topics(kafka, [topic(n) for n in names])
        try:
            await _push_and_check(kafka, values)
        finally:
            admin = admin_client(kafka)
            await admin.start()
            try:
                await admin.delete_topics([kafka.topic_name(n) for n in names])
            finally:
                await admin.close()

    asyncio.run(run())
