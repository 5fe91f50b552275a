"""A seeded synthetic event log for benchmarks, demos and end-to-end tests.

Each participant enrols, then logs peer contacts (some with readings, red flags, adherence
reports), clinic results (including corrections), appointments and consent changes, at
increasing times. The output is plain wire-format dicts in per-participant time order,
merged across participants by time; the same seed always gives the same log.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.vocabulary import SupportModel

__all__ = ["participant_key", "synthetic_log"]

_MODELS = tuple(SupportModel)
_CHANNEL = {
    SupportModel.PROFESSIONAL_LED_GROUP: "group_session_in_person",
    SupportModel.PEER_LED_GROUP: "group_session_in_person",
    SupportModel.PEER_COACH: "phone_live",
    SupportModel.COMMUNITY_HEALTH_WORKER: "home_visit",
    SupportModel.TELEPHONE_PEER_PARTNER: "phone_platform_bridged",
    SupportModel.ONLINE_COMMUNITY: "online_forum",
}


def participant_key(index: int) -> str:
    return f"p-{index:06d}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(type_: str, event_id: str, key: str, when: datetime, data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "schema_version": "1",
        "id": event_id,
        "type": type_,
        "source": "peerlink://synthetic",
        "time": _iso(when),
        "subject": key,
        "data": data,
    }


def _measurement(rng: random.Random, kind: str, when: datetime, source: str) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": kind, "effective_at": _iso(when), "source": source}
    if kind == "hba1c":
        if rng.random() < 0.3:
            return {**base, "value": rng.randint(42, 86), "unit": "mmol/mol"}
        return {**base, "value": round(rng.uniform(5.8, 10.5), 1), "unit": "%"}
    if kind == "glucose":
        value = rng.choice((rng.uniform(45, 80), rng.uniform(90, 220), rng.uniform(240, 520)))
        return {**base, "value": round(value), "unit": "mg/dL"}
    if kind == "blood_pressure":
        systolic = rng.randint(105, 190)
        return {
            **base,
            "systolic": systolic,
            "diastolic": min(systolic - 20, rng.randint(60, 115)),
            "unit": "mmHg",
            "device": "automated",
            "reading_number": rng.randint(1, 3),
        }
    if kind == "egfr":
        return {**base, "value": rng.randint(35, 110), "unit": "mL/min/1.73m2"}
    if kind == "uacr":
        return {**base, "value": rng.randint(3, 80), "unit": "mg/g"}
    if kind == "phq9":
        total = rng.randint(0, 20)
        return {**base, "total": total, "item9": min(total, rng.choice((0, 0, 0, 0, 1)))}
    if kind == "phq2":
        return {**base, "total": rng.randint(0, 6)}
    if kind == "dds2":
        return {**base, "item1": rng.randint(1, 6), "item2": rng.randint(1, 6)}
    if kind == "retinal_exam":
        return {**base, "retinopathy_found": rng.random() < 0.2}
    if kind == "foot_exam":
        return {**base, "comprehensive": True, "iwgdf_risk": rng.randint(0, 3)}
    raise ValueError(kind)


def _participant(
    rng: random.Random, index: int, events: int, start: datetime
) -> Iterator[dict[str, Any]]:
    key = participant_key(index)
    model = _MODELS[index % len(_MODELS)]
    programme = f"prog-{model.value.replace('_', '-')}"
    clinic = f"clinic-{index % 7}"
    when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
    seq = 0

    def next_id() -> str:
        nonlocal seq
        seq += 1
        return f"{key}-e{seq}"

    yield _envelope(
        "peerlink.participant.enrolled",
        next_id(),
        key,
        when,
        {
            "programme_id": programme,
            "support_model": model.value,
            "clinic_id": clinic,
            "patient": {"literal_id": f"pat-{index}"},
            "diabetes_type": rng.choice(("type_1", "type_2", "type_2", "type_2")),
            "consent_share_with_clinic": rng.random() < 0.85,
            "iwgdf_foot_risk": rng.choice((None, 0, 1, 2, 3)),
        },
    )
    results: list[tuple[str, dict[str, Any]]] = []
    for _ in range(events - 1):
        when += timedelta(hours=rng.randint(6, 24 * 12))
        roll = rng.random()
        event_id = next_id()
        if roll < 0.62:
            observations = []
            if rng.random() < 0.35:
                kind = rng.choice(("glucose", "glucose", "blood_pressure", "phq2", "dds2", "phq9"))
                observations.append(
                    _measurement(rng, kind, when - timedelta(minutes=10), "peer_measured")
                )
            data: dict[str, Any] = {
                "programme_id": programme,
                "support_model": model.value,
                "channel": _CHANNEL[model],
                "direction": "proactive_by_supporter",
                "outcome": rng.choice(
                    ("completed", "completed", "completed", "attempted_no_answer")
                ),
                "duration_min": rng.randint(5, 60),
                "observations": observations,
            }
            if rng.random() < 0.03:
                data["red_flags"] = [{"code": rng.choice(("RF3", "RF10", "RF11", "RF13", "RF14"))}]
            if rng.random() < 0.1:
                taking = rng.random() < 0.6
                data["adherence"] = {
                    "taking_as_prescribed": taking,
                    "reason": None if taking else rng.choice(("forgot", "cost", "side_effects")),
                }
            yield _envelope("peerlink.contact.logged", event_id, key, when, data)
        elif roll < 0.88:
            if results and rng.random() < 0.1:
                rid, measurement = rng.choice(results)
                status = rng.choice(("amended", "entered_in_error"))
                corrected = dict(measurement, status=status)
                yield _envelope(
                    "peerlink.clinical.result_reported",
                    event_id,
                    key,
                    when,
                    {"result_id": rid, "clinic_id": clinic, "measurement": corrected},
                )
                continue
            kind = rng.choice(
                ("hba1c", "hba1c", "egfr", "uacr", "retinal_exam", "foot_exam", "blood_pressure")
            )
            effective = when - timedelta(days=rng.choice((0, 0, 1, 3, 20)))
            measurement = _measurement(rng, kind, effective, "clinic_lab")
            rid = f"{key}-r{seq}"
            results.append((rid, measurement))
            yield _envelope(
                "peerlink.clinical.result_reported",
                event_id,
                key,
                when,
                {"result_id": rid, "clinic_id": clinic, "measurement": measurement},
            )
        elif roll < 0.97:
            yield _envelope(
                "peerlink.appointment.recorded",
                event_id,
                key,
                when,
                {
                    "appointment_id": f"{key}-a{seq}",
                    "clinic_id": clinic,
                    "status": rng.choice(("kept", "kept", "missed")),
                    "scheduled_for": _iso(when - timedelta(hours=2)),
                    "purpose": rng.choice(("diabetes_review", "lab", "behavioural_health")),
                },
            )
        else:
            yield _envelope(
                "peerlink.participant.consent_changed",
                event_id,
                key,
                when,
                {"clinic_id": clinic, "share_with_clinic": rng.random() < 0.5},
            )


def synthetic_log(
    *,
    participants: int,
    events_per_participant: int,
    seed: int = 7,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
) -> Iterator[dict[str, Any]]:
    """Events of all participants merged by time (ties by participant, then sequence)."""
    streams = [
        _participant(random.Random(seed * 1_000_003 + i), i, events_per_participant, start)  # noqa: S311 - synthetic data, not security
        for i in range(participants)
    ]
    heap: list[tuple[str, int, int, dict[str, Any]]] = []
    for i, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            heap.append((first["time"], i, 0, first))
    heapq.heapify(heap)
    while heap:
        _when, i, n, event = heapq.heappop(heap)
        yield event
        following = next(streams[i], None)
        if following is not None:
            heapq.heappush(heap, (following["time"], i, n + 1, following))
