"""The cost of the send path: one ``send`` per record against ``send_all``, per codec.

    .venv/bin/python bench/bench_send.py [--records 40000] [--per-transaction 2000]

Change records as the engine writes them (JSON of ``caregaps.synthetic`` participants) go to
a 4-partition topic through a transactional producer (acks=all, idempotent, as every PeerLink
producer), ``--per-transaction`` records per transaction, each awaited. For each codec the
two send paths alternate twice; the figure is CPU microseconds of this process per record
(less sensitive to other load than records/s, which is reported too). This is what chose the
default ``PEERLINK_KAFKA_COMPRESSION`` (snappy) and the batched ``send_all``.

Writes ``bench/results/send.json`` and ``bench/results/send.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.common import (
    broker,
    create_topics,
    fresh_prefix,
    machine,
    topics_with_partitions,
    write_results,
)
from schemas.events import EVENT_ADAPTER
from services.caregaps import ParticipantState, PolicySet
from services.caregaps.engine import step
from services.caregaps.synthetic import synthetic_log
from services.runtime import OutRecord, create_producer, send_all
from services.runtime.settings import Compression, KafkaSettings

TOPIC = "caregaps.changes.v1"
CODECS: tuple[Compression, ...] = ("snappy", "lz4", "zstd", "none")


def change_records(count: int) -> list[OutRecord]:
    """Real change records of the engine, cycled to ``count``."""
    policy = PolicySet()
    states: dict[str, ParticipantState] = {}
    changes: list[OutRecord] = []
    for raw in synthetic_log(participants=400, events_per_participant=25):
        event = EVENT_ADAPTER.validate_python(raw)
        key = event.subject
        assert key is not None
        states[key], change = step(states.get(key) or ParticipantState.new(key), event, policy)
        if change is not None:
            changes.append(OutRecord(topic=TOPIC, key=key.encode(), value=change.to_json()))
    return [changes[i % len(changes)] for i in range(count)]


async def _per_record(producer: Any, kafka: KafkaSettings, records: list[OutRecord]) -> None:
    futures = [
        await producer.send(
            kafka.topic_name(r.topic), value=r.value, key=r.key, headers=list(r.headers)
        )
        for r in records
    ]
    await asyncio.gather(*futures)


async def _measure(
    kafka: KafkaSettings, codec: Compression, records: list[OutRecord], per_txn: int
) -> dict[str, Any]:
    settings = kafka.model_copy(update={"compression": codec})
    producer = create_producer(settings, transactional_id=f"bench-send-{uuid.uuid4().hex[:8]}")
    await producer.start()
    result: dict[str, Any] = {}
    try:
        for path in ("send", "send_all", "send", "send_all"):
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(records), per_txn):
                chunk = records[start : start + per_txn]
                async with producer.transaction():
                    if path == "send":
                        await _per_record(producer, settings, chunk)
                    else:
                        await send_all(producer, settings, chunk)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best = result.get(path)
            row = {
                "cpu_us_per_record": round(cpu / len(records) * 1e6, 1),
                "records_per_s": round(len(records) / wall),
            }
            if best is None or row["cpu_us_per_record"] < best["cpu_us_per_record"]:
                result[path] = row
    finally:
        await producer.stop()
    return result


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--per-transaction", type=int, default=2_000)
    args = parser.parse_args(argv)
    records = change_records(args.records)
    mean_bytes = round(sum(len(r.value or b"") for r in records) / len(records))
    async with broker() as run:
        kafka = run.settings.model_copy(update={"topic_prefix": fresh_prefix("send")})
        await create_topics(kafka, topics_with_partitions([TOPIC], 4))
        results = {codec: await _measure(kafka, codec, records, args.per_transaction)
                   for codec in CODECS}  # fmt: skip
        host = machine(run.kafka_version)
    data = {
        "host": {**host, "broker": run.note},
        "workload": {"records": len(records), "mean_bytes": mean_bytes,
                     "per_transaction": args.per_transaction},
        "results": results,
    }  # fmt: skip
    lines = [
        "# Send path",
        "",
        f"{len(records)} engine change records (mean {mean_bytes} bytes), "
        f"{args.per_transaction} per transaction, 4 partitions; best of two runs each; "
        f"{host['cpus']} CPUs, {run.note}.",
        "",
        "| codec | `send` per record: CPU µs / record | records/s "
        "| `send_all`: CPU µs / record | records/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for codec, r in results.items():
        lines.append(
            f"| {codec} | {r['send']['cpu_us_per_record']} | {r['send']['records_per_s']:,} "
            f"| {r['send_all']['cpu_us_per_record']} | {r['send_all']['records_per_s']:,} |"
        )
    write_results("send", data, "\n".join(lines))
    return data


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())["results"], indent=2))
