"""The operations endpoints every service serves: liveness, readiness and metrics.

``/healthz`` is 200 while the processing loop makes progress, ``/readyz`` is 200 when the
service can do its work (broker reachable, no breaker open), ``/metrics`` is Prometheus text.
Services with their own HTTP API (intake, evaluation) mount these routes on their app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.runtime.health import Health
from services.runtime.metrics import ServiceMetrics

__all__ = ["EmbeddedServer", "OpsServer", "ops_routes"]


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside the service's loop: signals stay with the service, which stops all."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def ops_routes(health: Health, metrics: ServiceMetrics) -> list[Route]:
    async def healthz(_: Request) -> Response:
        report = health.report()
        body = {"live": report.live, "seconds_since_beat": report.seconds_since_beat}
        return JSONResponse(body, status_code=200 if report.live else 503)

    async def readyz(_: Request) -> Response:
        report = health.report()
        body = {"ready": report.ready, "reasons": list(report.reasons)}
        return JSONResponse(body, status_code=200 if report.ready else 503)

    async def prometheus(_: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]


class OpsServer:
    """Serves the ops routes in the service's event loop (uvicorn, no extra thread)."""

    def __init__(self, health: Health, metrics: ServiceMetrics, *, host: str, port: int) -> None:
        app = Starlette(routes=ops_routes(health, metrics))
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        self._server = EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # surfaces a bind error
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
