"""Intake throughput on the Kafka path versus a raw aiokafka pass-through of the same bytes.

    .venv/bin/python bench/bench_intake.py [--events 40000] [--participants 400] [--rounds 2]
    .venv/bin/python bench/bench_intake.py --in-process   # handler CPU per event, no Kafka

Uses ``$PEERLINK_KAFKA_BOOTSTRAP_SERVERS`` when it answers, otherwise starts a local broker
(``services.devkafka``) for the run. The input (valid peer submissions of every type, a third
without an id so intake derives one) is written to ``peer.intake.raw`` before the clock
starts. Then, alternating, in one process and one run:

* **pass-through**: an aiokafka consume -> produce -> commit loop that forwards each record's
  bytes, key and headers unchanged, with the same consumer policy (poll size, timeouts) and
  the same producer (acks=all, idempotent, snappy) and send path (``send_all``: one record
  batch per partition, closed, so it is sent without waiting out the linger) as the intake
  processor;
* **intake**: the intake service's processor (validation, programme checks, normalisation,
  derived ids, duplicate window, breaker, metrics).

Each run uses a fresh consumer group on the same input and is timed from its first batch to
the moment its last offsets are committed (every output acknowledged first). Events per CPU
second of this process is reported too: it is less sensitive to other load on a shared host.

It also reports the intake handler's CPU microseconds per event in-process (the same workload
in polls, without Kafka), the figure to watch when changing intake itself.

Writes ``bench/results/intake.json`` and ``bench/results/intake.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import broker, machine, write_results
from schemas.topics import topic as registry_topic
from schemas.vocabulary import SupportModel
from services.intake.breaker import InvalidShareBreaker
from services.intake.metrics import IntakeMetrics
from services.intake.service import (
    EVENTS_TOPIC,
    RAW_TOPIC,
    IntakeDomain,
    IntakeHandler,
    build_processor,
)
from services.intake.settings import IntakeSettings
from services.runtime import (
    ConsumerPolicy,
    Health,
    KafkaSettings,
    OutRecord,
    PartitionBatch,
    ServiceMetrics,
    create_consumer,
    create_producer,
    send_all,
    tune_gc,
)
from services.runtime.topics_admin import admin_client, ensure_topics

TARGET_RATIO = 0.5
PROGRAMME = "prog-bench"
_T = "2026-03-02T09:30:00+00:00"


def _submission(index: int, participant: str, rng: random.Random) -> dict[str, Any]:
    source = f"peerlink://programme/{PROGRAMME}"
    kind = index % 6
    data: dict[str, Any]
    if kind == 0:
        event_type = "peerlink.participant.enrolled"
        data = {
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "clinic_id": "clinic-north",
            "diabetes_type": "type_2",
            "consent_share_with_clinic": True,
        }
    elif kind in (1, 2):
        event_type = "peerlink.contact.logged"
        data = {
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "supporter_id": f"sup-{rng.randrange(40)}",
            "channel": rng.choice(["home_visit", "phone_live", "sms"]),
            "direction": "proactive_by_supporter",
            "outcome": "completed",
            "duration_min": rng.randrange(5, 90),
            "key_functions": ["daily_management", "linkage_clinical_care"],
            "topics": ["medication_taking", "blood_pressure"],
            "detail": {"kind": "one_to_one", "action_plan_set": True},
            "observations": [
                {
                    "kind": "blood_pressure",
                    "systolic": rng.randrange(110, 170),
                    "diastolic": rng.randrange(65, 100),
                    "unit": "mmHg",
                    "device": "automated",
                    "effective_at": "2026-03-02T10:30:00+01:00",
                    "source": "peer_measured",
                },
                {
                    "kind": "glucose",
                    "value": round(rng.uniform(4, 14), 1),
                    "unit": "mmol/L",
                    "context": "fasting",
                    "effective_at": _T,
                    "source": "meter_reviewed",
                },
            ],
        }
    elif kind == 3:
        event_type = "peerlink.clinical.result_reported"
        data = {
            "result_id": f"lab-{index}",
            "programme_id": PROGRAMME,
            "support_model": "community_health_worker",
            "measurement": {
                "kind": "hba1c",
                "value": rng.randrange(40, 90),
                "unit": "mmol/mol",
                "effective_at": _T,
                "source": "peer_measured",
            },
        }
    elif kind == 4:
        event_type = "peerlink.participant.consent_changed"
        data = {"clinic_id": "clinic-north", "share_with_clinic": rng.random() < 0.9}
    else:
        event_type = "peerlink.appointment.recorded"
        data = {
            "appointment_id": f"appt-{index}",
            "clinic_id": "clinic-north",
            "status": rng.choice(["kept", "missed"]),
            "scheduled_for": "2026-03-10T14:00:00-05:00",
        }
    submission: dict[str, Any] = {
        "type": event_type,
        "source": source,
        # A different second per event: content (and so derived ids) never repeats.
        "time": f"2026-03-02T{9 + index // 3600 % 12:02d}:{index // 60 % 60:02d}:"
        f"{index % 60:02d}+01:00",
        "subject": participant,
        "data": data,
    }
    if index % 3:  # a third without an id: intake derives it from the content
        submission["id"] = f"evt-{index:08d}"
    return submission


def workload(events: int, participants: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    keys = [f"p-{i:06d}" for i in range(participants)]
    records = []
    for index in range(events):
        participant = keys[index % participants]
        value = json.dumps(_submission(index, participant, rng)).encode()
        records.append((participant.encode(), value))
    return records


async def _produce(kafka: KafkaSettings, records: Sequence[tuple[bytes, bytes]]) -> None:
    producer = create_producer(kafka, client_suffix="bench-feed")
    await producer.start()
    try:
        name = kafka.topic_name(RAW_TOPIC)
        futures = [await producer.send(name, key=k, value=v) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _policy(group: str, max_records: int) -> ConsumerPolicy:
    return ConsumerPolicy(group_id=group, topics=(RAW_TOPIC,), max_records=max_records)


async def pass_through(
    kafka_in: KafkaSettings, kafka_out: KafkaSettings, total: int, max_records: int
) -> dict[str, float]:
    """The baseline: same consumer policy, producer and send path, bytes forwarded unchanged."""
    policy = _policy(f"bench-pass-{uuid.uuid4().hex[:8]}", max_records)
    consumer = create_consumer(kafka_in, policy)
    producer = create_producer(kafka_out, client_suffix=policy.group_id)
    await producer.start()
    await consumer.start()
    consumer.subscribe([kafka_in.topic_name(RAW_TOPIC)])
    done = 0
    first = cpu_first = 0.0
    try:
        while done < total:
            polled = await consumer.getmany(
                timeout_ms=policy.poll_timeout_ms, max_records=policy.max_records
            )
            if not polled:
                continue
            if not first:
                first, cpu_first = time.perf_counter(), time.process_time()
            await send_all(
                producer,
                kafka_out,
                [
                    OutRecord(
                        topic=EVENTS_TOPIC,
                        value=record.value,
                        key=record.key,
                        headers=tuple(record.headers),
                    )
                    for records in polled.values()
                    for record in records
                ],
            )
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in polled.items()})
            done += sum(len(rs) for rs in polled.values())
        elapsed, cpu = time.perf_counter() - first, time.process_time() - cpu_first
    finally:
        await consumer.stop()
        await producer.stop()
    return {"records": done, "elapsed_s": elapsed, "cpu_s": cpu}


def _sum(counter: Any) -> float:
    return float(
        sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))
    )


async def intake(kafka: KafkaSettings, settings: IntakeSettings, total: int) -> dict[str, float]:
    """The intake processor, timed from its first batch to its last commit."""
    settings = settings.model_copy(update={"group_id": f"bench-intake-{uuid.uuid4().hex[:8]}"})
    metrics = ServiceMetrics(service="intake-bench")
    intake_metrics = IntakeMetrics(base=metrics)
    processor, handler = build_processor(
        settings=settings,
        kafka=kafka,
        health=Health(),
        metrics=metrics,
        domain=IntakeDomain.from_settings(settings),
        intake_metrics=intake_metrics,
    )
    timing: dict[str, float] = {"handled": 0.0}
    inner = processor.handler
    finished = asyncio.Event()
    commits = metrics.commits

    class _EndOnCommit:
        """The commit counter, also noting the commit that ends the run: waiting on an
        event keeps the measuring out of the measured loop (no polling wake-ups)."""

        def inc(self, amount: float = 1) -> None:
            commits.inc(amount)
            if (
                "commits_before_last" in timing
                and commits._value.get() > timing["commits_before_last"]
            ):
                timing["end"], timing["cpu_end"] = time.perf_counter(), time.process_time()
                finished.set()

    async def timed(batch: Any) -> Any:
        if "first" not in timing:
            timing["first"], timing["cpu_first"] = time.perf_counter(), time.process_time()
        cpu = time.process_time()
        outputs = await inner(batch)
        timing["handler_cpu_s"] = timing.get("handler_cpu_s", 0.0) + time.process_time() - cpu
        timing["handled"] += len(batch.records)
        if timing["handled"] >= total and "commits_before_last" not in timing:
            # The poll holding the last record commits after this: one more commit is the end.
            timing["commits_before_last"] = commits._value.get()
        return outputs

    processor.handler = timed
    metrics.commits = _EndOnCommit()  # type: ignore[assignment]
    task = asyncio.create_task(processor.run())
    ended = asyncio.create_task(finished.wait())
    try:
        await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        if not finished.is_set():
            task.result()  # the processor failed: raise its error
            raise RuntimeError("the intake processor stopped before the last commit")
        end, cpu_end = timing["end"], timing["cpu_end"]
    finally:
        ended.cancel()
        processor.stop()
        await task
    accepted = _sum(intake_metrics.accepted)
    rejected = _sum(intake_metrics.rejected)
    assert rejected == 0, "the benchmark input must be valid"
    return {
        "records": _sum(metrics.consumed),
        "accepted": accepted,
        "duplicates": _sum(intake_metrics.duplicate),
        "elapsed_s": end - timing["first"],
        "cpu_s": cpu_end - timing["cpu_first"],
        "handler_cpu_s": timing.get("handler_cpu_s", 0.0),
        "breaker_trips": float(handler.breaker.trips),
    }


@dataclass(frozen=True, slots=True)
class _Record:
    """The attributes of an aiokafka ConsumerRecord that the intake handler reads."""

    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 1_772_443_800_000


def handler_cpu_us(
    settings: IntakeSettings, records: Sequence[tuple[bytes, bytes]], rounds: int = 5
) -> float:
    """The intake handler's CPU microseconds per record, in-process (no Kafka): the best round.

    Each round is a fresh handler (empty duplicate window) fed the records in polls of
    ``max_poll_records`` on one partition, as the processor would hand them over.
    """
    size = settings.max_poll_records
    batches = [
        PartitionBatch(
            topic=RAW_TOPIC,
            partition=0,
            records=[_Record(i + j, k, v) for j, (k, v) in enumerate(records[i : i + size])],
        )
        for i in range(0, len(records), size)
    ]
    best = float("inf")
    for _ in range(rounds):
        handler = IntakeHandler(
            domain=IntakeDomain.from_settings(settings),
            breaker=InvalidShareBreaker(settings.breaker_policy()),
            metrics=IntakeMetrics(base=ServiceMetrics(service="intake-bench")),
        )
        gc.collect()
        started = time.process_time()
        for batch in batches:
            _complete(handler(batch))
        best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


def _complete(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that never suspends (the intake handler), with or without a loop."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the handler suspended")


def pure_rate(settings: IntakeSettings, records: Sequence[tuple[bytes, bytes]]) -> float:
    """Validation + normalisation + serialisation alone, in-process (no Kafka)."""
    validator = IntakeDomain.from_settings(settings).validator
    sample = [v for _, v in records[:10_000]]
    started = time.perf_counter()
    for value in sample:
        validator.from_bytes(value)
    return len(sample) / (time.perf_counter() - started)


def _settings(args: argparse.Namespace) -> IntakeSettings:
    return IntakeSettings(
        programmes={PROGRAMME: tuple(SupportModel)},
        max_poll_records=args.max_records,
        service_version="bench",
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with broker() as started:
        return await _measure(args, started.settings, started.kafka_version)


async def _measure(
    args: argparse.Namespace, base: KafkaSettings, kafka_version: str
) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    kafka = base.model_copy(update={"topic_prefix": prefix})
    kafka_out = base.model_copy(update={"topic_prefix": prefix + "pass."})
    names = (RAW_TOPIC, EVENTS_TOPIC, "peer.intake.dlq", "clinic.fhir.inbound")
    try:
        await ensure_topics(kafka, [registry_topic(n) for n in names])
        await ensure_topics(kafka_out, [registry_topic(EVENTS_TOPIC)])
        records = workload(args.events, args.participants)
        await _produce(kafka, records)
        settings = _settings(args)
        runs: dict[str, list[dict[str, float]]] = {"pass_through": [], "intake": []}
        # Untimed: the broker's JIT warms up over the first runs (run_all.ceiling_and_intake).
        await pass_through(kafka, kafka_out, len(records), args.max_records)
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}: pass-through ...", flush=True)
            runs["pass_through"].append(
                await pass_through(kafka, kafka_out, len(records), args.max_records)
            )
            print(f"round {round_ + 1}: intake ...", flush=True)
            runs["intake"].append(await intake(kafka, settings, len(records)))
        in_process = pure_rate(settings, records)
        handler_us = handler_cpu_us(settings, records)
    finally:
        admin = admin_client(base)
        await admin.start()
        try:
            await admin.delete_topics(
                [kafka.topic_name(n) for n in names] + [kafka_out.topic_name(EVENTS_TOPIC)]
            )
        except Exception as exc:
            print(f"topic clean-up failed: {type(exc).__name__}", file=sys.stderr)
        finally:
            await admin.close()

    def best(kind: str, key: str) -> float:
        return max(r["records"] / r[key] for r in runs[kind])

    def paired(key: str) -> list[float]:
        """Per round: intake rate / pass-through rate (alternating runs share the load)."""
        return [
            round((i["records"] / i[key]) / (p["records"] / p[key]), 3)
            for p, i in zip(runs["pass_through"], runs["intake"], strict=True)
        ]

    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": machine(kafka_version),
        "workload": {
            "events": len(records),
            "participants": args.participants,
            "partitions": registry_topic(RAW_TOPIC).partitions,
            "max_poll_records": args.max_records,
            "mean_bytes": round(sum(len(v) for _, v in records) / len(records)),
            "derived_ids_share": round(
                sum(1 for i in range(len(records)) if i % 3 == 0) / len(records), 3
            ),
        },
        "runs": runs,
        "pass_through_events_per_s": round(best("pass_through", "elapsed_s")),
        "intake_events_per_s": round(best("intake", "elapsed_s")),
        "pass_through_events_per_cpu_s": round(best("pass_through", "cpu_s")),
        "intake_events_per_cpu_s": round(best("intake", "cpu_s")),
        "intake_in_process_events_per_s": round(in_process),
        "intake_handler_cpu_us_per_event": round(handler_us, 1),
        "target_ratio": TARGET_RATIO,
    }
    result["ratio_of_best"] = round(
        result["intake_events_per_s"] / result["pass_through_events_per_s"], 3
    )
    result["paired_ratios"] = paired("elapsed_s")
    result["ratio"] = statistics.median(result["paired_ratios"])
    result["ratio_cpu"] = statistics.median(paired("cpu_s"))
    result["target_met"] = result["ratio"] >= TARGET_RATIO
    return result


def _markdown(result: dict[str, Any]) -> str:
    w = result["workload"]
    lines = [
        "# Intake throughput",
        "",
        f"{result['when']} · {result['host']['cpus']} CPUs · Python {result['host']['python']} · "
        f"real local Kafka broker on the same host · {w['events']} valid submissions of "
        f"{w['participants']} participants on {w['partitions']} partitions (mean "
        f"{w['mean_bytes']} bytes, {w['derived_ids_share']:.0%} without an id), polls of up to "
        f"{w['max_poll_records']} records.",
        "",
        "Each run: a fresh consumer group on the same input, timed from its first batch to its "
        "last commit (every output acknowledged with acks=all before the offsets were "
        "committed). Rates are the best of the alternating rounds; the ratio is the median of "
        "each round's pair, which cancels load that drifts between rounds.",
        "",
        "| path | events/s | events per CPU-second |",
        "|---|---:|---:|",
        f"| raw aiokafka pass-through (same bytes, same policy) | "
        f"{result['pass_through_events_per_s']} | {result['pass_through_events_per_cpu_s']} |",
        f"| intake Kafka path | {result['intake_events_per_s']} | "
        f"{result['intake_events_per_cpu_s']} |",
        f"| **intake / pass-through** (median of the paired rounds) | **{result['ratio']:.0%}** "
        f"| {result['ratio_cpu']:.0%} |",
        "",
        f"Per round (intake / pass-through, events/s): "
        f"{', '.join(f'{r:.0%}' for r in result['paired_ratios'])}; best intake over best "
        f"pass-through: {result['ratio_of_best']:.0%}.",
        "",
        f"Target: intake at least {result['target_ratio']:.0%} of the pass-through rate: "
        f"**{'met' if result['target_met'] else 'missed'}**.",
        "",
        f"In-process validation + normalisation + serialisation alone (no Kafka): "
        f"{result['intake_in_process_events_per_s']} events/s. The whole intake handler "
        f"(also duplicate window, breaker, output records), in-process: "
        f"{result['intake_handler_cpu_us_per_event']} CPU µs per event.",
        "",
        "| run | path | records | elapsed s | CPU s |",
        "|---|---|---:|---:|---:|",
    ]
    for kind in ("pass_through", "intake"):
        for i, run in enumerate(result["runs"][kind], 1):
            lines.append(
                f"| {i} | {kind.replace('_', '-')} | {int(run['records'])} | "
                f"{run['elapsed_s']:.2f} | {run['cpu_s']:.2f} |"
            )
    lines += [
        "",
        "Reproduce: `.venv/bin/python bench/bench_intake.py` (starts a broker unless "
        "`PEERLINK_KAFKA_BOOTSTRAP_SERVERS` answers). The host is shared by the broker and the "
        "client, so the CPU-second figures are the steadier comparison.",
        "",
    ]
    return "\n".join(lines)


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--participants", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-records", type=int, default=1_000)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="only the intake handler's CPU per event on the same workload, without Kafka",
    )
    args = parser.parse_args()
    tune_gc()  # as the intake service does at start; the pass-through runs with it too
    if args.in_process:
        records = workload(args.events, args.participants)
        micros = handler_cpu_us(_settings(args), records)
        print(f"intake handler, in-process: {micros:.1f} CPU µs per event ({len(records)} events)")
        return 0
    result = asyncio.run(main(args))
    write_results("intake", result, _markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
