"""One intake process: the Kafka processor and the HTTP API in one event loop.

Both share the domain (so the duplicate window spans HTTP and Kafka submissions), the health
state and the metrics registry. SIGTERM/SIGINT stop the processor after its current batch
(outputs acknowledged, offsets committed) and let uvicorn finish in-flight requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import uvicorn

from services.intake.http_api import EventPublisher, create_app
from services.intake.metrics import IntakeMetrics
from services.intake.service import IntakeDomain, build_processor
from services.intake.settings import IntakeSettings
from services.runtime import Health, KafkaSettings, OpsServer, ServiceMetrics, get_logger

__all__ = ["run_intake"]

_log = get_logger("peerlink.intake")


async def run_intake(
    *,
    settings: IntakeSettings,
    kafka: KafkaSettings,
    consume: bool = True,
    serve_http: bool = True,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or a termination signal arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    health = Health()
    metrics = ServiceMetrics(service=settings.service)
    intake_metrics = IntakeMetrics(base=metrics)
    domain = IntakeDomain.from_settings(settings)
    if not settings.programmes:
        _log.warning("no programmes registered: every programme submission will be rejected")

    tasks: list[asyncio.Task[None]] = []
    processor = None
    if consume:
        processor, _ = build_processor(
            settings=settings,
            kafka=kafka,
            health=health,
            metrics=metrics,
            domain=domain,
            intake_metrics=intake_metrics,
        )
        tasks.append(asyncio.create_task(processor.run(), name="intake-processor"))

    server: uvicorn.Server | None = None
    ops: OpsServer | None = None
    if serve_http:
        app = create_app(
            domain=domain,
            publisher=EventPublisher(kafka),
            metrics=intake_metrics,
            health=health,
        )
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,  # request outcomes are counted in metrics, not logged per line
        )
        # uvicorn captures SIGTERM/SIGINT while serving and re-raises them when it has shut
        # down; its task ending then stops the processor below.
        server = uvicorn.Server(config)
        tasks.append(asyncio.create_task(server.serve(), name="intake-http"))
        _log.info("http listening", extra={"port": settings.http_port})
    else:
        ops = OpsServer(health, metrics, host=settings.http_host, port=settings.http_port)
        await ops.start()
    if not consume:
        health.set_ready(True)  # HTTP only: ready once serving; the processor sets it otherwise

    stopper = asyncio.create_task(stop.wait(), name="intake-stop")
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper:
                task.result()  # surface a crash of either half
    finally:
        if processor is not None:
            processor.stop()
        if server is not None:
            server.should_exit = True
        if ops is not None:
            await ops.stop()
        stopper.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in installed:
            loop.remove_signal_handler(sig)
