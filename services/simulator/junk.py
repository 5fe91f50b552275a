"""Deliberately broken submissions, mixed into the valid stream to exercise the dead-letter path.

Junk is *extra*: the valid stream is never altered, so "every valid event reached the
engine" stays checkable. Each junk record is derived from the valid record just before it
(same key, same topic) and sent right after it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import orjson

from services.simulator.records import PEER_TOPIC, SimRecord

__all__ = ["JUNK_KINDS", "with_junk"]

_Mutator = Callable[[dict[str, Any], str], bytes]


def _truncated(envelope: dict[str, Any], junk_id: str) -> bytes:
    envelope["id"] = junk_id
    raw = orjson.dumps(envelope)
    return raw[: max(1, len(raw) // 2)]


def _unknown_field(envelope: dict[str, Any], junk_id: str) -> bytes:
    envelope["id"] = junk_id
    envelope.setdefault("data", {})["free_text_note"] = "called about the new prescription"
    return orjson.dumps(envelope)


def _naive_time(envelope: dict[str, Any], junk_id: str) -> bytes:
    envelope["id"] = junk_id
    envelope["time"] = str(envelope["time"])[:19]
    return orjson.dumps(envelope)


def _impossible_hba1c(envelope: dict[str, Any], junk_id: str) -> bytes:
    # A unit mix-up upstream: 60 "%" is an IFCC value sent with the NGSP unit.
    return orjson.dumps(
        {
            "specversion": "1.0",
            "schema_version": "1",
            "id": junk_id,
            "type": "peerlink.clinical.result_reported",
            "source": envelope.get("source", "peerlink://programme/unknown"),
            "time": envelope["time"],
            "subject": envelope.get("subject"),
            "data": {
                "result_id": junk_id,
                "measurement": {
                    "kind": "hba1c",
                    "value": 60,
                    "unit": "%",
                    "effective_at": envelope["time"],
                    "source": "self_report",
                },
            },
        }
    )


def _unknown_type(envelope: dict[str, Any], junk_id: str) -> bytes:
    envelope["id"] = junk_id
    envelope["type"] = "peerlink.contact.deleted"
    return orjson.dumps(envelope)


def _not_json(_envelope: dict[str, Any], junk_id: str) -> bytes:
    return b"\xff\xfe" + junk_id.encode() + b" <contact logged>"


def _unknown_loinc(resource: dict[str, Any], junk_id: str) -> bytes:
    resource = _first_resource(resource)
    resource["id"] = junk_id
    resource["resourceType"] = "Observation"
    resource["status"] = "final"
    resource["code"] = {"coding": [{"system": "http://loinc.org", "code": "99999-9"}]}
    resource["valueQuantity"] = {"value": 5, "unit": "mg/dL"}
    return orjson.dumps(resource)


def _missing_value(resource: dict[str, Any], junk_id: str) -> bytes:
    resource = _first_resource(resource)
    resource["id"] = junk_id
    resource["resourceType"] = "Observation"
    resource["status"] = "final"
    resource["code"] = {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}
    for field in ("valueQuantity", "valueInteger", "component", "performedDateTime"):
        resource.pop(field, None)
    resource.setdefault("effectiveDateTime", "2025-03-01T09:00:00Z")
    return orjson.dumps(resource)


def _wrong_resource(_resource: dict[str, Any], junk_id: str) -> bytes:
    return orjson.dumps({"resourceType": "Patient", "id": junk_id, "name": [{"family": "Example"}]})


def _first_resource(resource: dict[str, Any]) -> dict[str, Any]:
    if resource.get("resourceType") == "Bundle":
        entries = resource.get("entry") or [{}]
        return dict(entries[0].get("resource", {}))
    return resource


_PEER_JUNK: tuple[tuple[str, _Mutator], ...] = (
    ("truncated-json", _truncated),
    ("unknown-field", _unknown_field),
    ("naive-time", _naive_time),
    ("impossible-hba1c", _impossible_hba1c),
    ("unknown-type", _unknown_type),
    ("not-json", _not_json),
)
_FHIR_JUNK: tuple[tuple[str, _Mutator], ...] = (
    ("truncated-json", _truncated),
    ("unknown-loinc", _unknown_loinc),
    ("missing-value", _missing_value),
    ("wrong-resource", _wrong_resource),
)

#: Every kind of junk, per topic family.
JUNK_KINDS: dict[str, tuple[str, ...]] = {
    "peer": tuple(name for name, _ in _PEER_JUNK),
    "fhir": tuple(name for name, _ in _FHIR_JUNK),
}


def with_junk(
    records: Iterator[SimRecord], share: float, rng: random.Random
) -> Iterator[SimRecord]:
    """Pass ``records`` through, adding a junk record after about ``share`` of them."""
    count = 0
    for record in records:
        yield record
        if record.is_tick or share <= 0 or rng.random() >= share:
            continue
        count += 1
        junk_id = f"junk-{count:05d}"
        choices = _PEER_JUNK if record.topic == PEER_TOPIC else _FHIR_JUNK
        name, mutate = choices[rng.randrange(len(choices))]
        value = mutate(orjson.loads(record.value), junk_id)
        yield replace(record, value=value, kind=f"junk:{name}", record_id=junk_id, valid=False)
