"""CareGapChange -> FHIR resources: shape, identity, versions, alerts, references."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.caregaps import (
    ClinicalCoding,
    GapAction,
    GapStatus,
    GapTransition,
    ParticipationStatus,
    PatientLink,
)
from schemas.vocabulary import DiabetesType, GapCode, GapKind, Priority, SupportModel
from services.fhir_publisher import ClinicProfile, Mapper, MappingError, Naming
from services.fhir_publisher.checks import check_resource, validate_model
from services.fhir_publisher.examples import CLINIC, T0, make_change, make_gap, opened
from services.fhir_publisher.mapping import US_CORE_CAREPLAN, fhir_instant

P = "p-000123"


def _bodies(
    mapper: Mapper, change: Any, clinic: ClinicProfile | None = None
) -> list[dict[str, Any]]:
    result = mapper.map_change(change, P, clinic or ClinicProfile())
    assert result.withheld is None
    for resource in result.resources:
        assert check_resource(resource.body) == []
        validate_model(resource.body)
    return [r.body for r in result.resources]


def _of(bodies: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [b for b in bodies if b["resourceType"] == rtype]


def test_careplan_is_us_core_shaped(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE)
    (plan,) = _of(_bodies(mapper, make_change(open_gaps=[gap], delta=[opened(gap)])), "CarePlan")
    assert plan["meta"]["profile"] == [US_CORE_CAREPLAN]
    assert plan["status"] == "active"
    assert plan["intent"] == "plan"
    assert plan["text"]["status"] == "generated"
    assert plan["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "HbA1c test due" in plan["text"]["div"]
    codes = {(c["system"], c["code"]) for cat in plan["category"] for c in cat["coding"]}
    assert codes == {
        ("http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "assess-plan"),
        ("http://snomed.info/sct", "735985000"),
    }
    assert plan["subject"] == {"reference": "Patient/pat-7f3a", "type": "Patient"}
    assert plan["author"]["type"] == "Organization"
    assert plan["author"]["identifier"]["value"] == "prog-chw-east"
    assert plan["careTeam"][0]["type"] == "CareTeam"
    (activity,) = plan["activity"]
    assert activity["detail"]["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "4548-4",
        "display": "Hemoglobin A1c/Hemoglobin.total in Blood",
    }
    assert activity["detail"]["kind"] == "ServiceRequest"
    assert activity["detail"]["status"] == "not-started"
    assert activity["extension"][0]["valueIdentifier"]["value"] == gap.gap_id


@pytest.mark.parametrize(
    ("diabetes", "code"),
    [
        (DiabetesType.TYPE_1, "46635009"),
        (DiabetesType.TYPE_2, "44054006"),
        (DiabetesType.OTHER, "73211009"),
    ],
)
def test_addresses_a_contained_diabetes_condition(
    mapper: Mapper, diabetes: DiabetesType, code: str
) -> None:
    (plan,) = _bodies(mapper, make_change(diabetes_type=diabetes))
    (condition,) = plan["contained"]
    assert condition["resourceType"] == "Condition"
    assert condition["code"]["coding"][0]["code"] == code
    assert condition["subject"] == plan["subject"]
    assert plan["addresses"][0]["reference"] == "#diabetes"


def test_unknown_diabetes_type_has_no_addresses(mapper: Mapper) -> None:
    (plan,) = _bodies(mapper, make_change(diabetes_type=DiabetesType.UNKNOWN))
    assert "addresses" not in plan
    assert "contained" not in plan
    assert "No open care gaps" in plan["text"]["div"]
    assert "activity" not in plan  # FHIR JSON forbids empty arrays


def test_detail_status_follows_the_gap(mapper: Mapper) -> None:
    open_gap = make_gap(GapCode.EYE_DUE)
    flag = make_gap(GapCode.REDFLAG_RF2)
    closed = make_gap(GapCode.A1C_DUE, status=GapStatus.CLOSED, close_reason="hba1c-received")
    cancelled = make_gap(GapCode.FOOT_DUE, status=GapStatus.CANCELLED)
    change = make_change(open_gaps=[open_gap, flag], recently_closed=[closed, cancelled])
    (plan,) = _bodies(mapper, change)
    by_gap = {a["extension"][0]["valueIdentifier"]["value"]: a["detail"] for a in plan["activity"]}
    assert by_gap[open_gap.gap_id]["status"] == "not-started"
    assert by_gap[flag.gap_id]["status"] == "in-progress"
    assert by_gap[closed.gap_id]["status"] == "completed"
    assert by_gap[closed.gap_id]["statusReason"]["coding"][0]["code"] == "hba1c-received"
    assert by_gap[cancelled.gap_id]["status"] == "cancelled"
    # Open gaps first, most urgent first.
    assert [a["extension"][0]["valueIdentifier"]["value"] for a in plan["activity"]][:2] == [
        flag.gap_id,
        open_gap.gap_id,
    ]


def test_exited_participant_completes_the_plan(mapper: Mapper) -> None:
    gap = make_gap(GapCode.EYE_DUE)
    change = make_change(open_gaps=[gap], participation=ParticipationStatus.EXITED)
    (plan,) = _bodies(mapper, change)
    assert plan["status"] == "completed"
    assert plan["period"] == {"end": fhir_instant(change.as_of)}
    assert plan["activity"][0]["detail"]["status"] == "stopped"


def test_ids_are_deterministic_and_versions_follow_the_sequence(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE)
    first = mapper.map_change(
        make_change(sequence=4, open_gaps=[gap], delta=[opened(gap)]), P, ClinicProfile()
    )
    again = mapper.map_change(
        make_change(sequence=4, open_gaps=[gap], delta=[opened(gap)]), P, ClinicProfile()
    )
    assert [r.to_json() for r in first.resources] == [r.to_json() for r in again.resources]
    later = mapper.map_change(make_change(sequence=9, open_gaps=[gap]), P, ClinicProfile())
    plan_4, plan_9 = first.resources[0], later.resources[0]
    assert plan_4.id == plan_9.id
    assert (plan_4.version_id, plan_9.version_id) == ("4", "9")
    assert plan_4.body["meta"]["versionId"] == "4"
    other = mapper.map_change(make_change(open_gaps=[gap]), "p-000999", ClinicProfile())
    assert other.resources[0].id != plan_4.id
    assert len(plan_4.id) == 36


def test_ids_carry_no_patient_identifiers(mapper: Mapper) -> None:
    link = PatientLink(identifier_system="urn:oid:1.2.3", identifier_value="MRN998877")
    gap = make_gap(GapCode.REDFLAG_RF11)
    change = make_change(patient=link, open_gaps=[gap], delta=[opened(gap)])
    result = mapper.map_change(change, P, ClinicProfile(detected_issue=True))
    for resource in result.resources:
        assert "MRN998877" not in resource.id
        for ident in resource.body["identifier"]:
            assert "MRN998877" not in ident["value"]
            assert "pat-7f3a" not in ident["value"]


def test_identifier_systems_are_ours(mapper: Mapper) -> None:
    gap = make_gap(GapCode.REDFLAG_RF5)
    change = make_change(open_gaps=[gap], delta=[opened(gap)])
    result = mapper.map_change(change, P, ClinicProfile(detected_issue=True))
    assert {r.resource_type for r in result.resources} == {
        "CarePlan",
        "Communication",
        "DetectedIssue",
    }
    for resource in result.resources:
        (ident,) = resource.body["identifier"]
        assert ident["system"].startswith(Naming().base + "/NamingSystem/")
        assert resource.id == Naming.logical_id(
            resource.resource_type, ident["system"], ident["value"]
        )


@pytest.mark.parametrize(
    ("link", "style", "expected"),
    [
        (
            PatientLink(literal_id="pat-1"),
            "literal",
            {"reference": "Patient/pat-1", "type": "Patient"},
        ),
        (
            PatientLink(literal_id="pat-1"),
            "identifier",
            {"reference": "Patient/pat-1", "type": "Patient"},
        ),
        (
            PatientLink(literal_id="pat-1", identifier_system="urn:oid:1.2", identifier_value="A1"),
            "identifier",
            {"type": "Patient", "identifier": {"system": "urn:oid:1.2", "value": "A1"}},
        ),
        (
            PatientLink(literal_id="pat-1", identifier_system="urn:oid:1.2", identifier_value="A1"),
            "literal",
            {"reference": "Patient/pat-1", "type": "Patient"},
        ),
        (
            PatientLink(identifier_value="A1"),
            "literal",
            {"type": "Patient", "identifier": {"system": "urn:oid:9.9", "value": "A1"}},
        ),
    ],
)
def test_patient_reference_per_clinic_profile(
    mapper: Mapper, link: PatientLink, style: str, expected: dict[str, Any]
) -> None:
    clinic = ClinicProfile.model_validate(
        {"patient_reference": style, "patient_identifier_system": "urn:oid:9.9"}
    )
    (plan,) = _bodies(mapper, make_change(patient=link), clinic)
    assert plan["subject"] == expected


def test_unusable_link_system_falls_back_to_the_clinic_default(mapper: Mapper) -> None:
    link = PatientLink(identifier_system="not a uri", identifier_value="A1")
    clinic = ClinicProfile(patient_identifier_system="urn:oid:9.9")
    (plan,) = _bodies(mapper, make_change(patient=link), clinic)
    assert plan["subject"]["identifier"] == {"system": "urn:oid:9.9", "value": "A1"}


def test_identifier_without_any_system_is_still_a_valid_logical_reference(mapper: Mapper) -> None:
    (plan,) = _bodies(mapper, make_change(patient=PatientLink(identifier_value="A1")))
    assert plan["subject"] == {"type": "Patient", "identifier": {"value": "A1"}}


@pytest.mark.parametrize("link", [PatientLink(), PatientLink(identifier_value="   ")])
def test_no_usable_patient_link_is_withheld(mapper: Mapper, link: PatientLink) -> None:
    result = mapper.map_change(make_change(patient=link), P, ClinicProfile())
    assert result.resources == ()
    assert result.withheld is not None
    assert result.withheld.value == "no_patient_link"


def test_communication_per_opened_gap(mapper: Mapper) -> None:
    flag = make_gap(GapCode.REDFLAG_RF1)
    reminder = make_gap(GapCode.EYE_DUE)
    already_open = make_gap(GapCode.A1C_DUE)
    change = make_change(
        sequence=5, open_gaps=[flag, reminder, already_open], delta=[opened(flag), opened(reminder)]
    )
    bodies = _bodies(mapper, change)
    plan = _of(bodies, "CarePlan")[0]
    comms = _of(bodies, "Communication")
    assert [c["topic"]["coding"][0]["code"] for c in comms] == ["DM-REDFLAG-RF1", "DM-EYE-DUE"]
    stat, routine = comms
    assert stat["priority"] == "stat"
    assert stat["category"][0]["coding"][0]["code"] == "alert"
    assert routine["priority"] == "routine"
    assert routine["category"][0]["coding"][0]["code"] == "reminder"
    for comm in comms:
        assert comm["status"] == "completed"
        assert comm["basedOn"] == [{"reference": f"CarePlan/{plan['id']}", "type": "CarePlan"}]
        assert comm["subject"] == plan["subject"]
        assert comm["sender"]["type"] == "Organization"
        assert comm["recipient"][0]["type"] == "CareTeam"
        assert comm["sent"] == fhir_instant(change.as_of)
        assert comm["meta"]["versionId"] == "1"
        assert "community health worker" in comm["payload"][0]["contentString"]
    assert "call emergency services now" in stat["payload"][0]["contentString"]


def test_escalation_raises_one_alert_and_de_escalation_none(mapper: Mapper) -> None:
    bp = make_gap(GapCode.BP_ABOVE_GOAL, priority=Priority.URGENT)
    up = GapTransition(
        action=GapAction.UPDATED,
        gap_id=bp.gap_id,
        code=bp.code,
        reason="bp-above-160-100",
        priority=Priority.URGENT,
        previous_priority=Priority.ROUTINE,
    )
    (comm,) = _of(_bodies(mapper, make_change(open_gaps=[bp], delta=[up])), "Communication")
    assert comm["priority"] == "urgent"
    assert comm["payload"][0]["contentString"].startswith("Priority raised from routine to urgent.")
    down_gap = make_gap(GapCode.BP_ABOVE_GOAL, priority=Priority.ROUTINE)
    down = up.model_copy(
        update={"priority": Priority.ROUTINE, "previous_priority": Priority.URGENT}
    )
    assert (
        _of(_bodies(mapper, make_change(open_gaps=[down_gap], delta=[down])), "Communication") == []
    )


def test_one_alert_per_gap_and_change_at_the_highest_priority(mapper: Mapper) -> None:
    gap = make_gap(GapCode.REDFLAG_RF7, priority=Priority.ASAP)
    first = opened(gap).model_copy(update={"priority": Priority.URGENT})
    up = GapTransition(
        action=GapAction.UPDATED,
        gap_id=gap.gap_id,
        code=gap.code,
        reason=gap.reason,
        priority=Priority.ASAP,
        previous_priority=Priority.URGENT,
    )
    comms = _of(_bodies(mapper, make_change(open_gaps=[gap], delta=[first, up])), "Communication")
    assert [c["priority"] for c in comms] == ["asap"]
    assert not comms[0]["payload"][0]["contentString"].startswith("Priority raised")


def test_closing_raises_no_alert_but_opening_and_closing_together_does(mapper: Mapper) -> None:
    gap = make_gap(GapCode.REDFLAG_RF6, status=GapStatus.CLOSED)
    closed = GapTransition(
        action=GapAction.CLOSED, gap_id=gap.gap_id, code=gap.code, reason="x", priority=gap.priority
    )
    assert (
        _of(_bodies(mapper, make_change(recently_closed=[gap], delta=[closed])), "Communication")
        == []
    )
    both = _bodies(mapper, make_change(recently_closed=[gap], delta=[opened(gap), closed]))
    assert len(_of(both, "Communication")) == 1


def test_clinic_alert_filters(mapper: Mapper) -> None:
    routine = make_gap(GapCode.A1C_DUE)
    engagement = make_gap(GapCode.DISENGAGED)
    flag = make_gap(GapCode.REDFLAG_RF13)
    change = make_change(
        open_gaps=[routine, engagement, flag],
        delta=[opened(routine), opened(engagement), opened(flag)],
    )
    clinic = ClinicProfile(
        alert_min_priority=Priority.URGENT,
        alert_kinds=frozenset({GapKind.RED_FLAG, GapKind.CARE_GAP}),
    )
    comms = _of(_bodies(mapper, change, clinic), "Communication")
    assert [c["topic"]["coding"][0]["code"] for c in comms] == ["DM-REDFLAG-RF13"]


def test_transition_for_a_gap_missing_from_the_snapshot_is_skipped(mapper: Mapper) -> None:
    ghost = make_gap(GapCode.REDFLAG_RF3)
    bodies = _bodies(mapper, make_change(delta=[opened(ghost)]))
    assert [b["resourceType"] for b in bodies] == ["CarePlan"]


def test_detected_issue_is_opt_in_and_follows_the_gap(mapper: Mapper) -> None:
    gap = make_gap(GapCode.KIDNEY_CONFIRM)
    change = make_change(sequence=6, open_gaps=[gap], delta=[opened(gap)])
    assert _of(_bodies(mapper, change), "DetectedIssue") == []
    bodies = _bodies(mapper, change, ClinicProfile(detected_issue=True))
    (issue,) = _of(bodies, "DetectedIssue")
    assert issue["status"] == "final"
    assert issue["code"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "CAREGAP",
        "display": "Care Gaps",
    }
    assert issue["modifierExtension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "open-gap"
    assert issue["severity"] == "moderate"
    assert issue["meta"]["versionId"] == "6"
    (comm,) = _of(bodies, "Communication")
    assert comm["about"] == [{"reference": f"DetectedIssue/{issue['id']}", "type": "DetectedIssue"}]
    closed = gap.model_copy(
        update={"status": GapStatus.CLOSED, "closed_at": T0 + timedelta(days=3)}
    )
    transition = GapTransition(
        action=GapAction.CLOSED, gap_id=gap.gap_id, code=gap.code, reason="x", priority=gap.priority
    )
    later = _bodies(
        mapper,
        make_change(sequence=8, recently_closed=[closed], delta=[transition]),
        ClinicProfile(detected_issue=True),
    )
    (closed_issue,) = _of(later, "DetectedIssue")
    assert closed_issue["id"] == issue["id"]
    assert closed_issue["meta"]["versionId"] == "8"
    assert closed_issue["status"] == "amended"
    assert (
        closed_issue["modifierExtension"][0]["valueCodeableConcept"]["coding"][0]["code"]
        == "closed-gap"
    )


def test_no_free_text_from_the_contract_reaches_the_clinic(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_POOR).model_copy(
        update={"recommended_action": "Maria said her sister drives her <b>Tuesdays</b>"}
    )
    change = make_change(open_gaps=[gap], delta=[opened(gap)])
    result = mapper.map_change(change, P, ClinicProfile(detected_issue=True))
    text = b"".join(r.to_json() for r in result.resources)
    assert b"Maria" not in text
    assert b"Tuesdays" not in text


def test_invalid_coding_is_a_mapping_error(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE).model_copy(
        update={"coding": ClinicalCoding(system="http://loinc.org", code=" 4548-4", display="x")}
    )
    with pytest.raises(MappingError) as info:
        mapper.map_change(make_change(open_gaps=[gap]), P, ClinicProfile())
    assert info.value.reason == "invalid_gap_coding"


def test_blank_display_is_omitted(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE).model_copy(
        update={"coding": ClinicalCoding(system="http://loinc.org", code="4548-4", display=" ")}
    )
    (plan,) = _bodies(mapper, make_change(open_gaps=[gap]))
    assert plan["activity"][0]["detail"]["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "4548-4",
    }


def test_blank_gap_id_is_a_mapping_error(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE).model_copy(update={"gap_id": " "})
    with pytest.raises(MappingError) as info:
        mapper.map_change(make_change(open_gaps=[gap]), P, ClinicProfile())
    assert info.value.reason == "invalid_gap_id"


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 9, 3, 9, 30, tzinfo=UTC), "2026-09-03T09:30:00Z"),
        (datetime(2026, 9, 3, 9, 30, 1, 250000, tzinfo=UTC), "2026-09-03T09:30:01.25Z"),
        (datetime(2026, 9, 3, 1, 0, tzinfo=timezone(timedelta(hours=5))), "2026-09-02T20:00:00Z"),
        (datetime(999, 1, 2, tzinfo=UTC), "0999-01-02T00:00:00Z"),
    ],
)
def test_fhir_instant(moment: datetime, text: str) -> None:
    assert fhir_instant(moment) == text


def test_narrative_escapes_and_lists_every_open_gap(mapper: Mapper) -> None:
    gaps = [make_gap(code) for code in (GapCode.A1C_DUE, GapCode.EYE_DUE, GapCode.REDFLAG_RF10)]
    (plan,) = _bodies(mapper, make_change(open_gaps=gaps, support_model=SupportModel.PEER_COACH))
    div = plan["text"]["div"]
    for label in ("HbA1c test due", "Diabetic eye exam due", "Red flag: new foot wound"):
        assert label in div
    assert "one-to-one peer coach" in div


def test_json_is_compact_utf8(mapper: Mapper) -> None:
    gap = make_gap(GapCode.A1C_DUE)
    result = mapper.map_change(
        make_change(open_gaps=[gap], delta=[opened(gap)]), P, ClinicProfile()
    )
    raw = result.resources[0].to_json()
    assert json.loads(raw)["resourceType"] == "CarePlan"
    assert b"\n" not in raw


def test_clinic_id_is_part_of_the_careplan_identity(mapper: Mapper) -> None:
    north = mapper.map_change(make_change(), P, ClinicProfile()).resources[0]
    south_change = make_change(clinic_id="clinic-south", consent_clinic="clinic-south")
    south = mapper.map_change(south_change, P, ClinicProfile()).resources[0]
    assert north.id != south.id
    assert north.body["identifier"][0]["value"] == f"{CLINIC}/{P}"
