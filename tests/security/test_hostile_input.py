"""Over 10 000 seeded hostile inputs through Kafka and HTTP into a real intake process.

Random bytes, deeply nested JSON, huge strings, numbers out of range, unicode edge cases,
schema-valid but clinically absurd values, replayed and conflicting event ids, plus the
malformed corpus of the unit tests. Afterwards: the process is alive and healthy, every Kafka
input ended on ``peer.events.v1`` or on the DLQ with its original bytes and a reason (a replay
or a conflicting reuse of an id ends as a duplicate of the published event), no HTTP answer
was a 5xx or took longer than the timeout, and the resident memory stayed bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from services.demo.processes import ServiceProcess
from services.demo.watch import PipelineWatch
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from tests.integration.caregaps.harness import delete_prefixed_topics, fresh_settings
from tests.security.hostile import Hostile, hostile_inputs, intake_process, proc_rss_kb
from tests.unit.intake import examples as ex

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

SEED = 1_337
KAFKA_INPUTS = 8_000
HTTP_INPUTS = 2_500
#: Growth of the resident set allowed between warm-up and the end.
RSS_GROWTH_KB = 120 * 1024
AUTH = {"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}


@pytest.fixture
async def intake(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[tuple[KafkaSettings, ServiceProcess, str]]:
    settings = await fresh_settings(kafka_settings, "hostile")
    process, port = intake_process(
        settings,
        group=f"{settings.topic_prefix}intake",
        log_dir=tmp_path,
        extra_env={
            "PEERLINK_INTAKE_BREAKER_PAUSE_S": "1",
            "PEERLINK_INTAKE_HTTP_RATE_PER_S": "100000",
            "PEERLINK_INTAKE_HTTP_RATE_BURST": "100000",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.exit_code() is None, process.describe_exit()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "intake never became ready"
                await asyncio.sleep(0.2)
        yield settings, process, url
    finally:
        process.stop()
        await delete_prefixed_topics(settings)


async def post_all(url: str, inputs: list[Hostile]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue = list(enumerate(inputs))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            n, item = queue.pop()
            path = "/v1/events:batch" if n % 7 == 0 else "/v1/events"
            body = item.value
            if path.endswith("batch"):
                body = b'{"events": [' + item.value + b"]}"
            response = await client.post(
                path, content=body, headers={**AUTH, "Content-Type": "application/json"}
            )
            statuses[response.status_code] += 1

    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))
    return statuses


async def test_hostile_inputs_end_valid_or_dead_lettered(
    intake: tuple[KafkaSettings, ServiceProcess, str],
) -> None:
    settings, process, url = intake
    http_inputs = list(hostile_inputs(SEED + 1, HTTP_INPUTS))
    kafka_inputs = list(hostile_inputs(SEED, KAFKA_INPUTS))

    # warm-up, then the resident set the rest must stay close to
    await post_all(url, http_inputs[:300])
    rss_before = proc_rss_kb(process.pid)

    producer = create_producer(settings, client_suffix="hostile", max_request_size=2**21)
    await producer.start()
    placed: dict[tuple[int, int], Hostile] = {}
    try:
        topic = settings.topic_name("peer.intake.raw")
        futures = [
            (item, await producer.send(topic, value=item.value, key=item.key))
            for item in kafka_inputs
        ]
        statuses = await post_all(url, http_inputs[300:])
        for item, future in futures:
            meta = await future
            placed[(meta.partition, meta.offset)] = item
    finally:
        await producer.stop()

    assert not [s for s in statuses if s >= 500], statuses
    # 409: a conflicting re-use of an event id (the generator replays ids with new content).
    assert set(statuses) <= {202, 400, 403, 409, 413, 422}, statuses

    group = f"{settings.topic_prefix}intake"
    watch = PipelineWatch(settings)
    await watch.start()
    try:
        await watch.wait_caught_up(
            {group: ("peer.intake.raw", "clinic.fhir.inbound")},
            timeout_s=180,
            alive=lambda: process.describe_exit() if process.exit_code() is not None else None,
        )
        records = await watch.read_all(["peer.events.v1", "peer.intake.dlq"])
    finally:
        await watch.close()
    rss_after = proc_rss_kb(process.pid)
    assert process.exit_code() is None, process.describe_exit()

    published = {
        orjson.loads(r.value or b"{}")["id"] for r in records if r.topic == "peer.events.v1"
    }
    dead: dict[tuple[int, int], tuple[str, bytes | None]] = {}
    for r in records:
        if r.topic != "peer.intake.dlq":
            continue
        headers = dict(r.headers)
        if headers.get("x-dlq-original-topic", b"").decode().endswith("peer.intake.raw"):
            position = (
                int(headers["x-dlq-original-partition"]),
                int(headers["x-dlq-original-offset"]),
            )
            dead[position] = (headers.get("x-dlq-reason", b"").decode(), r.value)

    outcomes: Counter[str] = Counter()
    unaccounted = []
    for position, item in placed.items():
        if position in dead:
            reason, original = dead[position]
            assert reason, f"dead-lettered without a reason: {item.kind}"
            assert original == item.value, f"DLQ lost the original bytes of a {item.kind}"
            outcomes[f"{item.kind}: dead-lettered"] += 1
        elif item.event_id in published:
            # a replay, or another content under a published id, ends as that id's duplicate
            ending = (
                "duplicate of a published id"
                if item.kind in ("replayed", "conflicting")
                else "published"
            )
            outcomes[f"{item.kind}: {ending}"] += 1
        else:
            unaccounted.append(item.kind)
    print("\nKafka outcomes:", dict(sorted(outcomes.items())))
    print("HTTP statuses:", dict(sorted(statuses.items())))
    print(f"intake VmRSS {rss_before} kB after warm-up, {rss_after} kB at the end")
    assert not unaccounted, Counter(unaccounted)
    assert len(placed) + len(http_inputs) >= 10_000
    assert rss_after - rss_before < RSS_GROWTH_KB
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200
