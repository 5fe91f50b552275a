"""Consent granted, withdrawn and re-granted at known positions: no FHIR while it is absent.

The engine and the FHIR publisher run as real processes. One participant enrols without
consent, grants it, withdraws it and grants it again, with high HbA1c results and missed
appointments in every phase (each would produce resources if shared); a control participant
consents throughout. A read-committed consumer then shows:

* every change caused between the withdrawal and the re-grant is withheld by the gate, and
  none of the resources those changes would have produced was published;
* the published resources are exactly those of the changes made while consent was given.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.events import CareGapsChangedEvent, parse_event
from services.fhir_publisher.config import ClinicProfile
from services.fhir_publisher.mapping import Mapper
from services.intake.service import IntakeDomain
from services.intake.submission import Accepted
from services.runtime.settings import KafkaSettings
from services.simulator import SimulationConfig
from tests.integration.caregaps.harness import emit_tick, produce_events
from tests.reliability.pipeline import FaultRun
from tests.unit.intake import examples as ex

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

WHO = "p-consent-01"
CONTROL = "p-consent-02"


def _at(month: int, day: int) -> str:
    return datetime(2026, month, day, 10, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def timeline() -> list[tuple[str, Any]]:
    """(phase, submission or tick time), in log order."""
    steps: list[tuple[str, Any]] = []
    n = 0

    def event(phase: str, doc: dict[str, Any], month: int, day: int) -> None:
        nonlocal n
        n += 1
        doc["id"] = f"evt-consent-{n:03d}"
        doc["time"] = _at(month, day)
        steps.append((phase, doc))

    for who in (WHO, CONTROL):
        doc = ex.enrolled(participant=who)
        doc["data"]["consent_share_with_clinic"] = who == CONTROL
        doc["data"]["patient"] = {"literal_id": f"pat-{who[-2:]}"}
        event("before", doc, 1, 5)
    event("before", ex.result(value=9.8, result_id="r0", participant=WHO), 1, 8)
    event("granted", ex.consent(share=True, participant=WHO), 1, 10)
    for month, phase in ((1, "granted"), (3, "withdrawn"), (6, "regranted")):
        if phase == "withdrawn":
            event(phase, ex.consent(share=False, participant=WHO), 2, 10)
        if phase == "regranted":
            event(phase, ex.consent(share=True, participant=WHO), 5, 20)
        for who in (WHO, CONTROL):
            event(phase, ex.result(value=10.5, result_id=f"r{month}", participant=who), month, 20)
            event(phase, ex.appointment(status="missed", participant=who), month, 25)
        steps.append((phase, datetime(2026, month + 1, 1, tzinfo=UTC)))
    for month in (8, 10, 12):
        steps.append(("regranted", datetime(2026, month, 1, tzinfo=UTC)))
    return steps


@pytest.mark.kafka
async def test_no_fhir_while_consent_is_absent(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    domain = IntakeDomain.from_settings(ex.settings())
    run = FaultRun(
        kafka_settings,
        label="consent",
        sim=SimulationConfig(participants=2, months=1, seed=1),
        work_dir=tmp_path,
        seed=1,
    )
    phase_of: dict[str, str] = {}
    try:
        await run.setup()
        for phase, step in timeline():
            if isinstance(step, datetime):
                await emit_tick(run.settings, step)
                continue
            accepted = domain.validator.from_object(step)
            assert isinstance(accepted, Accepted), accepted
            event = orjson.loads(accepted.value)
            phase_of[event["id"]] = phase
            await produce_events(run.settings, [event])
        await run.drain()
        row = await run.check()
        assert row.state_equal, row
        assert row.fhir_equal, row
        assert not row.lost, row
        records = await _read(run)
    finally:
        await run.teardown()

    mapper, clinic = Mapper(), ClinicProfile()
    changes = [parse_event(r.value) for r in records["caregaps.changes.v1"]]
    published: set[tuple[str, str, str]] = set()
    for topic in ("fhir.r4.careplan", "fhir.r4.communication", "fhir.r4.detectedissue"):
        for r in records[topic]:
            body = orjson.loads(r.value or b"{}")
            published.add((body["resourceType"], body["id"], str(body["meta"]["versionId"])))

    expected: set[tuple[str, str, str]] = set()
    withheld_would_have: set[tuple[str, str, str]] = set()
    by_phase: dict[str, int] = defaultdict(int)
    shared_who: set[tuple[str, str, str]] = set()
    for change_event in changes:
        assert isinstance(change_event, CareGapsChangedEvent)
        change: Any = change_event.data
        subject = str(change_event.subject)
        phase = _phase(change, phase_of)
        resources = mapper.map_change(change, subject, clinic).resources
        if subject == WHO:
            by_phase[phase] += 1
        if subject == WHO and phase in ("before", "withdrawn"):
            assert mapper.consent_gate(change) is not None, (phase, change.cause_event_id)
            forced = change.model_copy(
                update={
                    "consent": change.consent.model_copy(
                        update={"share_with_clinic": True, "clinic_id": change.clinic_id}
                    )
                }
            )
            for res in mapper.map_change(forced, subject, clinic).resources:
                withheld_would_have.add((res.resource_type, res.id, res.version_id))
        expected |= {(r.resource_type, r.id, r.version_id) for r in resources}
        if subject == WHO and phase in ("granted", "regranted"):
            shared_who |= {(r.resource_type, r.id, r.version_id) for r in resources}

    print("\nchanges of the participant per consent phase:", dict(by_phase))
    assert by_phase["withdrawn"] > 0, "the withdrawal window produced no changes to withhold"
    assert withheld_would_have, "nothing in the windows without consent would have been shared"
    assert not (withheld_would_have & published), "published while consent was absent"
    assert published == expected
    assert shared_who, "the consented phases of the participant published resources"
    assert shared_who <= published


def _phase(change: Any, phase_of: dict[str, str]) -> str:
    """The consent phase of a change: of its cause, or (a tick) of the consent state."""
    cause = str(change.cause_event_id)
    if cause in phase_of:
        return phase_of[cause]
    consent = change.consent
    if not consent.share_with_clinic:
        return "withdrawn" if consent.since is not None else "before"
    return "granted" if consent.since and consent.since.month < 5 else "regranted"


async def _read(run: FaultRun) -> dict[str, list[Any]]:
    from services.demo.watch import PipelineWatch

    watch = PipelineWatch(run.settings)
    await watch.start()
    try:
        topics = [
            "caregaps.changes.v1",
            "fhir.r4.careplan",
            "fhir.r4.communication",
            "fhir.r4.detectedissue",
        ]
        out: dict[str, list[Any]] = {t: [] for t in topics}
        for record in await watch.read_all(topics):
            out[record.topic].append(record)
        return out
    finally:
        await watch.close()
