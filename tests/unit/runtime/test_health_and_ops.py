"""Health state, Prometheus exposition and the ops HTTP routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.runtime.health import Health
from services.runtime.metrics import ServiceMetrics
from services.runtime.ops_http import ops_routes


def test_not_ready_until_told_and_unready_while_a_component_is_unhealthy() -> None:
    health = Health()
    assert health.report().ready is False
    health.set_ready(True)
    assert health.report().ready is True
    health.set_unhealthy("breaker", "invalid-share-above-threshold")
    report = health.report()
    assert report.ready is False
    assert report.live is True
    assert report.reasons == ("breaker: invalid-share-above-threshold",)
    health.clear("breaker")
    assert health.report().ready is True


def test_a_stalled_loop_is_not_live() -> None:
    health = Health(stall_after_s=0.0)
    health.set_ready(True)
    health._last_beat -= 1.0
    report = health.report()
    assert report.live is False
    assert report.ready is False


def test_ops_routes_answer_health_and_metrics() -> None:
    health = Health()
    metrics = ServiceMetrics(service="intake")
    metrics.dead_lettered.labels(reason="json_invalid").inc(2)
    client = TestClient(Starlette(routes=ops_routes(health, metrics)))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    health.set_ready(True)
    assert client.get("/readyz").json() == {"ready": True, "reasons": []}
    body = client.get("/metrics").text
    assert 'peerlink_records_dead_lettered_total{reason="json_invalid"} 2.0' in body
    assert 'peerlink_service_info{service="intake"} 1.0' in body


def test_each_service_has_its_own_registry() -> None:
    first = ServiceMetrics(service="a")
    second = ServiceMetrics(service="b")
    first.duplicates.inc()
    assert b"peerlink_duplicates_dropped_total 1.0" in first.exposition()
    assert b"peerlink_duplicates_dropped_total 0.0" in second.exposition()
