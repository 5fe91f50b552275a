"""Benchmark of the care-gap engine: throughput with a real broker, state size, restore time.

    .venv/bin/python bench/bench_engine.py [--participants 2000] [--events 25]
                                           [--restore 100000] [--max-records 10000]

1. **Throughput.** A seeded synthetic log (``services.caregaps.synthetic``: enrolments,
   contacts with readings and red flags, clinic results with corrections, appointments,
   consent changes) is written to a fresh ``peer.events.v1`` with one clock tick per
   partition placed after it. One engine process (the service's processor and exactly-once
   runner, in this process) consumes it; the clock runs from its first batch to the moment
   every input offset is committed: every change record and changed state written in a
   committed transaction. For comparison: the rules alone (parse + ``step``) and the
   processor alone (rules, state encoding and output records, no Kafka) on the same log.
2. **State size.** Bytes of each participant's state after the run (the changelog value).
3. **Restore.** ``--restore`` participant states (the run's real states, re-keyed) are
   written to a fresh ``caregaps.state.changelog``, then read back the way an engine does on
   assignment (four partitions, read committed, to the end offset). Decoding every restored
   state is timed separately: the engine decodes lazily, on first use.

Uses ``$PEERLINK_KAFKA_BOOTSTRAP_SERVERS`` when a broker answers there, otherwise starts a
local broker for the run. Writes ``bench/results/engine.json`` and ``bench/results/engine.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import broker, machine, write_results
from schemas.events import EVENT_ADAPTER
from services.caregaps import ParticipantState, PolicySet
from services.caregaps.clock import ClockEmitter
from services.caregaps.engine import step
from services.caregaps.replay import replay
from services.caregaps.service import (
    CHANGELOG_TOPIC,
    EVENTS_TOPIC,
    CareGapsProcessor,
    CaregapsSettings,
    restore_changelog,
)
from services.caregaps.store import HEADER_NEXT_DUE, HEADER_POLICY, PartitionStore
from services.caregaps.synthetic import synthetic_log
from services.runtime.gc_tuning import tune_gc
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from services.runtime.transactional import TransactionalRunner

TICK_AT = datetime(2028, 1, 1, tzinfo=UTC)


async def _fresh(base: KafkaSettings, label: str) -> KafkaSettings:
    settings = base.model_copy(update={"topic_prefix": f"bench-{label}-{os.urandom(4).hex()}."})
    await ensure_topics(settings)
    return settings


async def _produce(
    settings: KafkaSettings,
    topic: str,
    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
) -> float:
    producer = create_producer(settings, client_suffix="bench")
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(settings.topic_name(topic), key=key, value=value, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


# ----------------------------------------------------------------------------- in-process


def _rules_only(payloads: list[bytes]) -> tuple[float, float, int]:
    """(events/s wall, events per CPU-second, changes) of parse + step, one state per key."""
    policy = PolicySet()
    states: dict[str, ParticipantState] = {}
    changes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for raw in payloads:
        event = EVENT_ADAPTER.validate_json(raw)
        key = event.subject
        assert key is not None
        state, change = step(states.get(key) or ParticipantState.new(key), event, policy)
        states[key] = state
        changes += change is not None
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(payloads) / wall, len(payloads) / cpu, changes


# ------------------------------------------------------------------------------- through Kafka


def _processor_only(payloads: list[bytes], batch: int) -> tuple[float, float, int]:
    """The processor without Kafka: merge, rules, state encoding, output records."""
    outputs = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for result in replay(payloads, batch=batch, tick_at=lambda _n: TICK_AT):
        outputs += len(result.outputs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(payloads) / wall, len(payloads) / cpu, outputs


async def _through_kafka(
    base: KafkaSettings, payloads: list[tuple[bytes, bytes]], max_records: int
) -> dict[str, Any]:
    settings = await _fresh(base, "engine")
    produce_s = await _produce(settings, EVENTS_TOPIC, [(k, v, []) for k, v in payloads])
    async with ClockEmitter(settings) as clock:
        ends = await clock.tick(TICK_AT)
    config = CaregapsSettings(
        group_id=f"{settings.topic_prefix}engine", ops_port=None, max_records=max_records
    )
    processor = CareGapsProcessor(kafka=settings, settings=config, policy=PolicySet())
    runner = TransactionalRunner(
        settings=settings, policy=config.consumer_policy(), processor=processor
    )
    first: list[float] = []
    original = processor.process

    def timed(task: int, records: Any, positions: Any) -> Any:
        if not first and records:
            first.append(time.perf_counter())
            first.append(time.process_time())
        return original(task, records, positions)

    processor.process = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    job = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(900):
            while True:
                await asyncio.sleep(0.02)
                if processor.committed_offsets() == {n: (end, 1) for n, end in ends.items()}:
                    break
                if job.done():
                    job.result()
        done_wall, done_cpu = time.perf_counter(), time.process_time()
        states = {}
        for n in runner.tasks:
            states.update(processor.store(n).snapshot())
    finally:
        runner.stop()
        await asyncio.wait_for(job, 60)
    elapsed = done_wall - first[0]
    return {
        "events": len(payloads),
        "produce_s": round(produce_s, 2),
        "startup_s": round(first[0] - started, 2),
        "elapsed_s": round(elapsed, 2),
        "cpu_s": round(done_cpu - first[1], 2),
        "events_per_s": round(len(payloads) / elapsed),
        "events_per_cpu_s": round(len(payloads) / (done_cpu - first[1])),
        "changes": processor.changes_emitted,
        "states": states,
    }


async def _restore(
    base: KafkaSettings, states: dict[str, bytes], participants: int
) -> dict[str, Any]:
    settings = await _fresh(base, "restore")
    fingerprint = PolicySet().fingerprint()
    samples = [ParticipantState.from_bytes(raw) for raw in states.values()]
    records = []
    for i in range(participants):
        state = samples[i % len(samples)].evolve(key=f"r-{i:07d}")
        headers = [
            (HEADER_NEXT_DUE, str(state.next_due).encode()),
            (HEADER_POLICY, fingerprint.encode()),
        ]
        records.append((state.key.encode(), state.to_bytes(), headers))
    total_bytes = sum(len(v) for _, v, _ in records)
    produce_s = await _produce(settings, CHANGELOG_TOPIC, records)
    stores = {n: PartitionStore(n, fingerprint) for n in range(4)}
    started = time.perf_counter()
    count = await restore_changelog(settings, stores)
    restore_s = time.perf_counter() - started
    assert count == participants
    assert sum(len(s) for s in stores.values()) == participants
    started = time.perf_counter()
    for store in stores.values():
        for key in store.participants():
            store.get(key)
    decode_s = time.perf_counter() - started
    return {
        "participants": participants,
        "megabytes": round(total_bytes / 1e6, 1),
        "produce_s": round(produce_s, 1),
        "restore_s": round(restore_s, 2),
        "records_per_s": round(participants / restore_s),
        "decode_all_s": round(decode_s, 2),
    }


def _sizes(states: dict[str, bytes]) -> dict[str, float]:
    sizes = sorted(len(v) for v in states.values())
    return {
        "participants": len(sizes),
        "mean": round(statistics.mean(sizes)),
        "p50": sizes[len(sizes) // 2],
        "p95": sizes[int(len(sizes) * 0.95)],
        "max": sizes[-1],
        "share_at_most_2048": round(sum(s <= 2048 for s in sizes) / len(sizes), 3),
    }


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    tune_gc()  # as the engine service does at start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--events", type=int, default=25, help="events per participant")
    parser.add_argument("--restore", type=int, default=100_000)
    parser.add_argument("--max-records", type=int, default=CaregapsSettings().max_records)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    log = list(synthetic_log(participants=args.participants, events_per_participant=args.events))
    payloads = [(e["subject"].encode(), orjson.dumps(e)) for e in log]
    raw = [v for _, v in payloads]
    rules_rate, rules_cpu_rate, rules_changes = _rules_only(raw)
    proc_rate, proc_cpu_rate, proc_outputs = _processor_only(raw, args.max_records)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        async with broker(Path(tmp)) as kafka_run:
            base, broker_note = kafka_run.settings, kafka_run.note
            host = machine(kafka_run.kafka_version)
            kafka = await _through_kafka(base, payloads, args.max_records)
            states = kafka.pop("states")
            restore = await _restore(base, states, args.restore)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            **host,
            "broker": broker_note,
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "workload": {
            "participants": args.participants,
            "events_per_participant": args.events,
            "events": len(log),
            "mean_event_bytes": round(statistics.mean(len(v) for v in raw)),
            "changes_per_event": round(rules_changes / len(log), 2),
            "max_records": args.max_records,
        },
        "results": {
            "rules_only": {"events_per_s": round(rules_rate),
                           "events_per_cpu_s": round(rules_cpu_rate)},
            "processor_only": {"events_per_s": round(proc_rate),
                               "events_per_cpu_s": round(proc_cpu_rate),
                               "outputs": proc_outputs},
            "through_kafka": kafka,
            "state_bytes": _sizes(states),
            "restore": restore,
        },
    }  # fmt: skip
    write_results("engine", result, _markdown(result))
    return result


def _markdown(result: dict[str, Any]) -> str:
    w, r, h = result["workload"], result["results"], result["host"]
    k, s, rs = r["through_kafka"], r["state_bytes"], r["restore"]
    load = h["load_average_1m"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    return f"""# Care-gap engine benchmark

{result["when"]} · {h["cpus"]} CPUs · Python {h["python"]} · aiokafka {h["aiokafka"]} · \
{h["broker"]} (same host as the engine) · \
1-minute load average {load[0]} before, {load[1]} after (the host is shared).

Workload: {w["events"]} events of {w["participants"]} synthetic participants \
({w["events_per_participant"]} each, mean {w["mean_event_bytes"]} bytes; enrolments, contacts \
with readings and red flags, clinic results with corrections, appointments, consent changes), \
{w["changes_per_event"]} change records per event, polls of up to {w["max_records"]} records, \
4 partitions, one engine process.

| measure | result | target |
|---|---:|---|
| events/s through the engine (Kafka in and out, exactly once) | {k["events_per_s"]} | \
>= 10 000: {verdict(k["events_per_s"] >= 10_000)} |
| events per CPU-second of the engine process | {k["events_per_cpu_s"]} | |
| state bytes per participant (mean / p95 / max) | {s["mean"]} / {s["p95"]} / {s["max"]} | \
<= 2048: mean {verdict(s["mean"] <= 2048)}, {s["share_at_most_2048"]:.0%} of participants |
| restore {rs["participants"]} participants ({rs["megabytes"]} MB) from the changelog | \
{rs["restore_s"]} s | < 10 s: {verdict(rs["restore_s"] < 10)} |
| decode every restored state (done lazily in the engine) | {rs["decode_all_s"]} s | |

Through Kafka: {k["events"]} events in {k["elapsed_s"]} s from the first batch to the last \
committed transaction ({k["cpu_s"]} CPU-s, {k["changes"]} change records plus the changed \
states; group join and restore before the first batch took {k["startup_s"]} s).

Without Kafka, same log: the rules alone (parse + `step`) \
{r["rules_only"]["events_per_s"]} events/s ({r["rules_only"]["events_per_cpu_s"]} per \
CPU-s); the processor (merge, rules, state encoding, output records) \
{r["processor_only"]["events_per_s"]} events/s ({r["processor_only"]["events_per_cpu_s"]} per \
CPU-s).

Restore: {rs["records_per_s"]} records/s, read committed to the end offset of each of the 4 \
changelog partitions; the states are the run's real states re-keyed.

Reproduce: `.venv/bin/python bench/bench_engine.py` (starts a broker unless \
`PEERLINK_KAFKA_BOOTSTRAP_SERVERS` answers). The broker shares the host's CPUs with the engine.
"""


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())["results"], indent=2))
