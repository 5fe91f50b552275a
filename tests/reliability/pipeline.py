"""The whole pipeline as real processes under faults, and the invariants checked afterwards.

A :class:`FaultRun` starts every service of ``services.demo`` as its own process on a fresh
topic prefix, feeds a seeded simulated cohort (ticks placed after each day's events, as the
demo does), lets a scenario inject faults, drains, reads every topic back read-committed and
checks, Jepsen-style:

* **lost**: valid inputs (peer submissions, clinic records) missing from ``peer.events.v1``,
  plus change records a fault-free engine would have written from the same input logs but that
  are missing;
* **duplicated**: change or FHIR resource ids seen more than once with *different* content
  (identical re-deliveries are counted separately as ``redelivered``);
* **reordered**: participants whose change records are not in the fault-free order;
* the final engine state (compacted changelog) and the final FHIR resources equal those of a
  fault-free run of the same input (the pure rules and the pure mapping applied to the logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from services.demo.outputs import FHIR_TOPICS
from services.demo.processes import ServiceProcess, ServiceSpec
from services.demo.run import service_specs
from services.demo.watch import PipelineWatch, TopicRecord
from services.devkafka.ports import free_port
from services.fhir_publisher.config import ClinicProfile
from services.fhir_publisher.mapping import Mapper
from services.intake.service import IntakeDomain
from services.intake.settings import IntakeSettings
from services.intake.submission import Accepted
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from services.simulator import (
    PEER_TOPIC,
    SimRecord,
    SimulationConfig,
    build_cohort,
    send_to_kafka,
    simulate,
)
from tests.integration.caregaps.harness import delete_prefixed_topics, reference

__all__ = ["FaultRun", "Row", "format_table"]

_INPUTS = ("peer.events.v1", "caregaps.clock.v1")


@dataclass
class Row:
    """One line of the scenario table."""

    scenario: str
    events: int = 0
    faults: int = 0
    lost: int = 0
    duplicated: int = 0
    redelivered: int = 0
    reordered: int = 0
    recover_s: list[float] = field(default_factory=list)
    state_equal: bool = False
    fhir_equal: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered or self.problems) and (
            self.state_equal and self.fhir_equal
        )

    def cells(self) -> list[str]:
        recover = f"{max(self.recover_s):.1f}" if self.recover_s else "-"
        return [
            self.scenario,
            str(self.events),
            str(self.faults),
            str(self.lost),
            str(self.duplicated),
            str(self.redelivered),
            str(self.reordered),
            recover,
            "yes" if self.state_equal and self.fhir_equal else "NO",
        ]


_HEAD = [
    "scenario",
    "events",
    "faults",
    "lost",
    "duplicated",
    "redelivered",
    "reordered",
    "max recover s",
    "final = fault-free",
]


def format_table(rows: list[Row]) -> str:
    cells = [_HEAD, *[r.cells() for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEAD))]
    lines = [
        "| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(widths))) + " |" for c in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _with_port(spec: ServiceSpec, run_id: str, work_dir: Path, n: int) -> ServiceSpec:
    """The same service as another instance: fresh HTTP/ops port (and evaluation store)."""
    argv = list(spec.argv)
    env = dict(spec.env)
    for flag in ("--port", "--ops-port"):
        if flag in argv:
            argv[argv.index(flag) + 1] = str(free_port())
    if "--db" in argv:
        argv[argv.index("--db") + 1] = str(work_dir / f"evaluation-{n}.sqlite3")
    if "PEERLINK_CAREGAPS_OPS_PORT" in env:
        env["PEERLINK_CAREGAPS_OPS_PORT"] = str(free_port())
    return replace(spec, argv=tuple(argv), env=env)


def ops_url(spec: ServiceSpec) -> str | None:
    argv = list(spec.argv)
    for flag in ("--port", "--ops-port"):
        if flag in argv:
            return f"http://127.0.0.1:{argv[argv.index(flag) + 1]}"
    port = spec.env.get("PEERLINK_CAREGAPS_OPS_PORT")
    return f"http://127.0.0.1:{port}" if port else None


class FaultRun:
    """One pipeline on its own topic prefix; ``processes`` are the live instances."""

    def __init__(
        self,
        base: KafkaSettings,
        *,
        label: str,
        sim: SimulationConfig,
        work_dir: Path,
        seed: int,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        self.run_id = f"{slug}-{uuid.uuid4().hex[:8]}"
        self.settings = base.model_copy(update={"topic_prefix": f"{self.run_id}."})
        self.sim = sim
        self.cohort = build_cohort(sim)
        self.work_dir = work_dir
        self.log_dir = work_dir / "logs"
        self.rng = random.Random(seed)
        self.specs = {s.name: s for s in service_specs(self.cohort, self.run_id, work_dir)}
        self.processes: list[ServiceProcess] = []
        self.peer_ids: set[str] = set()
        self.records = 0
        self.row = Row(scenario=label)
        self._instances = 0
        self._extra_env = extra_env or {}

    # ------------------------------------------------------------------ processes

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PEERLINK_KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "PEERLINK_KAFKA_TOPIC_PREFIX": self.settings.topic_prefix,
            "PYTHONUNBUFFERED": "1",
            **self._extra_env,
        }

    def start(self, spec: ServiceSpec) -> ServiceProcess:
        self._instances += 1
        process = ServiceProcess(spec, log_dir=self.log_dir, base_env=self.env())
        self.processes.append(process)
        return process

    def instances(self, name: str) -> list[ServiceProcess]:
        return [p for p in self.processes if p.spec.name == name]

    def second_instance(self, name: str) -> ServiceProcess:
        spec = _with_port(self.specs[name], self.run_id, self.work_dir, self._instances)
        return self.start(replace(spec, name=f"{name}-{self._instances}"))

    def kill(self, process: ServiceProcess) -> None:
        """SIGKILL the process group of exactly this instance."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.process.wait(timeout=10)
        process.stop()
        self.processes.remove(process)
        self.row.faults += 1

    def stop(self, process: ServiceProcess) -> None:
        process.stop(timeout_s=30)
        self.processes.remove(process)

    def problem(self) -> str | None:
        for process in self.processes:
            if process.exit_code() is not None:
                return process.describe_exit()
        return None

    def stop_all(self) -> None:
        for process in list(self.processes):
            process.stop()
        self.processes.clear()

    # ------------------------------------------------------------------ stream

    def records_in_segments(self, segments: int) -> list[list[SimRecord]]:
        """The seeded stream cut into ``segments`` parts at day boundaries."""
        records = list(self._tap(simulate(self.sim, self.cohort)))
        days = sorted({r.emit_at.date() for r in records})
        cuts = {days[len(days) * i // segments] for i in range(1, segments)}
        out: list[list[SimRecord]] = [[]]
        day = None
        for record in records:
            if record.emit_at.date() != day and record.emit_at.date() in cuts and out[-1]:
                out.append([])
            day = record.emit_at.date()
            out[-1].append(record)
        return out

    def _tap(self, records: Iterator[SimRecord]) -> Iterator[SimRecord]:
        """Counts the records and notes the event ids intake's pure mapping gives the valid
        ones (peer submissions and clinic FHIR records alike)."""
        domain = IntakeDomain.from_settings(
            IntakeSettings(programmes={p.programme_id: (p.model,) for p in self.cohort.programmes})
        )
        for record in records:
            self.records += 1
            if record.valid and not record.is_tick:
                if record.topic == PEER_TOPIC:
                    accepted = domain.validator.from_bytes(record.value)
                    if isinstance(accepted, Accepted):
                        self.peer_ids.add(accepted.event_id)
                else:
                    clinic = dict(record.headers).get("x-peerlink-clinic-id")
                    mapped = domain.fhir.map_record(record.value, clinic_header=clinic)
                    self.peer_ids.update(a.event_id for a in mapped.accepted)
            yield record

    async def setup(self) -> None:
        await ensure_topics(self.settings)
        for spec in self.specs.values():
            self.start(spec)
        await self.wait_joined(timeout_s=90)

    async def wait_joined(self, timeout_s: float = 90) -> None:
        watch = PipelineWatch(self.settings)
        await watch.start()
        try:
            await watch.wait_joined(
                [s.group_id for s in self.specs.values()], timeout_s=timeout_s, alive=self.problem
            )
        finally:
            await watch.close()

    async def feed(self, records: list[SimRecord]) -> None:
        intake = self.specs["intake"]

        async def place_ticks(_at: Any) -> dict[int, int]:
            watch = PipelineWatch(self.settings)
            await watch.start()
            try:
                await watch.wait_caught_up(
                    {intake.group_id: intake.inputs}, timeout_s=180, alive=self.problem
                )
                ends = await watch.end_offsets(["peer.events.v1"])
            finally:
                await watch.close()
            return {tp.partition: offset for tp, offset in ends.items()}

        await send_to_kafka(
            records,
            self.settings,
            start=self.sim.start,
            end=self.cohort.end,
            clock_partitions=self.sim.clock_partitions,
            place_ticks=place_ticks,
        )

    async def progress(self, group: str) -> int:
        watch = PipelineWatch(self.settings)
        await watch.start()
        try:
            return sum((await watch.committed(group)).values())
        finally:
            await watch.close()

    async def time_to_progress(
        self, group: str, before: int, since: float, timeout_s: float, *, idle_ok: bool = True
    ) -> None:
        """Record the seconds from ``since`` until ``group`` commits past ``before`` (or, with
        ``idle_ok``, has nothing left to do)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if await self.progress(group) > before or (idle_ok and await self.lag(group) == 0):
                    self.row.recover_s.append(time.monotonic() - since)
                    return
            await asyncio.sleep(0.2)
        self.row.problems.append(f"{group} made no progress within {timeout_s:g} s")

    async def lag(self, group: str) -> int:
        spec = next(s for s in self.specs.values() if s.group_id == group)
        watch = PipelineWatch(self.settings)
        await watch.start()
        try:
            return await watch.effective_lag(group, spec.inputs)
        finally:
            await watch.close()

    async def drain(self, timeout_s: float = 180, quiet_s: float = 2.0) -> None:
        """Until every group has caught up and no topic grew for ``quiet_s``."""
        watch = PipelineWatch(self.settings)
        await watch.start()
        try:
            topics = ["peer.events.v1", "caregaps.changes.v1", *FHIR_TOPICS]
            deadline = time.monotonic() + timeout_s
            quiet_since: float | None = None
            last: Any = None
            while True:
                problem = self.problem()
                if problem:
                    raise AssertionError(problem)
                total = 0
                for spec in self.specs.values():
                    total += await watch.effective_lag(spec.group_id, spec.inputs)
                ends = await watch.end_offsets(topics)
                now = time.monotonic()
                if total == 0 and ends == last:
                    quiet_since = quiet_since or now
                    if now - quiet_since >= quiet_s:
                        return
                else:
                    quiet_since = None
                last = ends
                if now > deadline:
                    raise AssertionError(f"pipeline did not drain within {timeout_s:g} s")
                await asyncio.sleep(0.25)
        finally:
            await watch.close()

    async def teardown(self) -> None:
        self.stop_all()
        with contextlib.suppress(Exception):
            await delete_prefixed_topics(self.settings)

    # ------------------------------------------------------------------ invariants

    async def check(self) -> Row:
        watch = PipelineWatch(self.settings)
        await watch.start()
        try:
            records = await watch.read_all(
                [*_INPUTS, "caregaps.changes.v1", "caregaps.state.changelog", *FHIR_TOPICS]
            )
        finally:
            await watch.close()
        by_topic: dict[str, dict[int, list[TopicRecord]]] = defaultdict(lambda: defaultdict(list))
        for record in records:
            by_topic[record.topic][record.partition].append(record)
        for partitions in by_topic.values():
            for items in partitions.values():
                items.sort(key=lambda r: r.offset)
        check_invariants(self.row, by_topic, self.peer_ids)
        return self.row


def _id(value: bytes | None) -> str:
    return str(orjson.loads(value or b"{}").get("id"))


def check_invariants(
    row: Row, by_topic: dict[str, dict[int, list[TopicRecord]]], peer_ids: set[str]
) -> None:
    events = by_topic["peer.events.v1"]
    row.events = sum(map(len, events.values()))
    # ---- intake: every valid submission reached peer.events.v1, duplicates identical
    seen: dict[str, bytes | None] = {}
    for record in (r for rs in events.values() for r in rs):
        eid = _id(record.value)
        if eid in seen:
            if seen[eid] != record.value:
                row.duplicated += 1
            else:
                row.redelivered += 1
        seen[eid] = record.value
    row.lost += len(peer_ids - set(seen))

    # ---- engine: exactly the fault-free change records and final state
    ref = reference(dict(events), dict(by_topic["caregaps.clock.v1"]))
    for partition, records in events.items():
        if records and ref.events_processed.get(partition, 0) <= records[-1].offset:
            row.problems.append(f"events of partition {partition} not followed by a tick")
    actual = {
        p: [r.value for r in rs if r.value is not None]
        for p, rs in by_topic["caregaps.changes.v1"].items()
    }
    expected_all = Counter(v for vs in ref.changes.values() for v in vs)
    actual_all = Counter(v for vs in actual.values() for v in vs)
    row.lost += sum((expected_all - actual_all).values())
    extra = actual_all - expected_all
    contents: dict[str, set[bytes]] = defaultdict(set)
    for value in actual_all:
        contents[_id(value)].add(value)
    row.duplicated += sum(1 for v in contents.values() if len(v) > 1)
    row.redelivered += sum(extra.values())
    per_key_ref: dict[str, list[str]] = defaultdict(list)
    per_key_act: dict[str, list[str]] = defaultdict(list)
    for source, target in ((ref.changes, per_key_ref), (actual, per_key_act)):
        for values in source.values():
            for value in values:
                body = orjson.loads(value or b"{}")
                ids = target[str(body.get("subject"))]
                if not ids or ids[-1] != body.get("id"):
                    ids.append(str(body.get("id")))
    row.reordered = sum(1 for k in per_key_ref if per_key_ref[k] != per_key_act.get(k, []))
    changelog = {
        (r.key or b"").decode(): r.value
        for rs in by_topic["caregaps.state.changelog"].values()
        for r in rs
    }
    row.state_equal = {k: v for k, v in changelog.items() if v is not None} == ref.states

    # ---- FHIR: per resource id one content per version; latest = mapping of the changes
    from schemas.events import parse_event

    mapper, clinic = Mapper(), ClinicProfile()
    expected: dict[tuple[str, str], str] = {}
    for values in ref.changes.values():
        for value in values:
            event: Any = parse_event(value)
            for resource in mapper.map_change(event.data, event.subject, clinic).resources:
                expected[(resource.resource_type, resource.id)] = resource.version_id
    published: dict[tuple[str, str], str] = {}
    versions: dict[tuple[str, str, str], set[bytes]] = defaultdict(set)
    for topic in FHIR_TOPICS:
        for rs in by_topic[topic].values():
            for r in rs:
                if r.value is None:
                    continue
                body = orjson.loads(r.value)
                key = (str(body["resourceType"]), str(body["id"]))
                version = str(body.get("meta", {}).get("versionId"))
                versions[(*key, version)].add(r.value)
                published[key] = version
    row.duplicated += sum(1 for v in versions.values() if len(v) > 1)
    row.fhir_equal = published == expected
    if not row.fhir_equal:
        missing = set(expected) - set(published)
        row.lost += len(missing)
        row.problems.append(
            f"FHIR differs: {len(missing)} missing, "
            f"{len(set(published) - set(expected))} unexpected, "
            f"{sum(1 for k in expected if k in published and published[k] != expected[k])} stale"
        )
