"""End to end: real broker, every service as its own process, a small simulated cohort.

Checks, against independent computations on the same input:
1. every valid event reached the engine: the events on ``peer.events.v1`` are exactly those
   intake's pure mapping derives from the simulator's valid records, and the engine's group has
   consumed all of them;
2. the engine's change records equal the rules applied directly (``caregaps.apply``) to the
   same events and ticks, merged the way the engine merges them (each tick after the events
   below its ``events_end_offset``), and each day's ticks follow exactly that day's events;
3. FHIR resources exist exactly for participants with a publishable (consented) change, are
   exactly what the publisher's mapping gives for the engine's changes, and validate with both
   tiers (fhir.resources R4B plus the publisher's rule checks, and FHIR.js).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import services.caregaps as caregaps
import services.fhir_publisher.checks as checks
import services.fhir_publisher.mapping as publisher
import services.intake.service as intake_service
import services.intake.settings as intake_settings
import tests.fhir_validation as validation
import tests.fhir_validation.pytest_fixtures as fhirjs_fixtures
from schemas.events import CareGapsChangedEvent, ClockTickEvent, parse_event
from services.demo import DemoConfig, DemoSummary, PipelineWatch, ServiceStack, run_pipeline
from services.fhir_publisher.config import ClinicProfile
from services.intake.submission import Accepted
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from services.simulator import PEER_TOPIC, SimulationConfig, build_cohort, simulate

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

CONFIG = DemoConfig(participants=36, months=3, seed=424242, invalid_share=0.03)


@pytest.fixture(scope="module")
async def pipeline(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One pipeline run on its own topic prefix, shared by the checks below."""
    run = uuid.uuid4().hex[:8]
    settings = kafka_settings.model_copy(update={"topic_prefix": f"e2e-{run}."})
    await ensure_topics(settings)
    work = tmp_path_factory.mktemp("e2e")
    stack = ServiceStack(log_dir=work / "logs")
    try:
        summary = await run_pipeline(
            CONFIG,
            settings,
            stack,
            work_dir=work,
            run_id=f"e2e-{run}",
            say=print,
            timings={},
        )
        watch = PipelineWatch(settings)
        await watch.start()
        try:
            events = await watch.read_all(["peer.events.v1"])
            ticks = await watch.read_all(["caregaps.clock.v1"])
            engine_group = f"e2e-{run}-caregaps"
            engine_lag = await watch.lag(engine_group, ["peer.events.v1"])
        finally:
            await watch.close()
    finally:
        stack.stop()
    return {
        "summary": summary,
        "events": events,
        "ticks": ticks,
        "engine_lag": engine_lag,
        "work": work,
    }


def _expected_events(sim: SimulationConfig) -> dict[str, datetime]:
    """Event id -> emission time of its source record, from intake's pure mapping."""
    cohort = build_cohort(sim)
    programmes = {p.programme_id: (p.model,) for p in cohort.programmes}
    domain = intake_service.IntakeDomain.from_settings(
        intake_settings.IntakeSettings(programmes=programmes)
    )
    emitted: dict[str, datetime] = {}
    for record in simulate(sim, cohort):
        if record.is_tick or not record.valid:
            continue
        if record.topic == PEER_TOPIC:
            accepted = [domain.validator.from_bytes(record.value)]
        else:
            header = dict(record.headers).get("x-peerlink-clinic-id")
            accepted = list(domain.fhir.map_record(record.value, clinic_header=header).accepted)
        for item in accepted:
            assert isinstance(item, Accepted), "a valid simulated record was rejected"
            emitted[item.event.id] = record.emit_at
    return emitted


def test_every_valid_event_reached_the_engine(pipeline: dict[str, Any]) -> None:
    expected = _expected_events(CONFIG.simulation())
    seen = [orjson.loads(r.value)["id"] for r in pipeline["events"]]
    assert len(seen) == len(set(seen)), "no event is duplicated downstream"
    assert set(seen) == set(expected)
    assert not any(pipeline["engine_lag"].values())
    summary: DemoSummary = pipeline["summary"]
    assert summary.sent.invalid > 0
    assert sum(summary.rejected.values()) == summary.sent.invalid


def _direct_changes(pipeline: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rules applied to the engine's input in the engine's order: per partition, events in
    offset order and each tick after exactly the events below its ``events_end_offset``."""
    events: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for record in pipeline["events"]:
        events[record.partition].append((record.offset, parse_event(record.value)))
    ticks: dict[int, list[ClockTickEvent]] = defaultdict(list)
    for record in pipeline["ticks"]:
        tick = parse_event(record.value)
        assert isinstance(tick, ClockTickEvent)
        assert tick.data.events_end_offset is not None, "the demo places every tick"
        ticks[record.partition].append(tick)
    policy = caregaps.PolicySet()
    changes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for partition in sorted(set(events) | set(ticks)):
        states: dict[str, Any] = {}
        queue = sorted(events[partition], key=lambda item: item[0])
        stream: list[Any] = []
        for tick in ticks[partition]:
            while queue and queue[0][0] < (tick.data.events_end_offset or 0):
                stream.append(queue.pop(0)[1])
            stream.append(tick)
        assert not queue, "every event is followed by a tick that places it"
        for event in stream:
            if isinstance(event, ClockTickEvent):
                targets = list(states)
            else:
                states.setdefault(event.subject, caregaps.ParticipantState.new(event.subject))
                targets = [event.subject]
            for key in targets:
                states[key], change = caregaps.apply(states[key], event, policy)
                if change is not None:
                    changes[key].append(change.model_dump(mode="json"))
    return changes


def test_each_days_ticks_follow_that_days_events(pipeline: dict[str, Any]) -> None:
    """With the demo's tick placement, an event comes after a tick iff it was sent after it."""
    emitted = _expected_events(CONFIG.simulation())
    for record in pipeline["ticks"]:
        tick = parse_event(record.value)
        assert isinstance(tick, ClockTickEvent)
        for event in pipeline["events"]:
            if event.partition != record.partition:
                continue
            sent_before = emitted[orjson.loads(event.value)["id"]] < tick.time
            assert sent_before == (event.offset < (tick.data.events_end_offset or 0))


def test_gaps_agree_with_the_rules_applied_directly(pipeline: dict[str, Any]) -> None:
    summary: DemoSummary = pipeline["summary"]
    engine: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in summary.changes:
        engine[event.subject].append(event.data.model_dump(mode="json"))
    direct = _direct_changes(pipeline)
    assert sum(map(len, direct.values())) > 0
    assert set(engine) == set(direct)
    for key in direct:
        assert engine[key] == direct[key], f"change records of {key} differ"


def test_fhir_exactly_for_consenting_participants_and_valid(
    pipeline: dict[str, Any], fhir_js: Any
) -> None:
    summary: DemoSummary = pipeline["summary"]
    mapper = publisher.Mapper()
    clinic = ClinicProfile()
    expected: dict[tuple[str, str], str] = {}
    participants = set()
    for event in summary.changes:
        assert isinstance(event, CareGapsChangedEvent)
        result = mapper.map_change(event.data, event.subject, clinic)
        for resource in result.resources:
            expected[(resource.resource_type, resource.id)] = resource.version_id
            participants.add(event.subject)
    published = {
        (t, rid): str(body["meta"]["versionId"])
        for t, output in summary.fhir.items()
        for rid, body in output.latest.items()
    }
    assert published == expected
    assert summary.fhir_participants == participants == summary.publishable_participants
    never = {
        p.key
        for p in build_cohort(CONFIG.simulation()).participants
        if not p.consent and (p.consent_change is None or not p.consent_change[1])
    }
    assert never, "the cohort has participants who never consent"
    assert not (summary.fhir_participants & never)
    bodies = [body for output in summary.fhir.values() for body in output.latest.values()]
    assert bodies
    for body in bodies:
        assert checks.check_resource(body) == [], body.get("id")
        checks.validate_model(body)
    _assert_fhirjs_clean(fhir_js, bodies)


@pytest.fixture(scope="module")
def fhir_js() -> Any:
    try:
        return validation.FhirJsValidator(validation.ensure_fhirjs())
    except validation.FhirJsError as exc:
        pytest.fail(f"tier-2 FHIR validation unavailable: {exc}")


def _assert_fhirjs_clean(validator: Any, bodies: list[dict[str, Any]]) -> None:
    fhirjs_fixtures.assert_fhirjs_clean(validator, bodies)


def test_demo_output_folder(pipeline: dict[str, Any], tmp_path: Path) -> None:
    from services.demo import write_outputs

    summary: DemoSummary = pipeline["summary"]
    written = {p.name for p in write_outputs(summary, tmp_path)}
    assert {"CarePlan.ndjson", "Communication.ndjson", "dlq.jsonl", "summary.json"} <= written
    lines = (tmp_path / "CarePlan.ndjson").read_bytes().splitlines()
    assert len(lines) == len(summary.fhir["CarePlan"].latest)
