"""Shared pieces of the benchmarks: broker, machine facts, statistics, process probes, output.

* :func:`broker` reuses ``$PEERLINK_KAFKA_BOOTSTRAP_SERVERS`` when a broker answers there,
  otherwise starts a local one (``services.devkafka``) for the run and stops it afterwards;
* :func:`machine` describes the host (CPU count and model, load average, library versions);
* :func:`spread` is the median / min / max of repeated runs;
* :class:`ProcProbe` reads a process's CPU seconds and peak RSS from ``/proc``;
* :class:`GroupProgress` follows a consumer group's committed offsets towards a target;
* :func:`write_results` writes ``bench/results/<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.topics import Topic
from schemas.topics import topic as registry_topic
from services.caregaps import native
from services.devkafka import LocalKafka, LocalKafkaConfig
from services.devkafka.ports import free_port_pair
from services.runtime import KafkaSettings, create_producer
from services.runtime.topics_admin import admin_client, broker_answers, ensure_topics

__all__ = [
    "RESULTS",
    "Broker",
    "GroupProgress",
    "ProcProbe",
    "Send",
    "broker",
    "fresh_prefix",
    "machine",
    "produce",
    "spread",
    "topics_with_partitions",
    "write_results",
]

RESULTS = Path(__file__).resolve().parent / "results"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- broker


@dataclass(frozen=True)
class Broker:
    settings: KafkaSettings
    #: "local Kafka 4.x started for the run" or "existing broker at host:port".
    note: str
    kafka_version: str


@contextlib.asynccontextmanager
async def broker(state_dir: Path | None = None) -> AsyncIterator[Broker]:
    """The broker of the run: the configured one if it answers, else a fresh local one."""
    if os.environ.get("PEERLINK_KAFKA_BOOTSTRAP_SERVERS"):
        settings = KafkaSettings()
        if await broker_answers(settings, timeout_s=10.0):
            yield Broker(settings, f"existing broker at {settings.bootstrap_servers}", "external")
            return
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="peerlink-bench-kafka-"))
            )
        local = LocalKafka(LocalKafkaConfig.from_env(port=free_port_pair(), state_dir=state_dir))
        started = await local.up(topics=())
        try:
            version = str(local.config.version)
            yield Broker(started, f"local Kafka {version} started for the run", version)
        finally:
            await asyncio.to_thread(local.down)


def fresh_prefix(kind: str) -> str:
    """A topic prefix nobody used: every measurement starts on empty topics."""
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}."


def topics_with_partitions(names: Iterable[str], partitions: int | None = None) -> list[Topic]:
    """Registry topics, optionally with another partition count (co-partitioned)."""
    topics = [registry_topic(name) for name in names]
    if partitions is None:
        return topics
    return [dataclasses.replace(t, partitions=partitions) for t in topics]


async def create_topics(kafka: KafkaSettings, topics: Sequence[Topic]) -> None:
    await ensure_topics(kafka, list(topics))


async def delete_prefix(kafka: KafkaSettings, names: Iterable[str]) -> None:
    """Best-effort clean-up of a measurement's topics (keeps a reused broker tidy)."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics([kafka.topic_name(n) for n in names])
    finally:
        await admin.close()


@dataclass(frozen=True, slots=True)
class Send:
    """One record to produce: logical topic, key, value, optional partition and headers."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: Sequence[tuple[str, bytes]] = ()


async def produce(
    kafka: KafkaSettings,
    records: Iterable[tuple[str, bytes | None, bytes] | Send],
    *,
    transactional: bool = False,
    chunk: int = 2_000,
) -> dict[TopicPartition, int]:
    """Writes ``(logical topic, key, value)`` records (acks=all).

    Returns, per partition written, the offset after its last record: the target a consumer
    group commits once it has read everything (an end offset would also count the marker a
    transaction leaves after its records, which is never committed).
    """
    producer = create_producer(
        kafka,
        client_suffix="bench-feed",
        **({"transactional_id": f"bench-feed-{uuid.uuid4().hex}"} if transactional else {}),
    )
    await producer.start()
    written: dict[TopicPartition, int] = {}
    batch: list[Send] = []

    async def send_batch() -> list[Any]:
        futures = [
            await producer.send(
                kafka.topic_name(r.topic),
                key=r.key,
                value=r.value,
                partition=r.partition,
                headers=list(r.headers) or None,
            )
            for r in batch
        ]
        return list(await asyncio.gather(*futures))

    async def flush() -> None:
        if transactional:
            async with producer.transaction():
                metas = await send_batch()
        else:
            metas = await send_batch()
        for meta in metas:
            tp = TopicPartition(meta.topic, meta.partition)
            written[tp] = max(written.get(tp, 0), meta.offset + 1)
        batch.clear()

    try:
        for record in records:
            batch.append(record if isinstance(record, Send) else Send(*record))
            if len(batch) >= chunk:
                await flush()
        if batch:
            await flush()
    finally:
        await producer.stop()
    return written


# --------------------------------------------------------------------------- progress


class GroupProgress:
    """Committed offsets of consumer groups and end offsets of topics, via one admin client."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._admin = admin_client(kafka)
        self._consumer = AIOKafkaConsumer(
            **kafka.client_kwargs(),
            client_id=f"{kafka.client_id}-bench-progress",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )

    async def __aenter__(self) -> GroupProgress:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    def partitions(
        self, names: Iterable[str], partitions: int | None = None
    ) -> list[TopicPartition]:
        return [
            TopicPartition(self.kafka.topic_name(name), p)
            for name in names
            for p in range(partitions or registry_topic(name).partitions)
        ]

    async def ends(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(list(tps))
        return ends

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        try:
            raw = await self._admin.list_consumer_group_offsets(group)
        except KafkaError:
            return {}
        return {tp: meta.offset for tp, meta in raw.items() if meta.offset >= 0}

    async def stable(self, group: str) -> bool:
        """Whether ``group`` has members with an assignment (it is consuming from now on)."""
        try:
            responses = await self._admin.describe_consumer_groups([group])
        except KafkaError:
            return False
        for response in responses:
            for described in response.groups:
                if described[1] == group:
                    return str(described[2]) == "Stable"
        return False

    async def wait_committed(
        self,
        group: str,
        target: Mapping[TopicPartition, int],
        *,
        timeout_s: float,
        alive: Callable[[], str | None] | None = None,
        on_mark: Callable[[str], None] | None = None,
        interval_s: float = 0.05,
    ) -> dict[str, float]:
        """Polls until ``group`` has committed ``target``; returns the moments (perf_counter)
        ``stable`` (assigned and consuming: process start-up and group join are over),
        ``first_commit`` and ``done``, and ``first_count``, the records committed by the first
        commit. ``on_mark(name)`` is called as each moment is seen (e.g. to read CPU time).

        ``done`` is seen up to one interval late, which counts against the measured service:
        about 2 % of a 1.3 s intake run at 50 ms. Past 90 % of the target the interval is a
        tenth, so the lag is a few milliseconds for a few more cheap requests."""
        deadline = time.monotonic() + timeout_s
        total = sum(target.values())
        marks: dict[str, float] = {}

        def mark(name: str, at: float) -> None:
            if name not in marks:
                marks[name] = at
                if on_mark is not None:
                    on_mark(name)

        while True:
            committed = await self.committed(group)
            now = time.perf_counter()
            done = sum(min(committed.get(tp, 0), end) for tp, end in target.items())
            if "stable" not in marks and (done or await self.stable(group)):
                mark("stable", now)
            if done and "first_commit" not in marks:
                marks["first_count"] = done
                mark("first_commit", now)
            if all(committed.get(tp, 0) >= end for tp, end in target.items()):
                mark("done", now)
                return marks
            if alive is not None and (problem := alive()) is not None:
                raise RuntimeError(problem)
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group} committed {done} of {total}")
            await asyncio.sleep(interval_s if done < 0.9 * total else interval_s / 10)


# --------------------------------------------------------------------------- processes


class ProcProbe:
    """CPU seconds (user + system) and peak RSS of one process, from ``/proc/<pid>``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_s(self) -> float:
        raw = Path(f"/proc/{self.pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        # Fields 14 and 15 of stat(5) are utime and stime; the split starts at field 3.
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(kafka_version: str = "") -> dict[str, Any]:
    """The host and the versions the figures were measured with."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "aiokafka": _version("aiokafka"),
        "pydantic": _version("pydantic"),
        "fhir.resources": _version("fhir.resources"),
        "kafka": kafka_version or "not started",
        # The services inherit the harness's environment, PEERLINK_INTERPRETED included.
        "engine_build": native.build(),
        "load_average_1_5_15": load_average(),
    }


# --------------------------------------------------------------------------- statistics


def spread(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """Median, min and max of repeated runs (and the runs themselves)."""
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def fmt_spread(s: Mapping[str, Any], unit: str = "") -> str:
    """``12 345 (11 000-13 000)``: median with min-max."""
    if s.get("median") is None:
        return "n/a"

    def f(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

    tail = f" {unit}" if unit else ""
    if len(s.get("runs", [])) <= 1:
        return f"{f(s['median'])}{tail}"
    return f"{f(s['median'])}{tail} ({f(s['min'])}-{f(s['max'])})"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- output


def write_results(name: str, data: Mapping[str, Any], markdown: str, out: Path = RESULTS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(markdown if markdown.endswith("\n") else markdown + "\n")
