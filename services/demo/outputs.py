"""What the pipeline produced, summarised and written to the output folder (pure, no Kafka).

The inputs are the records read back from the topics; everything here is a function of them,
so the end-to-end test and the demo summary agree by construction.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import CareGapsChangedEvent, parse_event
from schemas.vocabulary import GapKind, Priority
from services.demo.watch import TopicRecord
from services.simulator.sinks import SimSummary

__all__ = [
    "FHIR_TOPICS",
    "DemoSummary",
    "FhirOutput",
    "analyse",
    "consent_gate",
    "write_outputs",
]

#: Output topics and the FHIR resource type each carries.
FHIR_TOPICS: dict[str, str] = {
    "fhir.r4.careplan": "CarePlan",
    "fhir.r4.communication": "Communication",
    "fhir.r4.detectedissue": "DetectedIssue",
}
_PRIORITY_RANK = {p.value: p.rank for p in Priority}


def consent_gate(change: Any) -> str | None:
    """Why nothing may be published for a change (the publisher's own gate when available)."""
    try:
        from services.fhir_publisher.mapping import Mapper
    except ImportError:  # pragma: no cover - the publisher is part of the product
        if change.clinic_id is None:
            return "no_clinic"
        if not change.consent.share_with_clinic:
            return "consent_withdrawn" if change.consent.since else "no_consent"
        return None
    withheld = Mapper().consent_gate(change)
    return withheld.value if withheld is not None else None


@dataclass(kw_only=True)
class FhirOutput:
    """Published resources of one type: every message, and the latest version per id."""

    resource_type: str
    messages: int = 0
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    participants: set[str] = field(default_factory=set)


@dataclass(kw_only=True)
class DemoSummary:
    sent: SimSummary
    accepted: Counter[str] = field(default_factory=Counter)
    accepted_ids: set[str] = field(default_factory=set)
    rejected: Counter[str] = field(default_factory=Counter)
    dlq: list[TopicRecord] = field(default_factory=list)
    changes: list[CareGapsChangedEvent] = field(default_factory=list)
    opened: Counter[tuple[str, str]] = field(default_factory=Counter)
    closed: Counter[tuple[str, str]] = field(default_factory=Counter)
    cancelled: Counter[tuple[str, str]] = field(default_factory=Counter)
    escalated: int = 0
    red_flags: Counter[tuple[str, str]] = field(default_factory=Counter)
    withheld: Counter[str] = field(default_factory=Counter)
    withheld_participants: set[str] = field(default_factory=set)
    publishable_participants: set[str] = field(default_factory=set)
    fhir: dict[str, FhirOutput] = field(default_factory=dict)
    unreadable_changes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def fhir_messages(self) -> int:
        return sum(o.messages for o in self.fhir.values())

    @property
    def fhir_participants(self) -> set[str]:
        return set().union(*(o.participants for o in self.fhir.values())) if self.fhir else set()

    def as_dict(self) -> dict[str, Any]:
        def pairs(counter: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
            return [
                {"code": code, "priority": priority, "count": n}
                for (code, priority), n in sorted(counter.items())
            ]

        return {
            "sent": self.sent.as_dict(),
            "accepted": dict(sorted(self.accepted.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "changes": len(self.changes),
            "gaps_opened": pairs(self.opened),
            "gaps_closed": pairs(self.closed),
            "gaps_cancelled": pairs(self.cancelled),
            "escalations": self.escalated,
            "red_flags": pairs(self.red_flags),
            "withheld_changes": dict(sorted(self.withheld.items())),
            "withheld_participants": len(self.withheld_participants),
            "fhir": {
                t: {
                    "messages": o.messages,
                    "resources": len(o.latest),
                    "participants": len(o.participants),
                }
                for t, o in sorted(self.fhir.items())
            },
            "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
        }


def _header(record: TopicRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def analyse(records: Iterable[TopicRecord], sent: SimSummary) -> DemoSummary:
    """Tally accepted events, rejections, gap changes, red flags, consent and FHIR output."""
    summary = DemoSummary(sent=sent)
    for record in records:
        key = record.key.decode("utf-8", errors="replace") if record.key else ""
        if record.topic == "peer.events.v1":
            _accepted(summary, record)
        elif record.topic == "peer.intake.dlq":
            summary.dlq.append(record)
            service = _header(record, "x-dlq-service") or "unknown"
            reason = (_header(record, "x-dlq-reason") or "unknown").split(":", 1)[0]
            summary.rejected[f"{service}: {reason}"] += 1
        elif record.topic == "caregaps.changes.v1":
            _change(summary, record, key)
        elif record.topic in FHIR_TOPICS and record.value is not None:
            resource_type = FHIR_TOPICS[record.topic]
            out = summary.fhir.setdefault(resource_type, FhirOutput(resource_type=resource_type))
            body = orjson.loads(record.value)
            out.messages += 1
            out.latest[str(body.get("id"))] = body
            out.participants.add(key)
    return summary


def _accepted(summary: DemoSummary, record: TopicRecord) -> None:
    if record.value is None:
        return
    try:
        event = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        summary.accepted["unreadable"] += 1
        return
    summary.accepted[str(event.get("type"))] += 1
    summary.accepted_ids.add(str(event.get("id")))


def _change(summary: DemoSummary, record: TopicRecord, key: str) -> None:
    if record.value is None:
        return
    try:
        event = parse_event(record.value)
    except ValidationError:
        summary.unreadable_changes += 1
        return
    if not isinstance(event, CareGapsChangedEvent):
        summary.unreadable_changes += 1
        return
    summary.changes.append(event)
    change = event.data
    kinds = {g.gap_id: g.kind for g in (*change.open_gaps, *change.recently_closed)}
    for step in change.delta:
        pair = (step.code.value, step.priority.value)
        if step.action.value == "opened":
            summary.opened[pair] += 1
            if kinds.get(step.gap_id) is GapKind.RED_FLAG:
                summary.red_flags[pair] += 1
        elif step.action.value == "closed":
            summary.closed[pair] += 1
        elif step.action.value == "cancelled":
            summary.cancelled[pair] += 1
        elif (
            step.previous_priority is not None and step.priority.rank > step.previous_priority.rank
        ):
            summary.escalated += 1
    reason = consent_gate(change)
    if reason is None:
        summary.publishable_participants.add(key)
    else:
        summary.withheld[reason] += 1
        summary.withheld_participants.add(key)


def _dlq_line(record: TopicRecord) -> bytes:
    value: dict[str, Any] = {}
    if record.value is not None:
        try:
            value["value"] = record.value.decode("utf-8")
        except UnicodeDecodeError:
            value["value_base64"] = base64.b64encode(record.value).decode()
    line = {
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", errors="replace") if record.key else None,
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in record.headers},
        **value,
    }
    return orjson.dumps(line) + b"\n"


def _example(output: FhirOutput) -> dict[str, Any] | None:
    """The most telling resource: most CarePlan activities, or highest alert priority."""
    if not output.latest:
        return None

    def weight(body: Mapping[str, Any]) -> tuple[int, int]:
        activities = len(body.get("activity") or ())
        priority = _PRIORITY_RANK.get(str(body.get("priority", "routine")), 0)
        return (activities, priority) if output.resource_type == "CarePlan" else (priority, 0)

    return max(output.latest.values(), key=lambda body: (weight(body), str(body.get("id"))))


def write_outputs(summary: DemoSummary, out_dir: Path) -> list[Path]:
    """NDJSON per resource type (latest version of each), examples, DLQ, summary.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for resource_type, output in sorted(summary.fhir.items()):
        path = out_dir / f"{resource_type}.ndjson"
        with path.open("wb") as handle:
            for _id, body in sorted(output.latest.items()):
                handle.write(orjson.dumps(body) + b"\n")
        written.append(path)
        example = _example(output)
        if example is not None:
            path = out_dir / f"example-{resource_type}.json"
            path.write_bytes(orjson.dumps(example, option=orjson.OPT_INDENT_2) + b"\n")
            written.append(path)
    path = out_dir / "dlq.jsonl"
    with path.open("wb") as handle:
        for record in summary.dlq:
            handle.write(_dlq_line(record))
    written.append(path)
    path = out_dir / "summary.json"
    path.write_bytes(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    written.append(path)
    return written
