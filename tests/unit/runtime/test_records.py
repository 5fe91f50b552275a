"""Dead-letter records and retry policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.runtime.records import DLQ_HEADERS, RetryPolicy, dead_letter


def test_dead_letter_keeps_original_bytes_key_and_headers_and_adds_reasons() -> None:
    record = dead_letter(
        dlq_topic="peer.intake.dlq",
        original_topic="peer.intake.raw",
        partition=2,
        offset=41,
        key=b"p-1",
        value=b"\xff\xfenot json",
        headers=[("traceparent", b"00-abc"), ("x-dlq-reason", b"stale")],
        reason="json_invalid at $",
        error_class="ValidationError",
        attempts=1,
        service="intake",
        service_version="0.1.0",
        failed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert record.value == b"\xff\xfenot json"
    assert record.key == b"p-1"
    headers = dict(record.headers)
    assert headers["traceparent"] == b"00-abc"
    assert headers["x-dlq-reason"] == b"json_invalid at $"
    assert headers["x-dlq-original-offset"] == b"41"
    assert headers["x-dlq-original-partition"] == b"2"
    assert headers["x-dlq-failed-at"] == b"2026-01-01T00:00:00+00:00"
    assert [k for k, _ in record.headers if k == "x-dlq-reason"] == ["x-dlq-reason"]
    assert set(DLQ_HEADERS) <= set(headers)


@pytest.mark.parametrize(("attempt", "delay"), [(1, 0.2), (2, 0.4), (3, 0.8), (10, 10.0)])
def test_retry_backoff_grows_and_is_bounded(attempt: int, delay: float) -> None:
    assert RetryPolicy().delay(attempt) == pytest.approx(delay)
