"""Every service as a real process on a real broker, under crashes, rebalances, a broker
restart and a failing downstream topic; the invariants of ``pipeline.py`` afterwards.

The CI subset (default run) injects one kill per service, one rebalance round, one broker
restart and one unavailable output topic; the ``slow`` versions run the long stream with at
least five kills per service. Each scenario is seeded; the table is printed at the end of
the module (``pytest -s`` shows it) and written to ``$PEERLINK_FAULT_TABLE`` when set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from schemas.topics import TOPICS
from services.devkafka import LocalKafka, LocalKafkaConfig
from services.devkafka.ports import free_port_pair
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import admin_client, ensure_topics
from services.simulator import SimulationConfig
from tests.reliability.pipeline import FaultRun, Row, format_table, ops_url

pytestmark = [pytest.mark.kafka]

SEED = 8_2026
CI_SIM = SimulationConfig(participants=50, months=2, seed=SEED, invalid_share=0.02)
#: About 23 000 input records, over 20 000 valid events on ``peer.events.v1``.
FULL_SIM = SimulationConfig(participants=700, months=12, seed=SEED, invalid_share=0.02)
SERVICES = ("intake", "caregaps", "fhir-publisher", "evaluation")

ROWS: list[Row] = []


@pytest.fixture(scope="module", autouse=True)
def _print_table() -> Iterator[None]:
    yield
    if ROWS:
        table = format_table(ROWS)
        print("\n" + table)
        target = os.environ.get("PEERLINK_FAULT_TABLE")
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(table + "\n")


@contextlib.asynccontextmanager
async def fault_run(
    settings: KafkaSettings, label: str, sim: SimulationConfig, work: Path, seed: int = SEED
) -> AsyncIterator[FaultRun]:
    run = FaultRun(settings, label=label, sim=sim, work_dir=work, seed=seed)
    try:
        await run.setup()
        yield run
    finally:
        await run.teardown()


async def finish(run: FaultRun) -> Row:
    await run.drain()
    row = await run.check()
    ROWS.append(row)
    print(format_table([row]))
    return row


def assert_invariants(row: Row) -> None:
    assert row.lost == 0, row
    assert row.duplicated == 0, row
    assert row.reordered == 0, row
    assert row.state_equal, "final engine state differs from the fault-free run"
    assert row.fhir_equal, row.problems
    assert not row.problems, row.problems


# --------------------------------------------------------------------------- crash


async def kill_and_restart(run: FaultRun, name: str) -> None:
    spec = run.specs[name]
    victim = run.rng.choice(run.instances(name))
    before = await run.progress(spec.group_id)
    run.kill(victim)
    run.start(spec)
    await run.time_to_progress(spec.group_id, before, time.monotonic(), timeout_s=120)


async def crash_injector(run: FaultRun, rounds: int, gap_s: tuple[float, float]) -> None:
    recoveries = []
    for _ in range(rounds):
        for name in SERVICES:
            await asyncio.sleep(run.rng.uniform(*gap_s))
            recoveries.append(asyncio.create_task(kill_and_restart(run, name)))
            await asyncio.sleep(0)
    await asyncio.gather(*recoveries)


async def crash_scenario(
    kafka_settings: KafkaSettings, work: Path, sim: SimulationConfig, rounds: int, label: str
) -> Row:
    async with fault_run(kafka_settings, label, sim, work) as run:
        (records,) = run.records_in_segments(1)
        feeding = asyncio.create_task(run.feed(records))
        # spread over the stream: the full stream takes minutes to feed
        await crash_injector(run, rounds, (0.5, 2.0) if rounds == 1 else (3.0, 9.0))
        await feeding
        row = await finish(run)
    assert row.faults >= rounds * len(SERVICES)
    return row


@pytest.mark.timeout(240)
async def test_crash_each_service_once(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    assert_invariants(await crash_scenario(kafka_settings, tmp_path, CI_SIM, 1, "crash (CI)"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_crash_five_kills_per_service(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    row = await crash_scenario(kafka_settings, tmp_path, FULL_SIM, 5, "crash (full)")
    assert row.events >= 20_000
    assert_invariants(row)


# --------------------------------------------------------------------------- rebalance


async def rebalance_scenario(
    kafka_settings: KafkaSettings, work: Path, sim: SimulationConfig, label: str
) -> Row:
    async with fault_run(kafka_settings, label, sim, work) as run:
        segments = run.records_in_segments(4)
        await run.feed(segments[0])
        firsts = {name: run.instances(name)[0] for name in SERVICES}
        seconds = {name: run.second_instance(name) for name in SERVICES}
        run.row.faults += len(SERVICES)  # each join is a rebalance
        await run.feed(segments[1])
        for name in SERVICES:  # the first stops cleanly: the second takes over
            run.stop(firsts[name])
            run.row.faults += 1
        await run.feed(segments[2])
        started = time.monotonic()
        befores = {name: await run.progress(run.specs[name].group_id) for name in SERVICES}
        for name in SERVICES:  # the second is killed, a third starts
            run.kill(seconds[name])
            run.second_instance(name)
            run.row.faults += 1  # the third joins
        feeding = asyncio.create_task(run.feed(segments[3]))
        await asyncio.gather(
            *(
                run.time_to_progress(
                    run.specs[n].group_id, befores[n], started, timeout_s=120, idle_ok=False
                )
                for n in SERVICES
            )
        )
        await feeding
        return await finish(run)


@pytest.mark.timeout(240)
async def test_rebalance_add_stop_kill_start(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    assert_invariants(await rebalance_scenario(kafka_settings, tmp_path, CI_SIM, "rebalance (CI)"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_rebalance_full(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    assert_invariants(
        await rebalance_scenario(kafka_settings, tmp_path, FULL_SIM, "rebalance (full)")
    )


# --------------------------------------------------------------------------- broker restart


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[LocalKafka]:
    """A broker of this test alone: it is stopped and started mid-stream."""
    kafka = LocalKafka(LocalKafkaConfig.from_env(port=free_port_pair(), state_dir=tmp_path / "k"))
    await kafka.up(topics=TOPICS)
    try:
        yield kafka
    finally:
        await asyncio.to_thread(kafka.down)


async def broker_restart_scenario(
    kafka: LocalKafka, work: Path, sim: SimulationConfig, restarts: int, down_s: float, label: str
) -> Row:
    async with fault_run(kafka.settings(), label, sim, work) as run:
        segments = run.records_in_segments(restarts + 1)
        await run.feed(segments[0])
        for segment in segments[1:]:
            befores = {n: await run.progress(run.specs[n].group_id) for n in SERVICES}
            await asyncio.to_thread(kafka.down, keep_data=True)
            run.row.faults += 1
            await asyncio.sleep(down_s)
            await kafka.up(topics=None)
            started = time.monotonic()
            # recovered = each group commits new work again (the next segment flows meanwhile)
            feeding = asyncio.create_task(run.feed(segment))
            await asyncio.gather(
                *(
                    run.time_to_progress(
                        run.specs[n].group_id, befores[n], started, 180, idle_ok=False
                    )
                    for n in SERVICES
                )
            )
            await feeding
            assert run.problem() is None, run.problem()
        return await finish(run)


@pytest.mark.timeout(300)
async def test_broker_restart(own_broker: LocalKafka, tmp_path: Path) -> None:
    row = await broker_restart_scenario(own_broker, tmp_path, CI_SIM, 1, 6.0, "broker restart (CI)")
    assert_invariants(row)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_broker_restarts_full(own_broker: LocalKafka, tmp_path: Path) -> None:
    row = await broker_restart_scenario(
        own_broker, tmp_path, FULL_SIM, 3, 10.0, "broker restart (full)"
    )
    assert_invariants(row)


# --------------------------------------------------------------------------- downstream


async def ready_status(url: str) -> int:
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            return (await client.get(f"{url}/readyz")).status_code
        except httpx.HTTPError:
            return 0


async def until_status(url: str, wanted: int, timeout_s: float) -> float:
    started = time.monotonic()
    while await ready_status(url) != wanted:
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{url}/readyz never answered {wanted} within {timeout_s:g} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def downstream_scenario(
    kafka_settings: KafkaSettings, work: Path, sim: SimulationConfig, label: str
) -> Row:
    async with fault_run(kafka_settings, label, sim, work) as run:
        publisher = run.specs["fhir-publisher"]
        url = ops_url(publisher)
        assert url is not None
        segments = run.records_in_segments(2)
        await until_status(url, 200, 30)
        # The CarePlan topic disappears before the publisher has written to it (deleting it
        # later would delete published resources too, which no service can bring back).
        admin = admin_client(run.settings)
        await admin.start()
        try:
            await admin.delete_topics([run.settings.topic_name("fhir.r4.careplan")])
        finally:
            await admin.close()
        run.row.faults += 1
        await run.feed(segments[0])
        await until_status(url, 503, 90)
        before = await run.progress(publisher.group_id)
        await asyncio.sleep(3.0)
        assert await run.progress(publisher.group_id) == before, "committed without output"
        assert run.problem() is None, run.problem()
        await ensure_topics(run.settings)
        started = time.monotonic()
        await until_status(url, 200, 120)
        await run.time_to_progress(publisher.group_id, before, started, 120)
        await run.feed(segments[1])
        return await finish(run)


@pytest.mark.timeout(240)
async def test_publisher_output_topic_unavailable(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    assert_invariants(
        await downstream_scenario(kafka_settings, tmp_path, CI_SIM, "downstream (CI)")
    )
