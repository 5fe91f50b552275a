"""The JSON log formatter keeps PHI out: only whitelisted fields reach a log line."""

from __future__ import annotations

import json
import logging

import pytest

from services.runtime.logging import JsonFormatter, hash_key


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": "processed"})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_allowed_fields_are_written_as_json() -> None:
    line = JsonFormatter("intake").format(_record(event_id="evt-1", count=3))
    parsed = json.loads(line)
    assert parsed["event_id"] == "evt-1"
    assert parsed["count"] == 3
    assert parsed["service"] == "intake"


def test_unknown_fields_are_dropped() -> None:
    line = JsonFormatter("intake").format(_record(name_of_patient="Jane Doe", payload="{...}"))
    assert "Jane" not in line
    assert "payload" not in line


def test_strict_mode_fails_loudly_on_unknown_fields() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        JsonFormatter("intake", strict=True).format(_record(note="free text"))


def test_exceptions_log_their_class_not_their_message() -> None:
    try:
        raise ValueError("input_value='Jane Doe'")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    line = JsonFormatter("intake").format(record)
    assert json.loads(line)["error_class"] == "ValueError"
    assert "Jane" not in line


def test_hash_key_is_stable_short_and_one_way() -> None:
    assert hash_key("p-000123") == hash_key(b"p-000123")
    assert hash_key("p-000123") != hash_key("p-000124")
    assert len(hash_key("p-000123")) == 16
    assert "000123" not in hash_key("p-000123")
    assert hash_key(None) == "-"
