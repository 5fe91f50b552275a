"""The HTTP API (status codes, parameters, OpenAPI) and the Prometheus headline gauges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from schemas.events import Event
from services.evaluation.api import create_app
from services.evaluation.gauges import HeadlineGauges, refresh_gauges
from services.evaluation.sample import sample_events
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore
from services.runtime import Health, ServiceMetrics


@pytest.fixture
def store(tmp_path: Path, events: list[Event]) -> Iterator[EvaluationStore]:
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        store.ingest(events)
        yield store


@pytest.fixture
def client(store: EvaluationStore) -> TestClient:
    settings = EvaluationSettings(min_cell=1)
    health = Health()
    health.set_ready(True)
    app = create_app(store, settings, health=health, metrics=ServiceMetrics(service="evaluation"))
    return TestClient(app)


def test_metrics_of_a_programme(client: TestClient) -> None:
    response = client.get("/v1/programmes/prog-a/metrics?from=2026-01-01&to=2026-06-30")
    assert response.status_code == 200
    body = response.json()
    assert body["programme_id"] == "prog-a"
    assert body["period_from"] == "2026-01-01"
    assert body["overall"]["reach"]["enrolled"] == {
        "value": 7.0,
        "n": 7,
        "count": None,
        "numerator": None,
        "suppressed": False,
    }
    assert set(body["by_model"]) == {"community_health_worker", "peer_coach"}


def test_model_filter(client: TestClient) -> None:
    response = client.get(
        "/v1/programmes/prog-a/metrics?from=2026-01-01&to=2026-06-30&model=peer_coach"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "peer_coach"
    assert body["overall"]["reach"]["enrolled"]["value"] == 1
    assert body["by_model"] == {}


def test_default_period_is_all_the_data(client: TestClient, events: list[Event]) -> None:
    body = client.get("/v1/programmes/prog-a/metrics").json()
    assert body["period_from"] == min(e.time for e in events).date().isoformat()
    assert body["period_to"] == max(e.time for e in events).date().isoformat()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("model=astrology", "model"),
        ("from=2026-06-30&to=2026-01-01", "after"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(client: TestClient, query: str, reason: str) -> None:
    response = client.get(f"/v1/programmes/prog-a/metrics?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert reason in body["reason"]


def test_unknown_programme_is_404(client: TestClient) -> None:
    response = client.get("/v1/programmes/prog-zz/metrics")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "reason": "unknown programme"}


def test_programme_list_openapi_and_ops_routes(client: TestClient) -> None:
    assert client.get("/v1/programmes").json() == {
        "programmes": [
            {"programme_id": "prog-a", "models": ["community_health_worker", "peer_coach"]},
            {"programme_id": "prog-b", "models": ["community_health_worker"]},
        ]
    }
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/programmes/{programme_id}/metrics"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"programme_id", "from", "to", "model"}
    assert {"200", "400", "404"} <= set(operation["responses"])
    # Metric definitions travel with the schema.
    dose = spec["components"]["schemas"]["Dose"]["properties"]
    assert "participant-weeks" in dose["weekly_contact_share"]["description"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_headline_gauges_carry_programme_and_model_labels_only(tmp_path: Path) -> None:
    metrics = ServiceMetrics(service="evaluation")
    gauges = HeadlineGauges(metrics.registry)
    with EvaluationStore(tmp_path / "eval.sqlite3") as store:
        store.ingest(sample_events(120, seed=3))
        assert refresh_gauges(store, gauges, EvaluationSettings()) == 6
    text = metrics.exposition().decode()
    lines = [line for line in text.splitlines() if line.startswith("peerlink_evaluation_enrolled{")]
    # 120 participants over six programmes, one model each: 20 per programme, shown
    # for the programme ("all") and its single model.
    assert 'peerlink_evaluation_enrolled{model="all",programme="prog-chw-east"} 20.0' in lines
    assert (
        'peerlink_evaluation_enrolled{model="community_health_worker",programme="prog-chw-east"}'
        " 20.0" in lines
    )
    assert len(lines) == 12
    for line in text.splitlines():
        if line.startswith("peerlink_evaluation_") and "{" in line:
            labels = line[line.index("{") + 1 : line.index("}")]
            assert {part.split("=")[0] for part in labels.split(",")} == {"model", "programme"}
    assert "syn-" not in text


def test_suppressed_figures_have_no_gauge_sample(store: EvaluationStore) -> None:
    metrics = ServiceMetrics(service="evaluation")
    gauges = HeadlineGauges(metrics.registry)
    refresh_gauges(store, gauges, EvaluationSettings(min_cell=11))
    text = metrics.exposition().decode()
    # prog-a has 7 participants, below 11: no enrolled sample at all.
    assert 'peerlink_evaluation_enrolled{model="all",programme="prog-a"}' not in text
    refresh_gauges(store, gauges, EvaluationSettings(min_cell=1))
    text = metrics.exposition().decode()
    # Over all stored data (2025-10-01 .. 2026-07-05) P5 and P6 are in the cohort too.
    assert 'peerlink_evaluation_enrolled{model="all",programme="prog-a"} 9.0' in text
