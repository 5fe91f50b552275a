"""No PHI in logs, metrics or Kafka headers, with every service logging at DEBUG.

A simulated cohort runs through every service as its own process; on top of it, seeded
recognisable names, identifiers and note text go wherever the contracts allow input (patient
identifiers, clinic FHIR notes and patient names) and where they do not (unknown fields,
values of the wrong type, HTTP submissions, broken JSON). Afterwards every service log, the
``/metrics`` output of every service and the headers of every record on every topic are
scanned: none of the markers may appear (payloads may carry them, e.g. the DLQ's original
bytes and the FHIR resources themselves, which are outside this check).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from schemas.topics import TOPICS
from services.demo.watch import PipelineWatch
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.simulator import SimulationConfig
from tests.reliability.pipeline import FaultRun, ops_url
from tests.unit.intake import examples as ex

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

NAME = "Zebulon Quixote-Marchetti"
MRN = "MRN-7781-ZQXW"
SSN = "219-09-9999"
NOTE = "Lives alone at 42 Wistful Vista, daughter Philomena Quixote calls on Sundays"
PHONE = "+1-555-867-5309"
MARKERS = (NAME, "Quixote", MRN, SSN, "Wistful Vista", "Philomena", PHONE)
TOKEN = "phi-test-token-QXZ"
#: CI runs a small cohort; `make test-slow` runs the demo's default cohort (500 people,
#: 12 months, the demo's seed) with the same seeded markers.
SMALL_COHORT = SimulationConfig(participants=60, months=4, seed=77_001, invalid_share=0.03)
DEMO_COHORT = SimulationConfig()


def _programme(run: FaultRun) -> tuple[str, str]:
    for programme in run.cohort.programmes:
        if programme.model.value == "community_health_worker":
            return programme.programme_id, programme.model.value
    raise AssertionError("the cohort has a community health worker programme")


def submissions(programme: str, participant: str) -> list[bytes]:
    """PHI where the contract allows it, and attempts where it does not."""

    def ours(doc: dict[str, Any], n: int) -> dict[str, Any]:
        doc["source"] = f"peerlink://programme/{programme}"
        doc["data"]["programme_id"] = programme
        doc["id"] = f"evt-phi-{n:03d}"
        return doc

    enrolled = ours(ex.enrolled(participant=participant), 1)
    enrolled["data"]["patient"] = {"identifier_value": MRN}  # allowed: the clinic's MRN
    docs: list[Any] = [enrolled]
    unknown = ours(ex.contact(participant=participant), 2)
    unknown["data"]["patient_name"] = NAME
    unknown["data"]["note"] = NOTE
    docs.append(unknown)
    wrong = ours(ex.contact(participant=participant), 3)
    wrong["data"]["channel"] = f"{NAME} {PHONE}"
    docs.append(wrong)
    wrong_subject = ours(ex.contact(participant=participant), 4)
    wrong_subject["subject"] = f"{NAME} SSN {SSN}"
    docs.append(wrong_subject)
    wrong_id = ours(ex.result(participant=participant), 5)
    wrong_id["data"]["result_id"] = NOTE
    docs.append(wrong_id)
    raw = [orjson.dumps(d) for d in docs]
    raw.append(f'{{"note": "{NOTE}", "name": "{NAME}"'.encode())  # broken JSON
    raw.append(f"{NAME} {SSN} {MRN}".encode())  # not JSON at all
    return raw


def fhir_records(participant: str) -> list[bytes]:
    observation = ex.hba1c_percent(9.9, key=participant, id_="obs-phi-1")
    observation["subject"]["display"] = NAME
    observation["note"] = [{"text": NOTE}]
    observation["performer"] = [{"display": "Dr Philomena Quixote"}]
    broken = ex.hba1c_percent(9.9, key=f"{MRN}", id_="obs-phi-2")
    broken["valueQuantity"] = {"value": NAME}
    return [orjson.dumps(observation), orjson.dumps(broken)]


def _scan(text: str, where: str, found: list[str]) -> None:
    lowered = text.lower()
    for marker in MARKERS:
        if marker.lower() in lowered:
            found.append(f"{marker!r} in {where}")


@pytest.mark.parametrize(
    "sim",
    [
        pytest.param(SMALL_COHORT, id="small-cohort"),
        pytest.param(
            DEMO_COHORT, id="demo-cohort", marks=[pytest.mark.slow, pytest.mark.timeout(1200)]
        ),
    ],
)
async def test_no_phi_in_logs_metrics_or_headers(
    kafka_settings: KafkaSettings, tmp_path: Path, sim: SimulationConfig
) -> None:
    token_hash = hashlib.sha256(TOKEN.encode()).hexdigest()
    run = FaultRun(kafka_settings, label="phi", sim=sim, work_dir=tmp_path, seed=1)
    programme, _ = _programme(run)
    run._extra_env.update(
        {
            "PEERLINK_LOG_LEVEL": "DEBUG",
            "PEERLINK_INTAKE_TOKENS": orjson.dumps({programme: token_hash}).decode(),
        }
    )
    participant = next(p.key for p in run.cohort.participants if p.programme_id == programme)
    found: list[str] = []
    try:
        await run.setup()
        (records,) = run.records_in_segments(1)
        await run.feed(records)
        producer = create_producer(run.settings, client_suffix="phi")
        await producer.start()
        try:
            for value in submissions(programme, participant):
                await producer.send_and_wait(
                    run.settings.topic_name("peer.intake.raw"),
                    value=value,
                    key=participant.encode(),
                    headers=[("x-note", b"not-phi")],
                )
            clinic = next(p.clinic_id for p in run.cohort.participants if p.key == participant)
            for value in fhir_records(participant):
                await producer.send_and_wait(
                    run.settings.topic_name("clinic.fhir.inbound"),
                    value=value,
                    key=participant.encode(),
                    headers=[("x-peerlink-clinic-id", str(clinic).encode())],
                )
        finally:
            await producer.stop()
        intake_url = ops_url(run.specs["intake"])
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=str(intake_url), timeout=10) as client:
            for value in submissions(programme, participant):
                response = await client.post(
                    "/v1/events", content=value, headers={**auth, "X-Patient": NAME}
                )
                assert response.status_code < 500
                _scan(response.text, "an HTTP response", found)
        await run.drain()
        async with httpx.AsyncClient(timeout=10) as client:
            for spec in run.specs.values():
                url = ops_url(spec)
                response = await client.get(f"{url}/metrics", headers=auth)
                assert response.status_code == 200, (spec.name, response.status_code)
                _scan(response.text, f"{spec.name} /metrics", found)
        watch = PipelineWatch(run.settings)
        await watch.start()
        try:
            everything = await watch.read_all([t.name for t in TOPICS])
        finally:
            await watch.close()
        dlq_values = [r.value or b"" for r in everything if r.topic == "peer.intake.dlq"]
        assert any(NAME.encode() in v for v in dlq_values), "the markers did reach the DLQ"
        for record in everything:
            for name, value in record.headers:
                _scan(f"{name}={value.decode(errors='replace')}", f"a {record.topic} header", found)
    finally:
        run.stop_all()
        logs = sorted(run.log_dir.glob("*.log"))
        for log in logs:
            _scan(log.read_text(errors="replace"), f"log {log.name}", found)
        await run.teardown()
    assert logs
    assert all(log.stat().st_size > 0 for log in logs)
    debug = sum(log.read_text(errors="replace").count('"level": "debug"') for log in logs)
    print(f"\nscanned {len(logs)} logs ({debug} debug lines), metrics and all headers")
    assert debug > 0, "DEBUG logging was on"
    assert not found, sorted(set(found))
