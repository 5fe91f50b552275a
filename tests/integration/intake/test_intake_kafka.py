"""The Kafka path on a real broker: the malformed corpus interleaved with valid traffic.

Every malformed record must end on ``peer.intake.dlq`` with its original bytes, key and
headers and a reason naming its problem; every valid event must arrive on
``peer.events.v1`` exactly once, keyed by participant, in order per participant; offsets are
committed for everything. A second test floods the intake and checks the breaker pauses it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from typing import Any

from schemas.events import parse_event
from services.intake.fhir_inbound import CLINIC_ID_HEADER
from services.intake.service import DLQ_TOPIC, EVENTS_TOPIC, FHIR_TOPIC, RAW_TOPIC
from services.runtime import KafkaSettings, create_producer
from tests.integration.intake.conftest import (
    committed_everything,
    read_topic,
    running_intake,
    wait_until,
)
from tests.unit.intake import examples as ex
from tests.unit.intake.corpus import RAW, Malformed, malformed_corpus

PARTICIPANTS = [f"p-{i:06d}" for i in range(1, 21)]
VALID_PER_PARTICIPANT = 8


def _valid_fhir() -> list[tuple[str, dict[str, Any], int]]:
    """(participant, resource, number of events it yields), both unit systems."""
    key_a, key_b = PARTICIPANTS[0], PARTICIPANTS[1]
    return [
        (key_a, ex.hba1c_ifcc(62, id_="it-a1c-ifcc", key=key_a), 1),
        (key_a, ex.glucose_mmol(8.2, id_="it-glu-mmol", key=key_a), 1),
        (key_b, ex.hba1c_percent(7.1, id_="it-a1c-pct", key=key_b), 1),
        (
            key_b,
            ex.bundle(
                ex.uacr_mg_mmol(3.4, id_="it-uacr", key=key_b),
                ex.blood_pressure(134, 82, id_="it-bp", key=key_b),
                ex.phq9(11, id_="it-phq9", key=key_b),
                ex.appointment_resource("noshow", id_="it-appt", key=key_b),
            ),
            4,
        ),
    ]


async def test_corpus_and_valid_events_through_the_kafka_path(
    intake_kafka: KafkaSettings,
) -> None:
    # A threshold of 100 % never trips: this test is about routing, the breaker has its own.
    settings = ex.settings(group_id="it-intake-corpus", breaker_max_invalid_ratio=1.0)
    corpus = malformed_corpus()
    rng = random.Random(7)
    valid = [
        (participant, ex.valid_submission(seq, participant))
        for participant in PARTICIPANTS
        for seq in range(VALID_PER_PARTICIPANT)
    ]
    # Interleave: malformed records share keys (and so partitions) with valid participants,
    # while each participant's valid events keep their relative order.
    queue: list[tuple[str, Any]] = [("valid", v) for v in valid]
    for case in corpus:
        queue.insert(rng.randrange(len(queue) + 1), ("bad", case))
    fhir_valid = _valid_fhir()

    producer = create_producer(intake_kafka, client_suffix="it-feeder")
    await producer.start()
    sent_cases: dict[tuple[str, int, int], Malformed] = {}
    expected_order: dict[str, list[str]] = defaultdict(list)
    try:
        futures: list[tuple[tuple[str, Malformed] | None, Any]] = []
        for kind, item in queue:
            if kind == "valid":
                participant, submission = item
                expected_order[participant].append(submission["id"])
                futures.append(
                    (
                        None,
                        await producer.send(
                            intake_kafka.topic_name(RAW_TOPIC),
                            key=participant.encode(),
                            value=json.dumps(submission).encode(),
                            headers=[("traceparent", b"00-it")],
                        ),
                    )
                )
            else:
                bad: Malformed = item
                logical = RAW_TOPIC if bad.input == RAW else FHIR_TOPIC
                futures.append(
                    (
                        (logical, bad),
                        await producer.send(
                            intake_kafka.topic_name(logical),
                            key=rng.choice(PARTICIPANTS).encode(),
                            value=bad.value,
                            headers=list(bad.headers) or [("x-sender", b"corpus")],
                        ),
                    )
                )
        for _participant, resource, _ in fhir_valid:
            futures.append(
                (
                    None,
                    await producer.send(
                        intake_kafka.topic_name(FHIR_TOPIC),
                        key=b"clinic-north-feed",
                        value=json.dumps(resource).encode(),
                        headers=[(CLINIC_ID_HEADER, b"clinic-north")],
                    ),
                )
            )
        for tag, future in futures:
            metadata = await future
            if tag is not None:
                sent_cases[(tag[0], metadata.partition, metadata.offset)] = tag[1]
    finally:
        await producer.stop()

    expected_events = len(valid) + sum(n for _, _, n in fhir_valid)
    async with running_intake(intake_kafka, settings) as intake:
        dlq = await read_topic(intake_kafka, DLQ_TOPIC, count=len(corpus), timeout_s=90)
        events = await read_topic(intake_kafka, EVENTS_TOPIC, count=expected_events, timeout_s=60)
        await asyncio.sleep(0.5)  # the last commit follows the last ack
        assert intake.health.report().live
    assert await committed_everything(intake_kafka, settings.group_id, RAW_TOPIC)
    assert await committed_everything(intake_kafka, settings.group_id, FHIR_TOPIC)

    # ---- every malformed record is dead-lettered once, with its reason and its original
    assert len(dlq) == len(corpus)
    seen = set()
    for record in dlq:
        headers: dict[str, bytes] = dict(record.headers)
        origin = (
            headers["x-dlq-original-topic"].decode(),
            int(headers["x-dlq-original-partition"]),
            int(headers["x-dlq-original-offset"]),
        )
        case = sent_cases[origin]
        seen.add(case.name)
        reason = headers["x-dlq-reason"].decode()
        assert reason.startswith(f"{case.code}: "), (case.name, reason)
        assert case.fragment in reason, (case.name, reason)
        for secret in case.secrets:
            assert secret not in reason, (case.name, reason)
        assert record.value == case.value
        assert record.key in {p.encode() for p in PARTICIPANTS}
        assert headers.get("x-sender") == b"corpus" or case.headers
        assert headers["x-dlq-service"] == b"intake"
        assert headers["x-dlq-attempts"] == b"1"
    assert seen == {c.name for c in corpus}

    # ---- every valid event arrives exactly once, keyed by participant, in order
    assert len(events) == expected_events
    ids = [parse_event(r.value).id for r in events]
    assert len(ids) == len(set(ids)), "an event was published twice"
    order: dict[str, list[str]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    clinic_events: list[Any] = []
    for record in events:
        event: Any = parse_event(record.value)
        assert record.key == event.subject.encode()
        # CloudEvents' Kafka binding, structured mode: a CloudEvents reader takes the value as
        # the whole event, in the JSON format, and needs no ce_* header.
        assert list(record.headers) == [
            ("content-type", b"application/cloudevents+json; charset=UTF-8")
        ]
        assert json.loads(record.value)["specversion"] == "1.0"
        partitions[event.subject].add(record.partition)
        if event.source.startswith("peerlink://clinic"):
            clinic_events.append(event)
        else:
            order[event.subject].append(event.id)
    assert order == expected_order
    assert all(len(p) == 1 for p in partitions.values())  # one participant, one partition
    kinds = sorted(
        e.data.measurement.kind if hasattr(e.data, "measurement") else e.type for e in clinic_events
    )
    assert kinds == [
        "blood_pressure",
        "glucose",
        "hba1c",
        "hba1c",
        "peerlink.appointment.recorded",
        "phq9",
        "uacr",
    ]
    assert all(e.data.clinic_id == "clinic-north" for e in clinic_events)
    ifcc = next(e for e in clinic_events if getattr(e.data, "result_id", None) == "obs-it-a1c-ifcc")
    assert (ifcc.data.measurement.value, ifcc.data.measurement.unit) == (7.82, "%")

    # ---- metrics tell the same story
    metrics = intake.intake_metrics
    rejected = sum(
        s.value for m in metrics.rejected.collect() for s in m.samples if s.name.endswith("_total")
    )
    assert rejected == len(corpus)
    accepted = sum(
        s.value for m in metrics.accepted.collect() for s in m.samples if s.name.endswith("_total")
    )
    assert accepted == expected_events


async def test_a_flood_of_invalid_input_trips_the_breaker(intake_kafka: KafkaSettings) -> None:
    settings = ex.settings(
        group_id="it-intake-breaker",
        breaker_window=20,
        breaker_min_samples=10,
        breaker_max_invalid_ratio=0.5,
        breaker_pause_s=2.0,
    )
    producer = create_producer(intake_kafka, client_suffix="it-flood")
    await producer.start()
    try:
        for i in range(30):
            await producer.send(
                intake_kafka.topic_name(RAW_TOPIC), key=b"p-000001", value=b"{broken deploy %d" % i
            )
        await producer.flush()
    finally:
        await producer.stop()

    async with running_intake(intake_kafka, settings) as intake:
        await wait_until(
            lambda: any(r.startswith("breaker:") for r in intake.health.report().reasons),
            timeout_s=30,
        )
        report = intake.health.report()
        assert not report.ready
        assert report.live
        # Nothing was dead-lettered while the breaker was open.
        assert await read_topic(intake_kafka, DLQ_TOPIC, count=0, timeout_s=0, settle_s=0.5) == []
        # After the pause the tripping batch goes through (half-open), so the flood is
        # throttled into the DLQ rather than stopping the service for ever.
        dlq = await read_topic(intake_kafka, DLQ_TOPIC, count=30, timeout_s=30)
        assert len(dlq) == 30
        assert intake.intake_metrics.breaker_trips._value.get() >= 1
        assert all(dict(r.headers)["x-dlq-reason"].startswith(b"invalid_json") for r in dlq)
