"""Golden example resources under ``schemas/golden/``: one scenario per gap code and priority,
plus lifecycle scenarios (closure, escalation, exit, identifier references, opt-outs).

Each scenario folder holds the input event (``input.json``), the clinic profile used
(``clinic.json``) and every published resource (``<n>-<ResourceType>.json``). The tests
validate the goldens with both tiers and fail when the mapping output drifts from them;
regenerate after an intended change with ``peerlink fhir-publisher golden --write``
(or :func:`write_goldens`) and review the diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from schemas.caregaps import GapAction, GapStatus, GapTransition, ParticipationStatus, PatientLink
from schemas.events import CareGapsChangedEvent
from schemas.vocabulary import DiabetesType, GapCode, Priority, SupportModel
from services.fhir_publisher.config import ClinicProfile
from services.fhir_publisher.examples import (
    CANONICAL,
    T0,
    change_event,
    make_change,
    make_gap,
    opened,
)
from services.fhir_publisher.mapping import Mapper

__all__ = [
    "GOLDEN_DIR",
    "Scenario",
    "diff_goldens",
    "render_goldens",
    "scenarios",
    "write_goldens",
]

GOLDEN_DIR: Final = Path(__file__).resolve().parents[2] / "schemas" / "golden"

_MODELS: Final = tuple(SupportModel)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    event: CareGapsChangedEvent
    clinic: ClinicProfile


def _per_code() -> Iterator[Scenario]:
    # The support model rotates so every model's wording appears in some golden.
    index = 0
    for code, canon in CANONICAL.items():
        for priority in canon.priorities:
            gap = make_gap(code, priority=priority)
            change = make_change(
                sequence=2,
                open_gaps=[gap],
                delta=[opened(gap)],
                support_model=_MODELS[index % len(_MODELS)],
            )
            index += 1
            yield Scenario(
                name=f"{code.value.lower()}-{priority.value}",
                event=change_event(change),
                clinic=ClinicProfile(detected_issue=True),
            )


def _lifecycle() -> Iterator[Scenario]:
    a1c = make_gap(GapCode.A1C_DUE, opened_at=T0 - timedelta(days=40))
    eye = make_gap(GapCode.EYE_DUE, opened_at=T0 - timedelta(days=90))
    closed_a1c = make_gap(
        GapCode.A1C_DUE,
        status=GapStatus.CLOSED,
        opened_at=T0 - timedelta(days=40),
        closed_at=T0,
        close_reason="hba1c-result-received",
    )
    cancelled_eye = make_gap(
        GapCode.EYE_DUE,
        status=GapStatus.CANCELLED,
        opened_at=T0 - timedelta(days=90),
        closed_at=T0,
        close_reason="bilateral-anophthalmos",
    )
    yield Scenario(
        name="lifecycle-closed-and-cancelled",
        event=change_event(
            make_change(
                sequence=7,
                recently_closed=[closed_a1c, cancelled_eye],
                delta=[
                    GapTransition(
                        action=GapAction.CLOSED,
                        gap_id=closed_a1c.gap_id,
                        code=closed_a1c.code,
                        reason="hba1c-result-received",
                        priority=Priority.ROUTINE,
                    ),
                    GapTransition(
                        action=GapAction.CANCELLED,
                        gap_id=cancelled_eye.gap_id,
                        code=cancelled_eye.code,
                        reason="bilateral-anophthalmos",
                        priority=Priority.ROUTINE,
                    ),
                ],
            )
        ),
        clinic=ClinicProfile(detected_issue=True),
    )
    bp = make_gap(GapCode.BP_ABOVE_GOAL, priority=Priority.URGENT, opened_at=T0 - timedelta(days=5))
    yield Scenario(
        name="lifecycle-escalation-routine-to-urgent",
        event=change_event(
            make_change(
                sequence=9,
                open_gaps=[bp, a1c],
                delta=[
                    GapTransition(
                        action=GapAction.UPDATED,
                        gap_id=bp.gap_id,
                        code=bp.code,
                        reason="bp-above-160-100-repeated",
                        priority=Priority.URGENT,
                        previous_priority=Priority.ROUTINE,
                    )
                ],
            )
        ),
        clinic=ClinicProfile(),
    )
    yield Scenario(
        name="lifecycle-participant-exited",
        event=change_event(
            make_change(
                sequence=12,
                participation=ParticipationStatus.EXITED,
                open_gaps=[a1c, eye],
                recently_closed=[
                    make_gap(
                        GapCode.BP_DUE,
                        status=GapStatus.CLOSED,
                        opened_at=T0 - timedelta(days=60),
                        close_reason="bp-reading-received",
                    )
                ],
                support_model=SupportModel.PEER_COACH,
                diabetes_type=DiabetesType.TYPE_1,
            )
        ),
        clinic=ClinicProfile(),
    )
    flag = make_gap(GapCode.REDFLAG_RF11, priority=Priority.STAT)
    yield Scenario(
        name="reference-patient-by-identifier",
        event=change_event(
            make_change(
                sequence=3,
                open_gaps=[flag, a1c],
                delta=[opened(flag)],
                patient=PatientLink(
                    identifier_system="urn:oid:2.16.840.1.113883.19.5", identifier_value="A12345"
                ),
                support_model=SupportModel.TELEPHONE_PEER_PARTNER,
            )
        ),
        clinic=ClinicProfile(
            patient_reference="identifier", care_team_reference="CareTeam/diabetes-north"
        ),
    )
    yield Scenario(
        name="no-open-gaps-unknown-diabetes-type",
        event=change_event(
            make_change(
                sequence=1,
                diabetes_type=DiabetesType.UNKNOWN,
                support_model=SupportModel.ONLINE_COMMUNITY,
            )
        ),
        clinic=ClinicProfile(),
    )


def scenarios() -> list[Scenario]:
    return [*_per_code(), *_lifecycle()]


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def render_goldens(mapper: Mapper | None = None) -> dict[str, bytes]:
    """Every golden file, by path relative to the golden folder."""
    mapper = mapper or Mapper()
    files: dict[str, bytes] = {}
    for scenario in scenarios():
        event = scenario.event
        result = mapper.map_change(event.data, event.subject, scenario.clinic)
        if result.withheld is not None:
            raise AssertionError(f"golden scenario {scenario.name} was withheld")
        files[f"{scenario.name}/input.json"] = _dump(event.model_dump(mode="json"))
        files[f"{scenario.name}/clinic.json"] = _dump(scenario.clinic.model_dump(mode="json"))
        for number, resource in enumerate(result.resources, start=1):
            files[f"{scenario.name}/{number}-{resource.resource_type}.json"] = _dump(resource.body)
    return files


def write_goldens(directory: Path = GOLDEN_DIR) -> list[str]:
    """Rewrite the golden folder from the current mapping; returns the files written."""
    files = render_goldens()
    for stale in directory.glob("*/*.json"):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for folder in directory.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return sorted(files)


def diff_goldens(directory: Path = GOLDEN_DIR) -> list[str]:
    """Differences between the checked-in goldens and the current mapping output."""
    expected = render_goldens()
    present = {p.relative_to(directory).as_posix() for p in directory.glob("*/*.json")}
    problems = [f"missing: {rel}" for rel in sorted(set(expected) - present)]
    problems += [f"unexpected: {rel}" for rel in sorted(present - set(expected))]
    for rel in sorted(set(expected) & present):
        on_disk = orjson.loads((directory / rel).read_bytes())
        if on_disk != orjson.loads(expected[rel]):
            problems.append(f"changed: {rel}")
    return problems
