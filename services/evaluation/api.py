"""HTTP JSON API of the evaluation service (FastAPI, OpenAPI at ``/docs``).

``GET /v1/programmes/{id}/metrics?from=&to=&model=`` answers the figures of one programme.
Bad parameters are a 400 whose ``reason`` names the parameter (never echoing a value), an
unknown programme a 404. Figures are computed on a worker thread so a long computation does
not stall the consumer sharing the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from schemas.vocabulary import SupportModel
from services.evaluation.metrics import Period, compute_metrics, default_period
from services.evaluation.model import ProgrammeMetrics
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore
from services.runtime import Health, ServiceMetrics, ops_routes

__all__ = ["ApiError", "ProgrammeList", "ProgrammeSummary", "create_app"]


class ApiError(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    error: str
    """``bad_request`` or ``not_found``."""
    reason: str
    """What was wrong, naming the parameter."""


class ProgrammeSummary(BaseModel):
    programme_id: str
    models: list[str]
    """Peer-support models seen in the programme's events."""


class ProgrammeList(BaseModel):
    programmes: list[ProgrammeSummary]


def _error(status: int, error: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


def _validation_reason(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _period(
    store: EvaluationStore, start: date | None, end: date | None
) -> tuple[Period | None, str | None]:
    data = default_period(store.extent())
    low = start or (min(data.start, end) if end else data.start)
    high = end or max(data.end, low)
    if low > high:
        return None, f"from ({low}) is after to ({high})"
    return Period(low, high), None


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "A parameter is malformed or out of range."},
    404: {"model": ApiError, "description": "No event of this programme has been seen."},
}


def create_app(
    store: EvaluationStore,
    settings: EvaluationSettings,
    *,
    health: Health | None = None,
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """The API app; ops routes (``/healthz``, ``/readyz``, ``/metrics``) when given health."""
    app = FastAPI(
        title="PeerLink evaluation",
        version="1",
        description=(
            "Reach, dose, linkage to care and outcomes of diabetes peer-support programmes, "
            "per programme and peer-support model. Figures resting on fewer than "
            f"{settings.min_cell} participants are suppressed. Outcomes are observational."
        ),
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "bad_request", _validation_reason(exc))

    @app.get("/v1/programmes", response_model=ProgrammeList, summary="Programmes in the store")
    async def list_programmes() -> ProgrammeList:
        found = await asyncio.to_thread(store.programmes)
        return ProgrammeList(
            programmes=[ProgrammeSummary(programme_id=p, models=m) for p, m in found.items()]
        )

    @app.get(
        "/v1/programmes/{programme_id}/metrics",
        response_model=ProgrammeMetrics,
        responses=_ERRORS,
        summary="Reach, dose, linkage and outcomes of one programme",
    )
    async def programme_metrics(
        programme_id: Annotated[
            str, Path(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
        ],
        start: Annotated[
            date | None,
            Query(
                alias="from",
                description="First day (YYYY-MM-DD, UTC), inclusive; default: first data day.",
            ),
        ] = None,
        end: Annotated[
            date | None,
            Query(
                alias="to",
                description="Last day (YYYY-MM-DD, UTC), inclusive; default: last data day.",
            ),
        ] = None,
        model: Annotated[
            SupportModel | None,
            Query(description="Restrict to one peer-support model; default: all, plus a split."),
        ] = None,
    ) -> ProgrammeMetrics | JSONResponse:
        programmes = await asyncio.to_thread(store.programmes)
        if programme_id not in programmes:
            return _error(404, "not_found", "unknown programme")
        period, problem = _period(store, start, end)
        if period is None:
            return _error(400, "bad_request", problem or "bad period")

        def compute() -> ProgrammeMetrics:
            return compute_metrics(
                store.load(programme_id),
                period=period,
                programme_id=programme_id,
                model=model.value if model else None,
                min_cell=settings.min_cell,
                evidence_window_days=settings.evidence_window_days,
            )

        return await asyncio.to_thread(compute)

    if health is not None and metrics is not None:
        for route in ops_routes(health, metrics):
            app.router.routes.append(route)
    return app
