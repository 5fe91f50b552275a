"""The evaluation service: consume events into the store, serve figures over HTTP.

A sink on the shared :class:`~services.runtime.Processor`: the handler writes each partition
batch to SQLite (one transaction) and returns no output records, so offsets are committed only
after the store write. A redelivered batch is absorbed by the store's event-id key. The HTTP
API, the ops routes and the headline-gauge refresher share the event loop; SQLite work runs
on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence

import uvicorn
from prometheus_client import Counter
from pydantic import ValidationError

from schemas.events import Event, parse_event
from services.evaluation.api import create_app
from services.evaluation.gauges import HeadlineGauges, refresh_gauges
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore, IngestResult, Reject
from services.runtime import (
    ConsumerPolicy,
    Health,
    KafkaSettings,
    OpsServer,
    OutRecord,
    PartitionBatch,
    Processor,
    ServiceMetrics,
    get_logger,
)
from services.runtime.ops_http import EmbeddedServer

__all__ = ["INPUT_TOPICS", "EvaluationService", "run_service"]

INPUT_TOPICS = ("peer.events.v1", "caregaps.changes.v1")
_log = get_logger("peerlink.evaluation")


class EvaluationService:
    """One evaluation process: a consumer-group member, the store and the HTTP API."""

    def __init__(
        self,
        settings: EvaluationSettings | None = None,
        kafka: KafkaSettings | None = None,
        *,
        serve_http: bool = True,
    ) -> None:
        self.settings = settings or EvaluationSettings()
        self.kafka = kafka or KafkaSettings()
        self.serve_http = serve_http
        self.health = Health()
        self.metrics = ServiceMetrics(service="evaluation")
        self.gauges = HeadlineGauges(self.metrics.registry)
        self.ingested = Counter(
            "peerlink_evaluation_events_ingested",
            "Events written to the evaluation store (first delivery only)",
            ["topic"],
            registry=self.metrics.registry,
        )
        self.rejected = Counter(
            "peerlink_evaluation_records_rejected",
            "Records that are not a valid event; coordinates kept in the store's rejects table",
            ["topic"],
            registry=self.metrics.registry,
        )
        self.store = EvaluationStore(self.settings.db_path)
        self.processor = Processor(
            settings=self.kafka,
            policy=ConsumerPolicy(
                group_id=self.settings.group_id,
                topics=INPUT_TOPICS,
                max_records=self.settings.max_records,
            ),
            handler=self.handle,
            health=self.health,
            metrics=self.metrics,
        )
        self.app = create_app(self.store, self.settings, health=self.health, metrics=self.metrics)
        self._stopping = asyncio.Event()

    def _write(self, events: Sequence[Event], rejects: Sequence[Reject]) -> IngestResult:
        self.store.record_rejects(rejects)
        return self.store.ingest(events)

    async def handle(self, batch: PartitionBatch) -> list[OutRecord]:
        """Parse and store one partition batch; nothing to produce."""
        events: list[Event] = []
        rejects: list[Reject] = []
        for record in batch.records:
            try:
                if record.value is None:
                    raise ValueError("empty record value")
                events.append(parse_event(record.value))
            except (ValidationError, ValueError) as exc:
                rejects.append(
                    Reject(
                        topic=batch.topic,
                        partition=batch.partition,
                        offset=int(record.offset),
                        error_class=type(exc).__name__,
                    )
                )
        started = time.perf_counter()
        result = await asyncio.to_thread(self._write, events, rejects)
        self.ingested.labels(topic=batch.topic).inc(result.accepted)
        self.metrics.duplicates.inc(result.duplicates)
        if rejects:
            self.rejected.labels(topic=batch.topic).inc(len(rejects))
            _log.warning(
                "records that are not valid events were skipped",
                extra={
                    "topic": batch.topic,
                    "partition": batch.partition,
                    "offsets": [r.offset for r in rejects][:20],
                    "rejected": len(rejects),
                },
            )
        _log.debug(
            "batch stored",
            extra={
                "topic": batch.topic,
                "partition": batch.partition,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return []

    async def _refresh_gauges_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(refresh_gauges, self.store, self.gauges, self.settings)
            except Exception as exc:  # a failed refresh must not stop consumption
                _log.warning("gauge refresh failed", extra={"error_class": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.gauge_refresh_s)

    def stop(self) -> None:
        self._stopping.set()
        self.processor.stop()

    async def run(self) -> None:
        """Run until :meth:`stop`; the HTTP API is up before the consumer joins its group."""
        server: EmbeddedServer | None = None
        server_task: asyncio.Task[None] | None = None
        if self.serve_http:
            config = uvicorn.Config(
                self.app,
                host=self.settings.http_host,
                port=self.settings.http_port,
                log_config=None,
                access_log=False,
            )
            server = EmbeddedServer(config)
            server_task = asyncio.create_task(server.serve())
            while not server.started:
                if server_task.done():
                    server_task.result()  # surfaces a bind error
                await asyncio.sleep(0.01)
            _log.info("http api listening", extra={"port": self.settings.http_port})
        ops: OpsServer | None = None
        if self.settings.ops_port is not None:
            ops = OpsServer(
                self.health, self.metrics, host=self.settings.ops_host, port=self.settings.ops_port
            )
            await ops.start()
        gauges_task = asyncio.create_task(self._refresh_gauges_forever())
        try:
            await self.processor.run()
        finally:
            self._stopping.set()
            gauges_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges_task
            if server is not None and server_task is not None:
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await server_task
            if ops is not None:
                await ops.stop()
            self.store.close()


async def run_service(
    settings: EvaluationSettings | None = None, kafka: KafkaSettings | None = None
) -> None:
    """Run the service until SIGINT or SIGTERM."""
    service = EvaluationService(settings, kafka)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, service.stop)
    await service.run()
