"""``peerlink demo``: broker, every service as its own process, a simulated cohort, a summary.

Steps, each timed: start a local broker (or use ``--bootstrap-servers`` with a fresh topic
prefix), start intake, the care-gap engine, the FHIR publisher and evaluation as separate
processes and wait until their consumer groups are stable, run the simulator into Kafka, wait
until every group has caught up and nothing new has appeared for a quiet period, read every
output topic back, check the result and write the output folder. Everything the demo started
is stopped at the end, on error and on Ctrl-C (``--keep-running`` waits for Ctrl-C first).

Clock ticks and engine order: a tick carries the end offset of its ``peer.events.v1``
partition, and the engine applies it after exactly the events below that offset. Before each
day's ticks the demo waits until intake has consumed everything sent so far and then stamps
the current end offsets on the ticks, so every tick lands after that day's events however the
processes are scheduled. The engine's input order is then a function of the topics alone,
which is what the end-to-end test recomputes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from schemas.topics import TOPICS
from services.demo.outputs import FHIR_TOPICS, DemoSummary, analyse, write_outputs
from services.demo.processes import ServiceProcess, ServiceSpec
from services.demo.watch import PipelineWatch, StalledError
from services.devkafka.ports import free_port, free_port_pair
from services.evaluation.report import write_report
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from services.simulator import (
    PEER_TOPIC,
    Cohort,
    Progress,
    SimRecord,
    SimulationConfig,
    build_cohort,
    send_to_kafka,
    simulate,
)

__all__ = [
    "DemoConfig",
    "DemoFailure",
    "ServiceStack",
    "render_summary",
    "run_demo",
    "run_pipeline",
    "service_specs",
]

Say = Callable[[str], None]


class DemoFailure(RuntimeError):
    """Something in the pipeline is wrong; the message is the one line the user sees."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Everything ``peerlink demo`` can be told (CLI flags map onto these fields)."""

    participants: int = 500
    months: int = 12
    seed: int = SimulationConfig().seed
    out: Path = Path("out/demo")
    keep_running: bool = False
    #: Use this cluster instead of starting a local broker (topics get a fresh prefix).
    bootstrap_servers: str | None = None
    tick_every_days: int = 1
    invalid_share: float = SimulationConfig().invalid_share
    #: Wait for intake before each day's ticks so they follow that day's events (see module).
    sync_ticks: bool = True
    #: Drained means: every group caught up and no topic grew for this long.
    quiet_s: float = 2.0
    drain_timeout_s: float = 300.0
    ready_timeout_s: float = 120.0
    #: Write the evaluation report (when the evaluation service is available).
    report: bool = True

    def simulation(self) -> SimulationConfig:
        return SimulationConfig(
            participants=self.participants,
            months=self.months,
            seed=self.seed,
            tick_every_days=self.tick_every_days,
            invalid_share=self.invalid_share,
        )


# --------------------------------------------------------------------------- services


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def service_specs(cohort: Cohort, run_id: str, work_dir: Path) -> list[ServiceSpec]:
    """The services of the pipeline that exist in this checkout, configured for the cohort."""
    programmes = {p.programme_id: [p.model.value] for p in cohort.programmes}
    specs = [
        ServiceSpec(
            name="intake",
            cli_module="services.cli.intake_cmd",
            argv=("intake", "run", "--port", str(free_port())),
            group_id=f"{run_id}-intake",
            inputs=("peer.intake.raw", "clinic.fhir.inbound"),
            env={
                "PEERLINK_INTAKE_PROGRAMMES": orjson.dumps(programmes).decode(),
                "PEERLINK_INTAKE_GROUP_ID": f"{run_id}-intake",
                "PEERLINK_INTAKE_HTTP_HOST": "127.0.0.1",
            },
        ),
        ServiceSpec(
            name="caregaps",
            cli_module="services.cli.caregaps_cmd",
            argv=("caregaps", "run"),
            group_id=f"{run_id}-caregaps",
            inputs=("peer.events.v1", "caregaps.clock.v1"),
            env={
                "PEERLINK_CAREGAPS_GROUP_ID": f"{run_id}-caregaps",
                "PEERLINK_CAREGAPS_OPS_PORT": str(free_port()),
                "PEERLINK_CAREGAPS_OPS_HOST": "127.0.0.1",
            },
        ),
        ServiceSpec(
            name="fhir-publisher",
            cli_module="services.cli.publisher_cmd",
            argv=("fhir-publisher", "run", "--ops-port", str(free_port())),
            group_id=f"{run_id}-fhir-publisher",
            inputs=("caregaps.changes.v1",),
            env={"PEERLINK_PUBLISHER_GROUP_ID": f"{run_id}-fhir-publisher"},
        ),
        ServiceSpec(
            name="evaluation",
            cli_module="services.cli.evaluation_cmd",
            argv=(
                "evaluation",
                "run",
                "--db",
                str(work_dir / "evaluation.sqlite3"),
                "--port",
                str(free_port()),
            ),
            group_id=f"{run_id}-evaluation",
            inputs=("peer.events.v1", "caregaps.changes.v1"),
            env={"PEERLINK_EVALUATION_GROUP_ID": f"{run_id}-evaluation"},
        ),
    ]
    return [spec for spec in specs if _available(spec.cli_module)]


_REQUIRED = ("intake", "caregaps", "fhir-publisher")
#: Marks a folder as demo output, so a later run may replace it.
_MARKER = ".peerlink-demo"


class ServiceStack:
    """The service processes this demo started; ``stop()`` stops exactly those."""

    def __init__(self, *, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ServiceProcess] = []

    def start(self, specs: list[ServiceSpec], env: dict[str, str]) -> None:
        for spec in specs:
            self.processes.append(ServiceProcess(spec, log_dir=self.log_dir, base_env=env))

    def problem(self) -> str | None:
        """A dead service, described, or None while all run."""
        for process in self.processes:
            if process.exit_code() is not None:
                return process.describe_exit()
        return None

    def stop(self) -> None:
        # Upstream first, so nothing downstream waits on a half-finished batch.
        for process in self.processes:
            process.stop()


# --------------------------------------------------------------------------- pipeline


@dataclass(kw_only=True)
class _Sent:
    """The valid peer event ids sent (to check each reached the engine's input)."""

    peer_ids: set[str] = field(default_factory=set)
    junk: int = 0

    def tap(self, records: Iterator[SimRecord]) -> Iterator[SimRecord]:
        for record in records:
            if not record.valid:
                self.junk += 1
            elif record.topic == PEER_TOPIC and record.record_id:
                self.peer_ids.add(record.record_id)
            yield record


def _timed(summary_timings: dict[str, float], name: str, started: float) -> float:
    now = time.monotonic()
    summary_timings[name] = now - started
    return now


async def run_pipeline(
    config: DemoConfig,
    settings: KafkaSettings,
    stack: ServiceStack,
    *,
    work_dir: Path,
    run_id: str,
    say: Say,
    timings: dict[str, float],
) -> DemoSummary:
    """Start the services on ``settings``' cluster, simulate, drain, read back and check."""
    sim_config = config.simulation()
    cohort = build_cohort(sim_config)
    specs = service_specs(cohort, run_id, work_dir)
    names = {s.name for s in specs}
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise DemoFailure(f"service(s) not available in this checkout: {', '.join(missing)}")

    started = time.monotonic()
    env = {
        **os.environ,
        "PEERLINK_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "PEERLINK_KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "PYTHONUNBUFFERED": "1",
    }
    stack.start(specs, env)
    say(f"services started: {', '.join(f'{p.spec.name} (pid {p.pid})' for p in stack.processes)}")
    watch = PipelineWatch(settings)
    await watch.start()
    try:
        try:
            await watch.wait_joined(
                [s.group_id for s in specs],
                timeout_s=config.ready_timeout_s,
                alive=stack.problem,
            )
        except StalledError as exc:
            raise DemoFailure(str(exc)) from exc
        now = _timed(timings, "services", started)
        say(f"services ready in {timings['services']:.1f} s (logs in {stack.log_dir})")

        by_name = {s.name: s for s in specs}
        intake = by_name["intake"]

        async def place_ticks(_at: datetime) -> dict[int, int]:
            if config.sync_ticks:
                await watch.wait_caught_up(
                    {intake.group_id: intake.inputs},
                    timeout_s=config.drain_timeout_s,
                    alive=stack.problem,
                )
            ends = await watch.end_offsets(["peer.events.v1"])
            return {tp.partition: offset for tp, offset in ends.items()}

        sent = _Sent()
        progress = Progress("simulate", total=float(sim_config.days), unit="days")
        try:
            sim = await send_to_kafka(
                sent.tap(simulate(sim_config, cohort)),
                settings,
                start=sim_config.start,
                end=cohort.end,
                clock_partitions=sim_config.clock_partitions,
                place_ticks=place_ticks,
                progress=progress,
            )
        except StalledError as exc:
            raise DemoFailure(str(exc)) from exc
        now = _timed(timings, "simulate", now)

        await _drain(watch, specs, config, stack)
        now = _timed(timings, "drain", now)

        records = await watch.read_all(
            ["peer.events.v1", "peer.intake.dlq", "caregaps.changes.v1", *FHIR_TOPICS]
        )
        summary = analyse(records, sim)
        _timed(timings, "collect", now)
    finally:
        await watch.close()
    summary.timings = timings
    _check(summary, sent)
    return summary


async def _drain(
    watch: PipelineWatch,
    specs: list[ServiceSpec],
    config: DemoConfig,
    stack: ServiceStack,
) -> None:
    """Until every group has caught up and no topic has grown for ``quiet_s`` seconds."""
    all_topics = [t.name for t in TOPICS]
    deadline = time.monotonic() + config.drain_timeout_s
    first_total: int | None = None
    progress = Progress("drain", total=1.0)
    quiet_since: float | None = None
    last_ends: dict[Any, int] | None = None
    while True:
        problem = stack.problem()
        if problem is not None:
            raise DemoFailure(problem)
        lags = {s.group_id: await watch.effective_lag(s.group_id, s.inputs) for s in specs}
        total = sum(lags.values())
        first_total = total if first_total is None else max(first_total, total)
        ends = await watch.end_offsets(all_topics)
        now = time.monotonic()
        if total == 0 and ends == last_ends:
            quiet_since = quiet_since or now
            if now - quiet_since >= config.quiet_s:
                progress.close("pipeline drained")
                return
        else:
            quiet_since = None
        last_ends = ends
        done = 1.0 - (total / first_total if first_total else 0.0)
        progress.update(done, f"lag {total}")
        if now > deadline:
            behind = ", ".join(f"{g} {n}" for g, n in lags.items() if n) or "none"
            raise DemoFailure(
                f"pipeline did not drain within {config.drain_timeout_s:g} s (lag: {behind})"
            )
        await asyncio.sleep(0.2)


def _check(summary: DemoSummary, sent: _Sent) -> None:
    """Fail loudly on anything that means the pipeline is broken."""
    if not summary.accepted:
        raise DemoFailure("intake produced no events on peer.events.v1")
    lost = sent.peer_ids - summary.accepted_ids
    if lost:
        raise DemoFailure(f"{len(lost)} valid peer events never reached peer.events.v1")
    intake_rejects = sum(n for k, n in summary.rejected.items() if k.startswith("intake"))
    if intake_rejects > sent.junk:
        raise DemoFailure(
            f"intake dead-lettered {intake_rejects} submissions but only {sent.junk} were "
            "broken on purpose: valid events were rejected (see dlq.jsonl)"
        )
    others = sum(n for k, n in summary.rejected.items() if not k.startswith("intake"))
    if others:
        raise DemoFailure(f"{others} records dead-lettered after intake (see dlq.jsonl)")
    if summary.unreadable_changes:
        raise DemoFailure(f"{summary.unreadable_changes} unreadable records on caregaps.changes.v1")
    if not summary.changes:
        raise DemoFailure("the care-gap engine produced no changes")
    if summary.fhir_messages == 0:
        raise DemoFailure("nothing was published to the FHIR topics")
    extra = summary.fhir_participants - summary.publishable_participants
    if extra:
        raise DemoFailure(f"FHIR published for {len(extra)} participants without consent")


# --------------------------------------------------------------------------- summary


def _rows(counter: dict[tuple[str, str], int], closed: dict[tuple[str, str], int]) -> list[str]:
    lines = []
    for code, priority in sorted(set(counter) | set(closed)):
        lines.append(
            f"    {code:<26} {priority:<8} opened {counter.get((code, priority), 0):>6}"
            f"   closed {closed.get((code, priority), 0):>6}"
        )
    return lines


def render_summary(summary: DemoSummary, config: DemoConfig, out_dir: Path) -> str:
    sent = summary.sent
    ticks = sent.by_topic.get("caregaps.clock.v1", 0)
    peer = sent.by_topic.get("peer.intake.raw", 0)
    clinic = sent.by_topic.get("clinic.fhir.inbound", 0)
    accepted = sum(summary.accepted.values())
    rejected = sum(summary.rejected.values())
    flags = sum(summary.red_flags.values())
    by_priority: dict[str, int] = {}
    for (_code, priority), n in summary.red_flags.items():
        by_priority[priority] = by_priority.get(priority, 0) + n
    lines = [
        "",
        f"PeerLink demo: {config.participants} participants, {config.months} month"
        f"{'' if config.months == 1 else 's'}, "
        f"seed {config.seed}, six peer-support models",
        f"  events in      {sent.records} sent: {peer} peer submissions, {clinic} clinic FHIR "
        f"records, {ticks} clock ticks ({sent.invalid} deliberately broken)",
        f"  accepted       {accepted} events on peer.events.v1 ("
        + ", ".join(f"{t.removeprefix('peerlink.')} {n}" for t, n in summary.accepted.most_common())
        + ")",
        f"  rejected       {rejected} dead-lettered ("
        + (", ".join(f"{r} {n}" for r, n in summary.rejected.most_common()) or "none")
        + ")",
        f"  gap changes    {len(summary.changes)} change records, "
        f"{sum(summary.opened.values())} gaps opened, {sum(summary.closed.values())} closed, "
        f"{summary.escalated} escalated",
        *_rows(dict(summary.opened), dict(summary.closed)),
        f"  red flags      {flags} ("
        + ", ".join(f"{p} {n}" for p, n in sorted(by_priority.items(), key=lambda kv: kv[0]))
        + ")",
        "  FHIR published "
        + "; ".join(
            f"{t}: {o.messages} messages, {len(o.latest)} resources, "
            f"{len(o.participants)} participants"
            for t, o in sorted(summary.fhir.items())
        ),
        f"  withheld       {sum(summary.withheld.values())} changes of "
        f"{len(summary.withheld_participants)} participants without consent ("
        + ", ".join(f"{r} {n}" for r, n in sorted(summary.withheld.items()))
        + ")",
        f"  output         {out_dir}/ (" + ", ".join(p.name for p in summary.files) + ")",
        "  timings        " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.timings.items()),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry point


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _write_report(work_dir: Path, out_dir: Path) -> Path:
    db = work_dir / "evaluation.sqlite3"
    if not db.exists():
        # The evaluation service ran with the others; no store means it never ingested.
        raise DemoFailure("the evaluation service wrote no store, so there is no report")
    return write_report(db, out_dir / "report.html")


async def _start_cluster(
    config: DemoConfig, say: Say, timings: dict[str, float], state_dir: Path
) -> tuple[KafkaSettings, Any]:
    started = time.monotonic()
    if config.bootstrap_servers:
        prefix = f"demo-{int(time.time())}."
        settings = KafkaSettings(bootstrap_servers=config.bootstrap_servers, topic_prefix=prefix)
        await ensure_topics(settings)
        say(f"using {config.bootstrap_servers} with topic prefix {prefix}")
        timings["broker"] = time.monotonic() - started
        return settings, None
    from services.devkafka import LocalKafka, LocalKafkaConfig

    kafka = LocalKafka(LocalKafkaConfig.from_env(port=free_port_pair(), state_dir=state_dir))
    settings = await kafka.up(topics=TOPICS, report=say)
    timings["broker"] = time.monotonic() - started
    return settings, kafka


def run_demo(config: DemoConfig, *, say: Say | None = None) -> int:
    """The whole demo; returns the exit code. Prints progress and the summary."""
    say = say or (lambda line: print(f"demo: {line}", flush=True))
    out_dir = config.out.resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / _MARKER).exists():
            # Never wipe a folder the demo did not create (think `--out .`).
            print(
                f"peerlink: demo failed: {out_dir} exists and is not a demo output folder",
                file=sys.stderr,
                flush=True,
            )
            return 1
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / _MARKER).write_text("output of `peerlink demo`; replaced by the next run\n")
    work_dir = out_dir / "run"
    work_dir.mkdir(parents=True)
    state_dir = Path(tempfile.mkdtemp(prefix="peerlink-demo-kafka-"))
    stack = ServiceStack(log_dir=out_dir / "logs")
    kafka: Any = None
    timings: dict[str, float] = {}
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    run_id = f"demo{os.getpid()}"
    try:

        async def main() -> DemoSummary:
            nonlocal kafka
            settings, kafka = await _start_cluster(config, say, timings, state_dir)
            return await run_pipeline(
                config,
                settings,
                stack,
                work_dir=work_dir,
                run_id=run_id,
                say=say,
                timings=timings,
            )

        summary = asyncio.run(main())
        if config.report:
            report_started = time.monotonic()
            summary.files.append(_write_report(work_dir, out_dir))
            timings["report"] = time.monotonic() - report_started
        summary.files[:0] = write_outputs(summary, out_dir)
        timings["total"] = time.monotonic() - started
        summary.timings = timings
        (out_dir / "summary.json").write_bytes(
            orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2) + b"\n"
        )
        print(render_summary(summary, config, out_dir), flush=True)
        if config.keep_running:
            _wait_for_interrupt(stack, say)
        return 0
    except DemoFailure as exc:
        print(f"peerlink: demo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("peerlink: demo interrupted; stopping what it started", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # one clear line, not a traceback, for any other failure
        print(
            f"peerlink: demo failed: {type(exc).__name__}: {exc} (logs in {stack.log_dir})",
            file=sys.stderr,
            flush=True,
        )
        return 1
    finally:
        stack.stop()
        if kafka is not None:
            with contextlib.suppress(Exception):
                kafka.down()
        shutil.rmtree(state_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _wait_for_interrupt(stack: ServiceStack, say: Say) -> None:
    say("--keep-running: the broker and services stay up; press Ctrl-C to stop them")
    for process in stack.processes:
        say(f"  {process.spec.name}: pid {process.pid}, log {process.log_path}")
    with contextlib.suppress(KeyboardInterrupt):
        while stack.problem() is None:
            time.sleep(1.0)
        say(stack.problem() or "a service stopped")


def with_overrides(config: DemoConfig, **changes: Any) -> DemoConfig:
    """``DemoConfig`` with the given fields replaced (None values ignored)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
