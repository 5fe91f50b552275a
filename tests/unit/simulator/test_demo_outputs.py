"""The demo's summary and output folder are a faithful tally of the records read back."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

from services.demo.outputs import analyse, write_outputs
from services.demo.run import DemoConfig, render_summary
from services.demo.watch import TopicRecord
from services.simulator.sinks import SimSummary

_EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "generated" / "examples"


def _change(*, consent: bool, key: str, delta: list[dict[str, Any]]) -> bytes:
    event = copy.deepcopy(
        orjson.loads((_EXAMPLES / "peerlink.caregaps.changed.json").read_bytes())[0]
    )
    event["subject"] = key
    event["data"]["consent"]["share_with_clinic"] = consent
    event["data"]["delta"] = delta
    return orjson.dumps(event)


def _record(topic: str, value: bytes, key: str = "p-1", **headers: str) -> TopicRecord:
    return TopicRecord(
        topic=topic,
        partition=0,
        offset=0,
        key=key.encode(),
        value=value,
        headers=tuple((k.replace("_", "-"), v.encode()) for k, v in headers.items()),
    )


def _records() -> list[TopicRecord]:
    contact = orjson.loads((_EXAMPLES / "peerlink.contact.logged.json").read_bytes())[0]
    opened = {
        "action": "opened",
        "code": "DM-A1C-DUE",
        "gap_id": "2b0c6f0e-5d7e-5b8e-9d1b-0f8f6d1c2a11",
        "priority": "routine",
        "reason": "no-hba1c-within-183-days",
    }
    closed = {**opened, "action": "closed"}
    careplan = {"resourceType": "CarePlan", "id": "cp-1", "activity": [{}, {}]}
    return [
        _record("peer.events.v1", orjson.dumps(contact)),
        _record(
            "peer.intake.dlq",
            b"\xff\xfe not json",
            x_dlq_service="intake",
            x_dlq_reason="not_json: body is not UTF-8 JSON",
        ),
        _record("caregaps.changes.v1", _change(consent=True, key="p-1", delta=[opened])),
        _record("caregaps.changes.v1", _change(consent=False, key="p-2", delta=[closed]), "p-2"),
        _record("fhir.r4.careplan", orjson.dumps(careplan)),
        _record("fhir.r4.careplan", orjson.dumps({**careplan, "activity": [{}]})),
    ]


def test_analyse_tallies_everything() -> None:
    summary = analyse(_records(), SimSummary())
    assert summary.accepted == {"peerlink.contact.logged": 1}
    assert summary.rejected == {"intake: not_json": 1}
    assert summary.opened == {("DM-A1C-DUE", "routine"): 1}
    assert summary.closed == {("DM-A1C-DUE", "routine"): 1}
    assert summary.withheld == {"consent_withdrawn": 1}
    assert summary.withheld_participants == {"p-2"}
    assert summary.publishable_participants == {"p-1"}
    careplans = summary.fhir["CarePlan"]
    assert (careplans.messages, len(careplans.latest)) == (2, 1)
    # The later version of a resource wins.
    assert careplans.latest["cp-1"]["activity"] == [{}]


def test_output_folder_and_summary_text(tmp_path: Path) -> None:
    summary = analyse(_records(), SimSummary())
    summary.timings = {"simulate": 1.0}
    summary.files = write_outputs(summary, tmp_path)
    names = {p.name for p in summary.files}
    assert {"CarePlan.ndjson", "example-CarePlan.json", "dlq.jsonl", "summary.json"} <= names
    (dlq_line,) = (tmp_path / "dlq.jsonl").read_bytes().splitlines()
    dlq = orjson.loads(dlq_line)
    assert dlq["headers"]["x-dlq-reason"].startswith("not_json")
    assert "value_base64" in dlq  # the original bytes, losslessly
    text = render_summary(summary, DemoConfig(participants=3, months=1), tmp_path)
    for expected in ("rejected", "DM-A1C-DUE", "CarePlan: 2 messages, 1 resources", "withheld"):
        assert expected in text
