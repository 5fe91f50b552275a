"""HTTP intake without a broker: auth, programme isolation, limits, batch partial failure.

The publisher is a stand-in that records what would be sent; the 202 path against a real
broker is in tests/integration/intake/test_intake_http.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

from schemas.events import parse_event
from services.intake.http_api import EventPublisher, create_app
from services.intake.metrics import IntakeMetrics
from services.intake.service import IntakeDomain
from services.runtime import Health, KafkaSettings, OutRecord, ServiceMetrics
from tests.unit.intake import examples as ex

CHW = {"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}
TPP = {"Authorization": f"Bearer {ex.TOKENS[ex.OTHER_PROGRAMME]}"}


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        super().__init__(KafkaSettings())
        self.sent: list[OutRecord] = []
        self.fail = False

    async def publish(self, records: Sequence[OutRecord], *, timeout_s: float) -> None:
        if self.fail:
            raise KafkaConnectionError()
        self.sent.extend(records)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def client(
    publisher: RecordingPublisher, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    overrides = getattr(request, "param", {})
    domain = IntakeDomain.from_settings(ex.settings(**overrides))
    app = create_app(
        domain=domain,
        publisher=publisher,
        metrics=IntakeMetrics(base=ServiceMetrics(service="intake-http-test")),
        health=Health(),
        manage_publisher=False,
    )
    async with _client(app) as c:
        yield c


def _submission(**kw: Any) -> dict[str, Any]:
    submission = ex.contact(**kw)
    del submission["source"]
    return submission


async def test_single_event_is_accepted_with_its_id(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    response = await client.post("/v1/events", json=_submission(), headers=CHW)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["duplicate"] is False
    (record,) = publisher.sent
    assert record.value is not None
    event = parse_event(record.value)
    assert event.id == body["event_id"]
    assert event.source == f"peerlink://programme/{ex.PROGRAMME}"
    assert record.key == b"p-000123"
    assert record.topic == "peer.events.v1"


async def test_resend_is_reported_as_duplicate_and_not_published_again(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    first = await client.post("/v1/events", json=_submission(), headers=CHW)
    again = await client.post("/v1/events", json=_submission(), headers=CHW)
    assert again.status_code == 202
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    assert len(publisher.sent) == 1


async def test_other_content_under_a_published_id_is_409(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    first = await client.post("/v1/events", json={**_submission(), "id": "e-409"}, headers=CHW)
    assert first.status_code == 202
    changed = {**_submission(), "id": "e-409"}
    changed["data"] = {**changed["data"], "duration_min": 7}
    again = await client.post("/v1/events", json=changed, headers=CHW)
    assert again.status_code == 409
    assert again.json()["code"] == "conflicting_id"
    assert len(publisher.sent) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic Y2h3LXNlY3JldA=="},
        {"Authorization": "chw-secret"},
    ],
    ids=["missing", "unknown", "basic", "no-scheme"],
)
async def test_missing_or_bad_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/v1/events", "/v1/events:batch"):
        response = await client.post(path, json=_submission(), headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "unauthorised"


async def test_token_may_not_submit_for_another_programme(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    response = await client.post("/v1/events", json=_submission(), headers=TPP)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_programme"
    foreign_source = {**ex.consent(), "source": f"peerlink://programme/{ex.PROGRAMME}"}
    response = await client.post("/v1/events", json=foreign_source, headers=TPP)
    assert response.status_code == 403
    batch = {
        "events": [ex.consent(source=f"peerlink://programme/{ex.OTHER_PROGRAMME}"), _submission()]
    }
    response = await client.post("/v1/events:batch", json=batch, headers=TPP)
    assert response.status_code == 403
    assert publisher.sent == []  # nothing of a refused batch is published


async def test_own_programme_source_with_a_sub_path_is_allowed(client: httpx.AsyncClient) -> None:
    submission = ex.consent(source=f"peerlink://programme/{ex.OTHER_PROGRAMME}/app-ios")
    response = await client.post("/v1/events", json=submission, headers=TPP)
    assert response.status_code == 202, response.text


async def test_body_size_limit_by_header_and_by_bytes(client: httpx.AsyncClient) -> None:
    big = json.dumps({"events": [_submission()] * 2000}).encode()
    response = await client.post(
        "/v1/events:batch", content=big, headers={**CHW, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(40):
            yield b" " * 32_768

    response = await client.post("/v1/events:batch", content=chunks(), headers=CHW)
    assert response.status_code == 413
    single = json.dumps({**_submission(), "pad": "x" * 70_000}).encode()
    response = await client.post("/v1/events", content=single, headers=CHW)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "client", [{"http_rate_per_s": 0.001, "http_rate_burst": 3}], indirect=True
)
async def test_rate_limit_per_token(client: httpx.AsyncClient) -> None:
    statuses = [
        (await client.post("/v1/events", json=_submission(duration=i), headers=CHW)).status_code
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    limited = await client.post("/v1/events", json=_submission(), headers=CHW)
    assert int(limited.headers["retry-after"]) >= 1
    # Another programme's token has its own bucket.
    other = await client.post(
        "/v1/events",
        json=ex.consent(source=f"peerlink://programme/{ex.OTHER_PROGRAMME}"),
        headers=TPP,
    )
    assert other.status_code == 202


async def test_syntax_errors_are_400_and_validation_errors_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", content=b"{oops", headers=CHW)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    response = await client.post("/v1/events", content=b"\xff\xfe{}", headers=CHW)
    assert (response.status_code, response.json()["code"]) == (400, "not_utf8")
    bad = _submission()
    bad["data"]["duration_min"] = "long"
    del bad["subject"]
    response = await client.post("/v1/events", json=bad, headers=CHW)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_event"
    assert {(e["loc"], e["type"]) for e in body["errors"]} == {
        ("subject", "missing"),
        ("data.duration_min", "int_parsing"),
    }
    assert "long" not in response.text


async def test_batch_partial_failure_reports_each_item(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    absurd = _submission()
    absurd["data"]["observations"][1]["value"] = 900  # 900 mmol/L glucose
    unknown_type = {"type": "peerlink.clock.tick", "data": {"partition": 0}}
    events = [
        _submission(duration=10),
        absurd,
        ex.exited(source=f"peerlink://programme/{ex.PROGRAMME}"),
        unknown_type,
        _submission(duration=10),
    ]
    response = await client.post("/v1/events:batch", json={"events": events}, headers=CHW)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [(a["index"], a["duplicate"]) for a in body["accepted"]] == [
        (0, False),
        (2, False),
        (4, True),
    ]
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "invalid_event"),
        (3, "type_not_accepted"),
    ]
    assert body["rejected"][0]["errors"][0]["loc"] == "data.observations.1.glucose"
    assert "900" not in json.dumps(body["rejected"])  # the reason never quotes the value
    assert [parse_event(r.value or b"").id for r in publisher.sent] == [
        body["accepted"][0]["event_id"],
        body["accepted"][1]["event_id"],
    ]


async def test_batch_with_nothing_valid_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events:batch", json={"events": [{"type": "x"}]}, headers=CHW)
    assert response.status_code == 422
    assert response.json()["accepted"] == []
    bodies: list[Any] = [{"events": []}, {"events": "x"}, [], {"events": [_submission()], "x": 1}]
    for body in bodies:
        response = await client.post("/v1/events:batch", json=body, headers=CHW)
        assert response.status_code == 422, body


@pytest.mark.parametrize("client", [{"http_max_batch": 3}], indirect=True)
async def test_too_many_events_in_a_batch(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/events:batch", json={"events": [_submission()] * 4}, headers=CHW
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_events"


async def test_kafka_failure_is_503_and_nothing_is_remembered(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    publisher.fail = True
    response = await client.post("/v1/events", json=_submission(), headers=CHW)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    publisher.fail = False
    response = await client.post("/v1/events", json=_submission(), headers=CHW)
    assert response.status_code == 202
    assert response.json()["duplicate"] is False


async def test_only_health_answers_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 503  # processor not running here
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=CHW)).status_code == 200
    assert (await client.get("/v1/openapi.json")).status_code == 401
    assert (await client.get("/docs")).status_code == 404
    assert (await client.get("/openapi.json")).status_code == 404


async def test_openapi_documents_both_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/openapi.json", headers=CHW)
    assert response.status_code == 200
    document = response.json()
    assert {"/v1/events", "/v1/events:batch"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert "id" not in schemas["PeerContactLoggedEvent"]["required"]
    assert schemas["SubmissionBatch"]["properties"]["events"]["maxItems"] == 100
    post = document["paths"]["/v1/events:batch"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "403", "413", "422", "429"}
    assert post["security"] == [{"programmeToken": []}]


async def test_metrics_count_http_outcomes(client: httpx.AsyncClient) -> None:
    await client.post("/v1/events", json=_submission(), headers=CHW)
    await client.post("/v1/events", content=b"{", headers=CHW)
    await client.post("/v1/events", json=_submission(), headers={})
    text = (await client.get("/metrics", headers=CHW)).text
    assert 'peerlink_intake_http_requests_total{route="/v1/events",status="202"} 1.0' in text
    assert 'peerlink_intake_http_requests_total{route="/v1/events",status="401"} 1.0' in text
    assert 'peerlink_intake_rejected_total{input="http",reason="invalid_json"} 1.0' in text
    assert 'peerlink_intake_accepted_total{input="http"} 1.0' in text
