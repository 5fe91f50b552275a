"""The simulator is pure and reproducible, and everything it emits is well formed and ordered."""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from datetime import timedelta

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from schemas.events import parse_event
from services.simulator import (
    CLINIC_TOPIC,
    CLOCK_TOPIC,
    PEER_TOPIC,
    Progress,
    SimRecord,
    SimulationConfig,
    build_cohort,
    simulate,
    write_jsonl,
)

SMALL = SimulationConfig(participants=60, months=4, seed=11, invalid_share=0.02)


def _digest(config: SimulationConfig) -> str:
    digest = hashlib.sha256()
    for record in simulate(config):
        digest.update(record.topic.encode())
        digest.update(record.key or b"-")
        digest.update(record.value)
        digest.update(record.emit_at.isoformat().encode())
    return digest.hexdigest()


def test_same_seed_same_bytes() -> None:
    assert _digest(SMALL) == _digest(SMALL)


def test_other_seed_other_output() -> None:
    assert _digest(SMALL) != _digest(SMALL.with_changes(seed=12))


def test_participants_are_independent_of_cohort_size() -> None:
    # Each participant draws from its own generator: growing the cohort does not reshuffle
    # the people already in it (only which model they were allocated can change).
    small = build_cohort(SimulationConfig(participants=50, seed=3))
    large = build_cohort(SimulationConfig(participants=80, seed=3))
    same = [
        (a.enrol_at, a.diabetes_type, a.consent) == (b.enrol_at, b.diabetes_type, b.consent)
        for a, b in zip(small.participants, large.participants, strict=False)
    ]
    assert all(same)


@pytest.fixture(scope="module")
def records() -> list[SimRecord]:
    return list(simulate(SMALL))


def test_every_valid_record_is_well_formed(records: list[SimRecord]) -> None:
    kinds = set()
    for record in records:
        if not record.valid:
            continue
        if record.topic == CLINIC_TOPIC:
            body = orjson.loads(record.value)
            get_fhir_model_class(body["resourceType"]).model_validate(body)
            kinds.add(f"fhir:{body['resourceType']}")
        else:
            event = parse_event(record.value)
            kinds.add(event.type)
            if record.topic == PEER_TOPIC:
                assert record.key is not None
                assert event.subject == record.key.decode()
    assert {
        "peerlink.participant.enrolled",
        "peerlink.contact.logged",
        "peerlink.clock.tick",
        "fhir:Observation",
        "fhir:Procedure",
        "fhir:Appointment",
    } <= kinds


def test_junk_is_marked_and_never_a_valid_event(records: list[SimRecord]) -> None:
    junk = [r for r in records if not r.valid]
    assert junk, "a 2 % junk share on this cohort yields some junk"
    for record in junk:
        assert record.kind.startswith("junk:")
        if record.topic == PEER_TOPIC:
            with pytest.raises(ValidationError):
                parse_event(record.value)


def test_emission_order(records: list[SimRecord]) -> None:
    times = [r.emit_at for r in records]
    assert times == sorted(times)
    first = {}
    for record in records:
        if record.participant and record.participant not in first:
            first[record.participant] = record.kind
    assert set(first.values()) == {"peerlink.participant.enrolled"}


def test_ticks_follow_each_days_events(records: list[SimRecord]) -> None:
    ticks = [r for r in records if r.topic == CLOCK_TOPIC]
    per_instant = defaultdict(set)
    for tick in ticks:
        per_instant[tick.emit_at].add(tick.partition)
        # Stamped at midnight: the end of the previous day.
        assert (tick.emit_at.hour, tick.emit_at.minute, tick.emit_at.second) == (0, 0, 0)
    assert all(parts == set(range(SMALL.clock_partitions)) for parts in per_instant.values())
    assert len(per_instant) == SMALL.days
    position = {id(r): i for i, r in enumerate(records)}
    for tick in ticks:
        i = position[id(tick)]
        before = [r for r in records[max(0, i - 50) : i] if not r.is_tick]
        after = [r for r in records[i + 1 : i + 50] if not r.is_tick]
        assert all(r.emit_at < tick.emit_at for r in before)
        assert all(r.emit_at >= tick.emit_at for r in after)


def test_nothing_after_exit_or_end(records: list[SimRecord]) -> None:
    cohort = build_cohort(SMALL)
    exits = {p.key: p.end_at for p in cohort.participants if p.end_at}
    for record in records:
        assert record.emit_at <= cohort.end
        ends = exits.get(record.participant or "")
        if ends is not None:
            assert record.emit_at <= ends


def test_bridged_calls_are_metadata_only_and_mirrored(records: list[SimRecord]) -> None:
    calls = defaultdict(list)
    for record in records:
        if record.kind != "peerlink.contact.logged":
            continue
        data = orjson.loads(record.value)["data"]
        if data.get("detail", {}).get("kind") == "bridged_call":
            assert not data.get("observations")
            assert not data.get("topics")
            calls[(data["detail"]["pair_id"], data["detail"]["started_at"])].append(
                record.participant
            )
    assert calls
    cohort = build_cohort(SMALL)
    # A call is logged by both partners, unless one of them has already left.
    two = sum(1 for members in calls.values() if len(set(members)) == 2)
    assert two / len(calls) > 0.9
    assert all(len(cohort.pairs[pair].members) == 2 for pair, _ in calls)


def test_jsonl_round_trip() -> None:
    config = SimulationConfig(participants=10, months=1, seed=5, invalid_share=0.05)
    buffer = io.BytesIO()
    out = io.StringIO()
    progress = Progress("simulate", total=float(config.days), stream=out, enabled=False)
    summary = write_jsonl(
        simulate(config),
        buffer,
        start=config.start,
        end=config.start + timedelta(days=config.days),
        progress=progress,
    )
    lines = buffer.getvalue().splitlines()
    assert len(lines) == summary.records == summary.valid + summary.invalid
    parsed = [orjson.loads(line) for line in lines]
    assert {p["topic"] for p in parsed} == {PEER_TOPIC, CLINIC_TOPIC, CLOCK_TOPIC}
    assert all(isinstance(p["value"], dict) for p in parsed if p["valid"])
    assert out.getvalue().startswith("simulate: ")


def test_intake_accepts_every_valid_record_and_rejects_the_junk(records: list[SimRecord]) -> None:
    import services.intake.fhir_inbound as intake
    from services.intake.programmes import ProgrammeRegistry
    from services.intake.submission import Accepted, SubmissionValidator

    cohort = build_cohort(SMALL)
    registry = ProgrammeRegistry.from_settings(
        {p.programme_id: (p.model,) for p in cohort.programmes}
    )
    validator = SubmissionValidator(registry=registry, max_message_bytes=64 * 1024)
    mapper = intake.FhirInboundMapper(
        config=intake.FhirMapperConfig(participant_key_system="urn:peerlink:participant-key"),
        validator=validator,
    )
    for record in records:
        if record.is_tick:
            continue
        if record.topic == PEER_TOPIC:
            ok = isinstance(validator.from_bytes(record.value), Accepted)
        else:
            header = dict(record.headers).get(intake.CLINIC_ID_HEADER)
            ok = mapper.map_record(record.value, clinic_header=header).rejection is None
        assert ok == record.valid, record.kind
