"""The publisher against a real broker: consent gating, ids, versions, headers, replay.

Each test runs on its own topic prefix (the registry topics created afresh), so it sees only
its own records. Input is written transactionally, as the engine does, including one aborted
transaction that must never reach a clinic topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.topics import topic as registry_topic
from schemas.vocabulary import GapCode
from services.fhir_publisher import PublisherSettings
from services.fhir_publisher.examples import T0, change_event, make_change, make_gap, opened
from services.fhir_publisher.service import build_processor
from services.runtime import KafkaSettings, ServiceMetrics
from services.runtime.topics_admin import ensure_topics
from tests.fhir_validation import FhirJsValidator
from tests.fhir_validation.pytest_fixtures import assert_fhirjs_clean
from tests.support.kafka import ConsumerFactory, ProducerFactory

pytestmark = pytest.mark.kafka

FHIR_TOPICS = ("fhir.r4.careplan", "fhir.r4.communication", "fhir.r4.detectedissue")
P_CONSENTING, P_NEVER, P_OPT_IN, P_ABORTED = "p-consent-1", "p-never-2", "p-optin-3", "p-abort-4"


@dataclass(frozen=True)
class Out:
    topic: str
    partition: int
    key: str
    value: dict[str, Any]
    raw: bytes
    headers: dict[str, bytes]


@pytest.fixture
async def isolated(kafka_settings: KafkaSettings) -> KafkaSettings:
    settings = kafka_settings.model_copy(update={"topic_prefix": f"pub{uuid.uuid4().hex[:10]}."})
    await ensure_topics(settings)
    return settings


def _log() -> list[tuple[str, bytes]]:
    """Participant logs as the engine would write them (key, event bytes)."""
    a1c = make_gap(GapCode.A1C_DUE, participant=P_CONSENTING)
    chest = make_gap(GapCode.REDFLAG_RF11, participant=P_CONSENTING, opened_at=T0 + timedelta(1))
    hypo = make_gap(GapCode.REDFLAG_RF2, participant=P_CONSENTING, opened_at=T0 + timedelta(3))
    never = make_gap(GapCode.REDFLAG_RF14, participant=P_NEVER)
    kidney = make_gap(GapCode.KIDNEY_CONFIRM, participant=P_OPT_IN)

    def day(n: int) -> Any:
        return T0 + timedelta(days=n)

    changes = [
        (
            P_CONSENTING,
            make_change(participant=P_CONSENTING, sequence=1, open_gaps=[a1c], delta=[opened(a1c)]),
        ),
        (
            P_CONSENTING,
            make_change(
                participant=P_CONSENTING,
                sequence=2,
                as_of=day(1),
                open_gaps=[chest, a1c],
                delta=[opened(chest)],
            ),
        ),
        # Withdrawal, then a red flag while withdrawn: both stay on the peer side.
        (
            P_CONSENTING,
            make_change(
                participant=P_CONSENTING,
                sequence=3,
                as_of=day(2),
                open_gaps=[chest, a1c],
                consent=False,
            ),
        ),
        (
            P_CONSENTING,
            make_change(
                participant=P_CONSENTING,
                sequence=4,
                as_of=day(3),
                open_gaps=[hypo, chest, a1c],
                delta=[opened(hypo)],
                consent=False,
            ),
        ),
        # Re-granted: publication resumes with the current plan.
        (
            P_CONSENTING,
            make_change(
                participant=P_CONSENTING, sequence=5, as_of=day(4), open_gaps=[hypo, chest, a1c]
            ),
        ),
        (
            P_NEVER,
            make_change(
                participant=P_NEVER,
                sequence=1,
                open_gaps=[never],
                delta=[opened(never)],
                consent=False,
                consent_since=None,
            ),
        ),
        (
            P_OPT_IN,
            make_change(
                participant=P_OPT_IN,
                sequence=1,
                clinic_id="clinic-east",
                consent_clinic="clinic-east",
                open_gaps=[kidney],
                delta=[opened(kidney)],
            ),
        ),
    ]
    return [(key, change_event(c, key).model_dump_json().encode()) for key, c in changes]


async def _produce_input(
    settings: KafkaSettings, producer: Any, log: list[tuple[str, bytes]]
) -> tuple[dict[str, int], dict[int, int]]:
    """Writes ``log`` in one committed transaction.

    Returns the partition of each key and, per partition, the offset after the last record
    written (what the publisher's group must have committed once it caught up).
    """
    topic = settings.topic_name("caregaps.changes.v1")
    partitions: dict[str, int] = {}
    done: dict[int, int] = {}
    async with producer.transaction():
        for key, value in log:
            meta = await (await producer.send(topic, key=key.encode(), value=value))
            partitions[key] = meta.partition
            done[meta.partition] = max(done.get(meta.partition, 0), meta.offset + 1)
    return partitions, done


async def _produce_aborted(settings: KafkaSettings, producer: Any) -> None:
    aborted = make_gap(GapCode.REDFLAG_RF5, participant=P_ABORTED)
    change = make_change(
        participant=P_ABORTED, sequence=1, open_gaps=[aborted], delta=[opened(aborted)]
    )
    await producer.begin_transaction()
    await producer.send(
        settings.topic_name("caregaps.changes.v1"),
        key=P_ABORTED.encode(),
        value=change_event(change, P_ABORTED).model_dump_json().encode(),
    )
    await producer.abort_transaction()


def _publisher_settings(group: str) -> PublisherSettings:
    return PublisherSettings.model_validate(
        {"group_id": group, "clinics": {"clinic-east": {"detected_issue": True}}, "max_records": 50}
    )


async def _committed_reaches(
    admin: AIOKafkaAdminClient, kafka: KafkaSettings, group: str, done: dict[int, int]
) -> bool:
    try:
        committed = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # coordinator not elected yet on a fresh broker
        return False
    topic = kafka.topic_name("caregaps.changes.v1")
    for partition, offset in done.items():
        meta = committed.get(TopicPartition(topic, partition))
        if meta is None or meta.offset < offset:
            return False
    return True


@contextlib.asynccontextmanager
async def _publisher(kafka: KafkaSettings, group: str) -> AsyncIterator[ServiceMetrics]:
    metrics = ServiceMetrics(service="fhir_publisher")
    processor, _ = build_processor(_publisher_settings(group), kafka, metrics=metrics)
    task = asyncio.create_task(processor.run())
    try:
        yield metrics
        if task.done():
            task.result()
    finally:
        processor.stop()
        await asyncio.wait_for(task, timeout=30)


async def _wait_committed(
    admin: AIOKafkaAdminClient, kafka: KafkaSettings, group: str, done: dict[int, int]
) -> None:
    async with asyncio.timeout(60):
        while True:
            if await _committed_reaches(admin, kafka, group, done):
                return
            await asyncio.sleep(0.2)


async def _read_all(
    kafka: KafkaSettings, consumer_factory: ConsumerFactory, *topics: str
) -> list[Out]:
    """Every committed record of ``topics``, in offset order per partition."""
    consumer = await consumer_factory(isolation_level="read_committed")
    names = {kafka.topic_name(t): t for t in topics}
    tps = [
        TopicPartition(kafka.topic_name(t), p)
        for t in topics
        for p in range(registry_topic(t).partitions)
    ]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)

    async def behind() -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return True
        return False

    records: list[Out] = []
    async with asyncio.timeout(30):
        while await behind():
            for tp, items in (await consumer.getmany(timeout_ms=500)).items():
                topic = names[tp.topic]
                for r in items:
                    records.append(
                        Out(
                            topic=topic,
                            partition=tp.partition,
                            key=r.key.decode(),
                            value={} if topic == "fhir.publisher.dlq" else orjson.loads(r.value),
                            raw=r.value,
                            headers=dict(r.headers),
                        )
                    )
    return records


async def test_publishes_consent_gated_resources_and_replays_identically(
    isolated: KafkaSettings,
    kafka_admin: AIOKafkaAdminClient,
    producer_factory: ProducerFactory,
    consumer_factory: ConsumerFactory,
    fhirjs: FhirJsValidator,
) -> None:
    group = f"fhir-pub-{isolated.topic_prefix}"
    replay_group = f"{group}-replay"
    producer = await producer_factory(transactional_id=f"engine-{uuid.uuid4().hex}")
    partitions, done = await _produce_input(isolated, producer, [*_log(), ("p-junk-5", b"{oops")])
    await _produce_aborted(isolated, producer)
    async with _publisher(isolated, group) as metrics:
        await _wait_committed(kafka_admin, isolated, group, done)
    first = await _read_all(isolated, consumer_factory, *FHIR_TOPICS)

    by_topic: dict[str, list[Out]] = defaultdict(list)
    for out in first:
        by_topic[out.topic].append(out)
    # Nothing for the never-consenting participant or the aborted transaction.
    assert {o.key for o in first} == {P_CONSENTING, P_OPT_IN}

    plans = [o for o in by_topic["fhir.r4.careplan"] if o.key == P_CONSENTING]
    assert [o.value["meta"]["versionId"] for o in plans] == ["1", "2", "5"]
    assert len({o.value["id"] for o in plans}) == 1
    assert plans[-1].value["status"] == "active"

    comms = [o for o in by_topic["fhir.r4.communication"] if o.key == P_CONSENTING]
    assert [(o.value["priority"], o.value["category"][0]["coding"][0]["code"]) for o in comms] == [
        ("routine", "reminder"),
        ("stat", "alert"),
    ]
    for comm in comms:
        assert comm.value["basedOn"][0]["reference"] == f"CarePlan/{plans[0].value['id']}"
    # The hypoglycaemia red flag raised while withdrawn never became a Communication.
    assert not any("54 mg/dL" in o.value["payload"][0]["contentString"] for o in comms)

    (issue,) = by_topic["fhir.r4.detectedissue"]
    assert issue.key == P_OPT_IN

    for out in first:
        assert out.partition == partitions[out.key]  # co-partitioned with the input
        assert out.headers["content-type"] == b"application/fhir+json; fhirVersion=4.0"
        assert out.headers["fhir-resource-type"].decode() == out.value["resourceType"]
        assert out.headers["fhir-id"].decode() == out.value["id"]
        assert out.headers["fhir-version-id"].decode() == out.value["meta"]["versionId"]
        assert out.headers["source-change-id"]
        assert len(out.headers["trace-id"]) == 32
        assert b"pat-7f3a" not in b"".join(out.headers.values())

    assert_fhirjs_clean(fhirjs, [o.value for o in first])

    withheld = "peerlink_records_withheld_total"
    assert metrics.registry.get_sample_value(withheld, {"reason": "consent_withdrawn"}) == 2
    assert metrics.registry.get_sample_value(withheld, {"reason": "no_consent"}) == 1
    (dead,) = await _read_all(isolated, consumer_factory, "fhir.publisher.dlq")
    assert dead.raw == b"{oops"
    assert dead.headers["x-dlq-reason"] == b"invalid_event"

    # Restart of the same group: offsets were committed only after the outputs were durable,
    # so it resumes after them and publishes only the new change.
    more = make_change(
        participant=P_CONSENTING, sequence=6, as_of=T0 + timedelta(days=5), open_gaps=[]
    )
    _, done_more = await _produce_input(
        isolated,
        producer,
        [(P_CONSENTING, change_event(more, P_CONSENTING).model_dump_json().encode())],
    )
    async with _publisher(isolated, group):
        await _wait_committed(kafka_admin, isolated, group, done_more)
    after_restart = await _read_all(isolated, consumer_factory, *FHIR_TOPICS)
    new = [o for o in after_restart if o not in first]
    assert [(o.topic, o.value["meta"]["versionId"]) for o in new] == [("fhir.r4.careplan", "6")]

    # A replay from the start (new group) re-publishes identical resources: same ids,
    # versions, bytes and headers, in the same order per partition.
    async with _publisher(isolated, replay_group):
        await _wait_committed(kafka_admin, isolated, replay_group, {**done, **done_more})
    both = await _read_all(isolated, consumer_factory, *FHIR_TOPICS)
    assert len(both) == 2 * len(after_restart)
    per_partition: dict[tuple[str, int], list[Out]] = defaultdict(list)
    for out in both:
        per_partition[(out.topic, out.partition)].append(out)
    for records in per_partition.values():
        half = len(records) // 2
        assert [(r.key, r.raw, r.headers) for r in records[:half]] == [
            (r.key, r.raw, r.headers) for r in records[half:]
        ]
