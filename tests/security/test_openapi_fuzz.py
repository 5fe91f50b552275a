"""The HTTP intake fuzzed from its own OpenAPI document (schemathesis): never a 5xx.

The app is the real one (``create_app``) with a publisher that acknowledges without Kafka, so
every generated request reaches validation; both operations are fuzzed with and without a
valid token, including schemathesis' negative (schema-violating) cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from services.intake.http_api import EventPublisher, create_app
from services.intake.metrics import IntakeMetrics
from services.intake.service import IntakeDomain
from services.runtime import Health, KafkaSettings, OutRecord, ServiceMetrics
from tests.unit.intake import examples as ex

AUTH = {"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}


class _Acknowledging(EventPublisher):
    def __init__(self) -> None:
        super().__init__(KafkaSettings())
        self.count = 0

    async def publish(self, records: Sequence[OutRecord], *, timeout_s: float) -> None:
        self.count += len(records)


APP = create_app(
    domain=IntakeDomain.from_settings(
        ex.settings(http_rate_per_s=1_000_000.0, http_rate_burst=1_000_000)
    ),
    publisher=_Acknowledging(),
    metrics=IntakeMetrics(base=ServiceMetrics(service="intake-fuzz")),
    health=Health(),
    manage_publisher=False,
)


def _document() -> dict[str, Any]:
    import asyncio

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            response = await client.get("/v1/openapi.json", headers=AUTH)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return asyncio.run(fetch())


SCHEMA = schemathesis.openapi.from_dict(_document())
SCHEMA.app = APP


@SCHEMA.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_with_a_token(case: Any) -> None:
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    assert response.status_code in (202, 400, 401, 403, 405, 409, 413, 415, 422), (
        response.status_code
    )


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_nothing_without_a_token(case: Any) -> None:
    response = case.call(headers={"Authorization": "Bearer nope"})
    assert response.status_code in (401, 405)
