"""HTTP intake for peer apps that cannot speak Kafka: ``POST /v1/events`` and ``:batch``.

Order of checks, so that an unauthenticated client learns nothing and costs little:
401 (missing/unknown bearer token) -> 429 (per-token bucket) -> 413 (``Content-Length``,
then the bytes actually read) -> 400 (not UTF-8 / not JSON) -> 403 (an event or its source
names another programme than the token's) -> 422 (field-level reasons) -> 409 (the event id
was already accepted with different content) -> 202.

202 is returned only after every accepted event is acknowledged by Kafka (acks=all), with the
event ids; a resend of an event already published within the window is reported as
``duplicate`` and not published again. A batch is validated item by item: the valid ones are
published and the response lists which were accepted and which rejected, and why. A batch
with any item for another programme is refused as a whole (403), nothing is published.

Only ``/healthz`` and ``/readyz`` answer without a token; ``/metrics`` needs any valid bearer
token and the OpenAPI document is served at ``/v1/openapi.json`` to authenticated clients (and
by ``peerlink intake openapi``).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter

from schemas.events import (
    AppointmentRecordedEvent,
    ClinicalResultReportedEvent,
    ConsentChangedEvent,
    ParticipantEnrolledEvent,
    ParticipantExitedEvent,
    PeerContactLoggedEvent,
)
from services.intake.auth import TokenAuthenticator, TokenBucketLimiter
from services.intake.metrics import IntakeMetrics
from services.intake.programmes import programme_source
from services.intake.rejection import ReasonCode, Rejection, conflicting_id
from services.intake.service import IntakeDomain, event_record
from services.intake.submission import Accepted, decode_json
from services.runtime import (
    Health,
    KafkaSettings,
    OutRecord,
    create_producer,
    get_logger,
    ops_routes,
    send_all,
)

__all__ = ["EventPublisher", "build_openapi", "create_app"]

_log = get_logger("peerlink.intake.http")
_SINGLE: Final = "/v1/events"
_BATCH: Final = "/v1/events:batch"
_REASON_VALUES: Final = frozenset(code.value for code in ReasonCode)


# --------------------------------------------------------------------------- response models


class ErrorItem(BaseModel):
    loc: str = Field(description="Dotted location of the field, e.g. data.measurement.value")
    type: str = Field(description="Error type, e.g. missing, int_parsing, value_error")
    msg: str = Field(description="What is wrong; input values are never quoted")


class Problem(BaseModel):
    code: str = Field(description="Coded reason, e.g. invalid_event, unknown_programme")
    reason: str
    errors: list[ErrorItem] = Field(default_factory=list)


class SubmitResponse(BaseModel):
    event_id: str
    duplicate: bool = Field(description="Already published within the window; not resent")


class AcceptedItem(SubmitResponse):
    index: int


class RejectedItem(Problem):
    index: int


class BatchResponse(BaseModel):
    accepted: list[AcceptedItem]
    rejected: list[RejectedItem]


_UNAUTHORISED: Final = Problem(
    code="unauthorised", reason="unauthorised: a valid programme bearer token is required"
)


def _errors(rejection: Rejection) -> list[ErrorItem]:
    return [ErrorItem(loc=e.loc, type=e.type, msg=e.msg) for e in rejection.errors]


def _problem(rejection: Rejection) -> Problem:
    return Problem(code=rejection.code.value, reason=rejection.reason, errors=_errors(rejection))


# --------------------------------------------------------------------------- publishing


class EventPublisher:
    """Publishes accepted events and returns once Kafka has acknowledged all of them."""

    def __init__(self, kafka: KafkaSettings, *, producer: AIOKafkaProducer | None = None) -> None:
        self.kafka = kafka
        self._producer = producer
        self._owns = producer is None

    async def start(self) -> None:
        if self._producer is None:
            self._producer = create_producer(self.kafka, client_suffix="intake-http")
        if self._owns:
            await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None and self._owns:
            await self._producer.stop()

    async def publish(self, records: Sequence[OutRecord], *, timeout_s: float) -> None:
        if self._producer is None:
            raise RuntimeError("publisher not started")
        async with asyncio.timeout(timeout_s):
            await send_all(self._producer, self.kafka, records)


# --------------------------------------------------------------------------- OpenAPI

_SUBMISSION_MODELS = (
    ParticipantEnrolledEvent,
    ConsentChangedEvent,
    ParticipantExitedEvent,
    PeerContactLoggedEvent,
    ClinicalResultReportedEvent,
    AppointmentRecordedEvent,
)


def _submission_schemas() -> dict[str, Any]:
    union = Annotated[
        ParticipantEnrolledEvent
        | ConsentChangedEvent
        | ParticipantExitedEvent
        | PeerContactLoggedEvent
        | ClinicalResultReportedEvent
        | AppointmentRecordedEvent,
        Field(discriminator="type"),
    ]
    schema = TypeAdapter(union).json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs")
    for model in _SUBMISSION_MODELS:
        definition = definitions[model.__name__]
        # Submissions may omit these: intake derives the id and sets the token's source.
        definition["required"] = [
            name for name in definition.get("required", []) if name not in ("id", "source")
        ]
    definitions["Submission"] = schema
    return definitions


def build_openapi(app: FastAPI, *, max_batch: int) -> dict[str, Any]:
    document = get_openapi(
        title="PeerLink intake",
        version=app.version,
        description=(app.description or ""),
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(_submission_schemas())
    components["schemas"]["SubmissionBatch"] = {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_batch,
                "items": {"$ref": "#/components/schemas/Submission"},
            }
        },
    }
    components["securitySchemes"] = {
        "programmeToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "One token per programme; it may only submit for that programme.",
        }
    }
    return copy.deepcopy(document)


def _body_doc(schema: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        "security": [{"programmeToken": []}],
    }


def _responses(success: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {
        202: {"model": success, "description": "Accepted: durably in Kafka"},
        400: {"model": Problem, "description": "Not UTF-8 or not JSON"},
        401: {"model": Problem, "description": "Missing or unknown bearer token"},
        403: {"model": Problem, "description": "The token may not submit for that programme"},
        409: {
            "model": Problem,
            "description": "The event id was already accepted with different content",
        },
        413: {"model": Problem, "description": "Body above the size limit (or too many events)"},
        422: {
            "model": success if success is BatchResponse else Problem,
            "description": "Field-level reasons",
        },
        429: {"model": Problem, "description": "Rate limit exceeded; see Retry-After"},
        503: {"model": Problem, "description": "Kafka unavailable; retry later"},
    }


# --------------------------------------------------------------------------- the app


class _Refused(Exception):
    """Control flow: becomes the HTTP error response ``status`` with ``problem``."""

    def __init__(self, status: int, problem: Problem, headers: dict[str, str] | None = None):
        super().__init__(problem.reason)
        self.status = status
        self.problem = problem
        self.headers = headers or {}


def _refused(status: int, code: str, reason: str, **headers: str) -> _Refused:
    return _Refused(status, Problem(code=code, reason=reason), headers or None)


class _IntakeApi:
    def __init__(
        self,
        *,
        domain: IntakeDomain,
        publisher: EventPublisher,
        metrics: IntakeMetrics,
        health: Health,
    ) -> None:
        settings = domain.settings
        self.domain = domain
        self.settings = settings
        self.publisher = publisher
        self.metrics = metrics
        self.health = health
        self.auth = TokenAuthenticator(settings.token_hashes())
        self.limiter = TokenBucketLimiter(
            rate_per_s=settings.http_rate_per_s, burst=settings.http_rate_burst
        )

    # ---- request-level checks

    def authorise(self, request: Request) -> str:
        programme = self.auth.programme_for(request.headers.get("authorization"))
        if programme is None:
            raise _Refused(401, _UNAUTHORISED, {"WWW-Authenticate": "Bearer"})
        if programme not in self.domain.registry:
            raise _refused(403, "unknown_programme", "the token's programme is not registered")
        wait = self.limiter.acquire(programme)
        if wait > 0:
            raise _refused(
                429,
                "rate_limited",
                "too many requests for this token",
                **{"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return programme

    async def read_body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _refused(400, "bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise _refused(413, "too_large", f"body exceeds the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # a missing or lying Content-Length does not get past the limit
                raise _refused(413, "too_large", f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def parse(self, body: bytes, limit: int) -> Any:
        parsed = decode_json(body, max_bytes=limit)
        if isinstance(parsed, Rejection):
            raise _Refused(400, _problem(parsed))
        return parsed

    # ---- items

    def check_programme(self, item: Any, programme: str) -> None:
        """Refuse (403) an item that names another programme, before validating it."""
        if not isinstance(item, dict):
            return
        source = item.get("source")
        if (
            source is not None
            and source != programme_source(programme)
            and not (
                isinstance(source, str) and source.startswith(programme_source(programme) + "/")
            )
        ):
            raise _refused(
                403,
                ReasonCode.FORBIDDEN_PROGRAMME.value,
                "forbidden_programme: source does not belong to the token's programme",
            )
        data = item.get("data")
        if isinstance(data, dict) and "programme_id" in data and data["programme_id"] != programme:
            raise _refused(
                403,
                ReasonCode.FORBIDDEN_PROGRAMME.value,
                "forbidden_programme: data.programme_id is not the token's programme",
            )

    def validate(self, item: Any, programme: str) -> Accepted | Rejection:
        return self.domain.validator.from_object(item, default_source=programme_source(programme))

    async def publish(self, accepted: Sequence[Accepted]) -> None:
        if not accepted:
            return
        started = time.perf_counter()
        try:
            await self.publisher.publish(
                [event_record(a) for a in accepted], timeout_s=self.settings.http_publish_timeout_s
            )
        except (KafkaError, TimeoutError, RuntimeError) as exc:
            self.health.set_unhealthy("http_publish", "events not acknowledged by Kafka")
            _log.warning(
                "publishing failed",
                extra={"error_class": type(exc).__name__, "count": len(accepted)},
            )
            raise _refused(
                503,
                "unavailable",
                "not every event was acknowledged by Kafka; resend the request (events keep "
                "their ids, so a resend is deduplicated, never doubled)",
                **{"Retry-After": "5"},
            ) from None
        self.health.clear("http_publish")
        self.metrics.http_publish_seconds.observe(time.perf_counter() - started)
        for item in accepted:
            self.domain.dedup.remember(item.event_id, digest=item.digest)
        self.metrics.accepted.labels(input="http").inc(len(accepted))

    def reject_metric(self, rejection: Rejection) -> None:
        self.metrics.rejected.labels(input="http", reason=rejection.code.value).inc()

    # ---- endpoints

    async def single(self, request: Request) -> Response:
        programme = self.authorise(request)
        limit = min(self.settings.http_max_body_bytes, self.settings.max_message_bytes)
        item = self.parse(await self.read_body(request, limit), limit)
        self.check_programme(item, programme)
        outcome = self.validate(item, programme)
        if isinstance(outcome, Rejection):
            self.reject_metric(outcome)
            return _json(422, _problem(outcome))
        if self.domain.dedup.conflicts(outcome.event_id, outcome.digest):
            conflict = conflicting_id()
            self.reject_metric(conflict)
            return _json(409, _problem(conflict))
        duplicate = self.domain.dedup.is_duplicate(outcome.event_id)
        if duplicate:
            self.metrics.count_duplicate("http")
        else:
            await self.publish([outcome])
        _log.info("event accepted", extra={"event_id": outcome.event_id, "programme": programme})
        return _json(202, SubmitResponse(event_id=outcome.event_id, duplicate=duplicate))

    async def batch(self, request: Request) -> Response:
        programme = self.authorise(request)
        limit = self.settings.http_max_body_bytes
        body = self.parse(await self.read_body(request, limit), limit)
        items = body.get("events") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or set(body) != {"events"}:
            problem = Problem(
                code=ReasonCode.INVALID_EVENT.value,
                reason='invalid_event: the body must be {"events": [submission, ...]} with at '
                "least one submission and no other field",
                errors=[
                    ErrorItem(loc="events", type="batch_shape", msg="expected a non-empty array")
                ],
            )
            return _json(422, problem)
        if len(items) > self.settings.http_max_batch:
            raise _refused(
                413,
                "too_many_events",
                f"a batch holds at most {self.settings.http_max_batch} events",
            )
        for item in items:
            self.check_programme(item, programme)
        fresh: list[Accepted] = []
        accepted: list[AcceptedItem] = []
        rejected: list[RejectedItem] = []
        in_batch: set[str] = set()
        for index, item in enumerate(items):
            outcome = self.validate(item, programme)
            if not isinstance(outcome, Rejection) and self.domain.dedup.conflicts(
                outcome.event_id, outcome.digest
            ):
                outcome = conflicting_id()
            if isinstance(outcome, Rejection):
                self.reject_metric(outcome)
                rejected.append(
                    RejectedItem(
                        index=index,
                        code=outcome.code.value,
                        reason=outcome.reason,
                        errors=_errors(outcome),
                    )
                )
                continue
            duplicate = outcome.event_id in in_batch or self.domain.dedup.is_duplicate(
                outcome.event_id
            )
            if duplicate:
                self.metrics.count_duplicate("http")
            else:
                fresh.append(outcome)
                in_batch.add(outcome.event_id)
            accepted.append(
                AcceptedItem(index=index, event_id=outcome.event_id, duplicate=duplicate)
            )
        await self.publish(fresh)
        if accepted:
            _log.info(
                "batch accepted",
                extra={
                    "event_ids": [a.event_id for a in accepted],
                    "rejected": len(rejected),
                    "programme": programme,
                },
            )
        status = 202 if accepted else 422
        return _json(status, BatchResponse(accepted=accepted, rejected=rejected))


def _json(status: int, model: BaseModel, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


def create_app(
    *,
    domain: IntakeDomain,
    publisher: EventPublisher,
    metrics: IntakeMetrics,
    health: Health,
    manage_publisher: bool = True,
) -> FastAPI:
    """The intake HTTP app. With ``manage_publisher`` its lifespan starts/stops the publisher."""
    api = _IntakeApi(domain=domain, publisher=publisher, metrics=metrics, health=health)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_publisher:
            await publisher.start()
        try:
            yield
        finally:
            if manage_publisher:
                await publisher.stop()

    app = FastAPI(
        title="PeerLink intake",
        version=domain.settings.service_version,
        description=__doc__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    async def guarded(route: str, handler: Any, request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except _Refused as refused:
            if refused.problem.code in _REASON_VALUES:  # a submission problem, not auth/limits
                metrics.rejected.labels(input="http", reason=refused.problem.code).inc()
            response = _json(refused.status, refused.problem, refused.headers)
        metrics.http_requests.labels(route=route, status=str(response.status_code)).inc()
        return response

    @app.post(
        _SINGLE,
        status_code=202,
        responses=_responses(SubmitResponse),
        openapi_extra=_body_doc("Submission"),
        summary="Submit one event",
    )
    async def submit(request: Request) -> Response:
        return await guarded(_SINGLE, api.single, request)

    @app.post(
        _BATCH,
        status_code=202,
        responses=_responses(BatchResponse),
        openapi_extra=_body_doc("SubmissionBatch"),
        summary="Submit up to the configured number of events",
    )
    async def submit_batch(request: Request) -> Response:
        return await guarded(_BATCH, api.batch, request)

    @app.get("/v1/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        if api.auth.programme_for(request.headers.get("authorization")) is None:
            return _json(401, _UNAUTHORISED, {"WWW-Authenticate": "Bearer"})
        return JSONResponse(build_openapi(app, max_batch=domain.settings.http_max_batch))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        # Unlike the other services' ops ports, this app faces peer apps: metrics need a token.
        if api.auth.programme_for(request.headers.get("authorization")) is None:
            return _json(401, _UNAUTHORISED, {"WWW-Authenticate": "Bearer"})
        return Response(metrics.base.exposition(), media_type="text/plain; version=0.0.4")

    for route in ops_routes(health, metrics.base):
        if route.path != "/metrics":
            app.router.routes.append(route)
    return app
