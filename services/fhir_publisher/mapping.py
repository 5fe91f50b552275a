"""Pure mapping: one ``CareGapChange`` -> the FHIR R4 resources a clinic may see.

Resources are built as plain dicts from a fixed template and serialised with orjson. Every
variable value passes a typed guard where it is inserted (FHIR code, uri, id, string,
instant; escaped narrative text), and the template itself is validated by the rule layer,
the fhir.resources R4B models and FHIR.js over the whole input space in the test suite.
R4B validation costs ~0.4 ms per CarePlan, so at run time it is optional (``model`` mode).

Identity and versions, without state:

* logical ids are UUIDv5 of the business identifier (:class:`Naming`), so any replica and
  any replay yields the same ids;
* ``meta.versionId`` of the CarePlan and the DetectedIssue is the ``sequence`` of the change
  that produced the content. The sequence is per participant, strictly increasing and
  stable across engine replays, so versions never go back and a replayed change
  re-publishes the identical resource. It increases only when the content changes as long
  as the engine emits a change only when the participant's clinic-visible snapshot changed,
  because every snapshot field a clinic sees is rendered (gap set, status, priority, reason,
  close reason, coding; participation; patient link; clinic; diabetes type). A change that
  alters nothing rendered (say, only ``evidence_event_ids``) would get a new version with
  equal content: the contract could carry a ``content_sequence`` (the sequence of the last
  change that altered clinic-visible fields, carried forward otherwise) to make versions
  exact without relying on that;
* a Communication is an immutable event record: version 1, one per gap episode and change
  that opened or escalated the alert.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

import orjson

from schemas.caregaps import (
    CareGap,
    CareGapChange,
    ClinicalCoding,
    GapAction,
    GapStatus,
    GapTransition,
    ParticipationStatus,
    PatientLink,
)
from schemas.vocabulary import DiabetesType, GapKind, Priority
from services.fhir_publisher.config import ClinicProfile
from services.fhir_publisher.naming import Naming
from services.fhir_publisher.texts import (
    GAP_TEXTS,
    PRIORITY_NOTES,
    SUPPORT_MODEL_LABELS,
    GapText,
)

__all__ = [
    "CONTENT_TYPE",
    "US_CORE_CAREPLAN",
    "FhirResource",
    "Mapper",
    "MappingError",
    "MappingResult",
    "Withheld",
    "fhir_instant",
]

CONTENT_TYPE: Final = "application/fhir+json; fhirVersion=4.0"
US_CORE_CAREPLAN: Final = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan"
_CAREPLAN_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
_SNOMED: Final = "http://snomed.info/sct"
_COMM_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/communication-category"
_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_GAP_STATUS_EXT: Final = (
    "http://hl7.org/fhir/us/davinci-deqm/StructureDefinition/extension-gapStatus"
)
_GAP_STATUS_CS: Final = "http://hl7.org/fhir/us/davinci-deqm/CodeSystem/gaps-status"
_XHTML_NS: Final = "http://www.w3.org/1999/xhtml"

_CATEGORIES: Final = (
    {
        "coding": [
            {
                "system": _CAREPLAN_CATEGORY,
                "code": "assess-plan",
                "display": "Assessment and Plan of Treatment",
            }
        ]
    },
    {
        "coding": [
            {
                "system": _SNOMED,
                "code": "735985000",
                "display": "Diabetes self management plan",
            }
        ]
    },
)

_DIABETES: Final = {
    DiabetesType.TYPE_1: ("46635009", "Diabetes mellitus type 1"),
    DiabetesType.TYPE_2: ("44054006", "Diabetes mellitus type 2"),
    DiabetesType.OTHER: ("73211009", "Diabetes mellitus"),
}

_COMM_DISPLAY: Final = {"alert": "Alert", "notification": "Notification", "reminder": "Reminder"}
_SEVERITY: Final = {
    Priority.ROUTINE: "low",
    Priority.URGENT: "moderate",
    Priority.ASAP: "high",
    Priority.STAT: "high",
}
_STATUS_WORDS: Final = {
    "not-started": "not started",
    "in-progress": "in progress",
    "completed": "completed",
    "cancelled": "cancelled",
    "stopped": "stopped",
}

# FHIR primitive patterns (R4 datatypes page): a code has no leading, trailing or double
# whitespace; a uri has no whitespace (nor control characters) at all.
_CODE_RE: Final = re.compile(r"[^\s]+(?: [^\s]+)*")
_URI_RE: Final = re.compile(r"[^\s\x00-\x1f\x7f]+")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Withheld(StrEnum):
    """Why nothing was published for a change (label of the ``withheld`` metric)."""

    NO_CLINIC = "no_clinic"
    NO_CONSENT = "no_consent"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_OTHER_CLINIC = "consent_other_clinic"
    NO_PATIENT_LINK = "no_patient_link"


class MappingError(ValueError):
    """The change cannot be mapped to valid FHIR; ``reason`` is a code (no input values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class FhirResource:
    """One resource ready to publish."""

    resource_type: str
    id: str
    version_id: str
    body: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class MappingResult:
    """The resources of one change, in publication order, or why it was withheld."""

    resources: tuple[FhirResource, ...] = ()
    withheld: Withheld | None = None


@lru_cache(maxsize=8192)
def fhir_instant(moment: datetime) -> str:
    """UTC ``instant``/``dateTime`` text; zero-padded years, unlike ``strftime("%Y")``."""
    u = moment.astimezone(UTC)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    if u.microsecond:
        text += "." + f"{u.microsecond:06d}".rstrip("0")
    return text + "Z"


@lru_cache(maxsize=8192)
def _day(moment: datetime) -> str:
    u = moment.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}"


@lru_cache(maxsize=1024)  # mostly the fixed wording of texts.py
def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _clean(text: str | None) -> str | None:
    """A usable FHIR string, or None when blank or carrying control characters."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped or _CONTROL_RE.search(stripped):
        return None
    return stripped


def _coding(coding: ClinicalCoding) -> dict[str, str]:
    if not _URI_RE.fullmatch(coding.system) or not _CODE_RE.fullmatch(coding.code):
        raise MappingError("invalid_gap_coding")
    out = {"system": coding.system, "code": coding.code}
    display = _clean(coding.display)
    if display is not None:
        out["display"] = display
    return out


def _gap_id(gap: CareGap) -> str:
    value = _clean(gap.gap_id)
    if value is None:
        raise MappingError("invalid_gap_id")
    return value


def _sort_key(gap: CareGap) -> tuple[int, int, datetime, str, str]:
    # Open gaps first, most urgent first; then by age; ties broken by code and id so the
    # activity order (part of the content) is a function of the snapshot alone.
    return (
        0 if gap.status is GapStatus.OPEN else 1,
        -gap.priority.rank,
        gap.opened_at,
        gap.code.value,
        gap.gap_id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    change: CareGapChange
    participant_key: str
    clinic_id: str
    clinic: ClinicProfile
    patient: dict[str, Any]
    as_of: str
    careplan_id: str
    plan_completed: bool


class Mapper:
    """Maps changes for any clinic; holds only immutable configuration."""

    def __init__(self, naming: Naming | None = None) -> None:
        self.naming = naming or Naming()

    # ------------------------------------------------------------------ public

    def consent_gate(self, change: CareGapChange) -> Withheld | None:
        """Why nothing may be published for this change, or None when it may.

        Consent is the state at this position of the participant's log (the engine folds
        consent events into every change), so a withdrawal stops publication from that
        point on and a later grant resumes it.
        """
        if change.clinic_id is None:
            return Withheld.NO_CLINIC
        consent = change.consent
        if not consent.share_with_clinic:
            return Withheld.CONSENT_WITHDRAWN if consent.since is not None else Withheld.NO_CONSENT
        # A grant without a clinic, or for another clinic, does not cover this clinic.
        if consent.clinic_id != change.clinic_id:
            return Withheld.CONSENT_OTHER_CLINIC
        return None

    def map_change(
        self, change: CareGapChange, participant_key: str, clinic: ClinicProfile
    ) -> MappingResult:
        """All resources for one change: the CarePlan, then alerts, then DetectedIssues."""
        withheld = self.consent_gate(change)
        if withheld is not None:
            return MappingResult(withheld=withheld)
        assert change.clinic_id is not None  # the gate checked it
        patient = self.patient_reference(change.patient, clinic)
        if patient is None:
            return MappingResult(withheld=Withheld.NO_PATIENT_LINK)
        naming = self.naming
        careplan_id = naming.logical_id(
            "CarePlan",
            naming.careplan_system,
            naming.careplan_key(change.clinic_id, participant_key),
        )
        ctx = _Context(
            change=change,
            participant_key=participant_key,
            clinic_id=change.clinic_id,
            clinic=clinic,
            patient=patient,
            as_of=fhir_instant(change.as_of),
            careplan_id=careplan_id,
            plan_completed=change.participation is ParticipationStatus.EXITED,
        )
        gaps = {g.gap_id: g for g in (*change.recently_closed, *change.open_gaps)}
        touched = _touched(change.delta, gaps)
        resources = [self._careplan(ctx)]
        for gap, priority, escalated_from in self._alerts(ctx, touched):
            resources.append(self._communication(ctx, gap, priority, escalated_from))
        if clinic.detected_issue:
            resources.extend(self._detected_issue(ctx, gap) for gap, _ in touched)
        return MappingResult(resources=tuple(resources))

    def patient_reference(
        self, link: PatientLink | None, clinic: ClinicProfile
    ) -> dict[str, Any] | None:
        """The clinic's Patient: literal or logical (by identifier), per clinic profile."""
        if link is None:
            return None
        literal = (
            {"reference": f"Patient/{link.literal_id}", "type": "Patient"}
            if link.literal_id
            else None
        )
        logical: dict[str, Any] | None = None
        value = _clean(link.identifier_value)
        if value is not None:
            identifier = {"value": value}
            # The link's own system, else the clinic's default; an unusable one is left out.
            for system in (link.identifier_system, clinic.patient_identifier_system):
                if system is not None and _URI_RE.fullmatch(system):
                    identifier = {"system": system, "value": value}
                    break
            logical = {"type": "Patient", "identifier": identifier}
        if clinic.patient_reference == "identifier":
            return logical or literal
        return literal or logical

    # ------------------------------------------------------------------ references

    def _programme(self, change: CareGapChange) -> dict[str, Any]:
        model = SUPPORT_MODEL_LABELS[change.support_model]
        return {
            "type": "Organization",
            "identifier": {"system": self.naming.programme_system, "value": change.programme_id},
            "display": f"Peer-support programme {change.programme_id} ({model})",
        }

    def _peer_team(self, change: CareGapChange) -> dict[str, Any]:
        return {
            "type": "CareTeam",
            "identifier": {"system": self.naming.peer_team_system, "value": change.programme_id},
            "display": f"Peer-support team of programme {change.programme_id}",
        }

    def _clinic_team(self, ctx: _Context) -> dict[str, Any]:
        if ctx.clinic.care_team_reference is not None:
            return {"reference": ctx.clinic.care_team_reference, "type": "CareTeam"}
        return {
            "type": "CareTeam",
            "identifier": {"system": self.naming.clinic_team_system, "value": ctx.clinic_id},
            "display": f"Diabetes care team, clinic {ctx.clinic_id}",
        }

    def _gap_concept(self, gap: CareGap, text: GapText) -> dict[str, Any]:
        return {
            "coding": [
                {
                    "system": self.naming.gap_code_system,
                    "code": gap.code.value,
                    "display": text.label,
                }
            ],
            "text": text.label,
        }

    def _reason_concept(self, code: str) -> dict[str, Any]:
        return {"coding": [{"system": self.naming.gap_reason_system, "code": code}]}

    # ------------------------------------------------------------------ CarePlan

    def _careplan(self, ctx: _Context) -> FhirResource:
        change = ctx.change
        naming = self.naming
        ordered = sorted((*change.open_gaps, *change.recently_closed), key=_sort_key)
        activities = [self._activity(ctx, gap) for gap in ordered]
        version = str(change.sequence)
        body: dict[str, Any] = {
            "resourceType": "CarePlan",
            "id": ctx.careplan_id,
            "meta": {
                "versionId": version,
                "lastUpdated": ctx.as_of,
                "profile": [US_CORE_CAREPLAN],
            },
            "text": {"status": "generated", "div": self._careplan_narrative(ctx, ordered)},
        }
        diabetes = _DIABETES.get(change.diabetes_type)
        if diabetes is not None:
            # The diagnosis as the programme knows it, contained because the clinic's own
            # Condition id is unknown to us; it is referenced from addresses (dom-3).
            body["contained"] = [
                {
                    "resourceType": "Condition",
                    "id": "diabetes",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {
                        "coding": [
                            {"system": _SNOMED, "code": diabetes[0], "display": diabetes[1]}
                        ],
                        "text": diabetes[1],
                    },
                    "subject": ctx.patient,
                }
            ]
        body["identifier"] = [
            {
                "use": "official",
                "system": naming.careplan_system,
                "value": naming.careplan_key(ctx.clinic_id, ctx.participant_key),
            }
        ]
        body["status"] = "completed" if ctx.plan_completed else "active"
        body["intent"] = "plan"
        body["category"] = list(_CATEGORIES)
        body["title"] = "Diabetes care gaps from peer support"
        body["description"] = (
            "Care gaps and alerts identified by a diabetes peer-support programme for the "
            "clinic's care team; one activity per care gap."
        )
        body["subject"] = ctx.patient
        if ctx.plan_completed:
            body["period"] = {"end": ctx.as_of}
        programme = self._programme(change)
        body["author"] = programme
        body["contributor"] = [programme]
        body["careTeam"] = [self._peer_team(change)]
        if diabetes is not None:
            body["addresses"] = [{"reference": "#diabetes", "display": diabetes[1]}]
        if activities:
            body["activity"] = activities
        return FhirResource(
            resource_type="CarePlan", id=ctx.careplan_id, version_id=version, body=body
        )

    def _detail_status(self, ctx: _Context, gap: CareGap) -> str:
        if gap.status is GapStatus.CLOSED:
            return "completed"
        if gap.status is GapStatus.CANCELLED:
            return "cancelled"
        if ctx.plan_completed:
            return "stopped"  # the participant left the programme: peer follow-up ended
        # A red flag is acted on by the supporter at the time it is reported; other gaps
        # wait for the clinic's action.
        return "in-progress" if gap.kind is GapKind.RED_FLAG else "not-started"

    def _activity(self, ctx: _Context, gap: CareGap) -> dict[str, Any]:
        text = GAP_TEXTS[gap.code]
        status = self._detail_status(ctx, gap)
        detail: dict[str, Any] = {
            "kind": text.kind,
            "code": {"coding": [_coding(gap.coding)], "text": text.label},
            "reasonCode": [self._gap_concept(gap, text), self._reason_concept(gap.reason)],
            "status": status,
        }
        if gap.close_reason is not None and status in ("completed", "cancelled"):
            detail["statusReason"] = self._reason_concept(gap.close_reason)
        detail["description"] = (
            f"{text.observed} Recommended: {text.recommended} Priority: {gap.priority.value}."
        )
        return {
            "extension": [
                {
                    "url": self.naming.gap_id_extension,
                    "valueIdentifier": {
                        "system": self.naming.care_gap_system,
                        "value": _gap_id(gap),
                    },
                }
            ],
            "detail": detail,
        }

    def _careplan_narrative(self, ctx: _Context, ordered: Sequence[CareGap]) -> str:
        change = ctx.change
        model = SUPPORT_MODEL_LABELS[change.support_model]
        status = "completed (participant left the programme)" if ctx.plan_completed else "active"
        parts = [
            f'<div xmlns="{_XHTML_NS}"><p>Diabetes care gaps reported by peer-support programme '
            f"<b>{_esc(change.programme_id)}</b> ({_esc(model)}) as of {_day(change.as_of)}. "
            f"Plan status: {status}.</p>"
        ]
        open_gaps = [g for g in ordered if g.status is GapStatus.OPEN]
        if open_gaps:
            parts.append(
                "<table><thead><tr><th>Open care gap</th><th>Priority</th><th>Status</th>"
                "<th>Since</th><th>Recommended</th></tr></thead><tbody>"
            )
            for gap in open_gaps:
                text = GAP_TEXTS[gap.code]
                parts.append(
                    f"<tr><td>{_esc(text.label)}</td><td>{gap.priority.value}</td>"
                    f"<td>{_STATUS_WORDS[self._detail_status(ctx, gap)]}</td>"
                    f"<td>{_day(gap.opened_at)}</td><td>{_esc(text.recommended)}</td></tr>"
                )
            parts.append("</tbody></table>")
        else:
            parts.append("<p>No open care gaps.</p>")
        closed = [g for g in ordered if g.status is not GapStatus.OPEN]
        if closed:
            parts.append("<p>Recently closed:</p><ul>")
            for gap in closed:
                when = f" on {_day(gap.closed_at)}" if gap.closed_at is not None else ""
                parts.append(
                    f"<li>{_esc(GAP_TEXTS[gap.code].label)}: {gap.status.value}{when}</li>"
                )
            parts.append("</ul>")
        parts.append("</div>")
        return "".join(parts)

    # ------------------------------------------------------------------ Communication

    def _alerts(
        self, ctx: _Context, touched: Iterable[tuple[CareGap, Sequence[GapTransition]]]
    ) -> list[tuple[CareGap, Priority, Priority | None]]:
        """Gaps that open or escalate in this change and that the clinic must see."""
        alerts: list[tuple[CareGap, Priority, Priority | None]] = []
        for gap, transitions in touched:
            if gap.kind not in ctx.clinic.alert_kinds:
                continue
            opened = any(t.action is GapAction.OPENED for t in transitions)
            raised = [
                t
                for t in transitions
                if t.action is GapAction.UPDATED
                and t.previous_priority is not None
                and t.priority.rank > t.previous_priority.rank
            ]
            if not opened and not raised:
                continue
            # At most one alert per gap and change: the highest priority reached.
            priority = max((gap.priority, *(t.priority for t in transitions)), key=lambda p: p.rank)
            if priority.rank < ctx.clinic.alert_min_priority.rank:
                continue
            escalated_from = None if opened else raised[0].previous_priority
            alerts.append((gap, priority, escalated_from))
        return alerts

    def _communication(
        self, ctx: _Context, gap: CareGap, priority: Priority, escalated_from: Priority | None
    ) -> FhirResource:
        change = ctx.change
        naming = self.naming
        text = GAP_TEXTS[gap.code]
        key = naming.alert_key(ctx.clinic_id, _gap_id(gap), change.sequence)
        resource_id = naming.logical_id("Communication", naming.alert_system, key)
        model = SUPPORT_MODEL_LABELS[change.support_model]
        lead = (
            f"Priority raised from {escalated_from.value} to {priority.value}. "
            if escalated_from is not None
            else ""
        )
        message = (
            f"{lead}{text.label}. Observed: {text.observed} Reported by peer-support "
            f"programme {change.programme_id} ({model}). Recommended: {text.recommended} "
            f"{PRIORITY_NOTES[priority]}"
        )
        category = gap.category.value
        body: dict[str, Any] = {
            "resourceType": "Communication",
            "id": resource_id,
            "meta": {"versionId": "1", "lastUpdated": ctx.as_of},
            "text": {
                "status": "generated",
                "div": f'<div xmlns="{_XHTML_NS}"><p>{_esc(message)}</p></div>',
            },
            "identifier": [{"system": naming.alert_system, "value": key}],
            "basedOn": [{"reference": f"CarePlan/{ctx.careplan_id}", "type": "CarePlan"}],
            "status": "completed",
            "category": [
                {
                    "coding": [
                        {
                            "system": _COMM_CATEGORY,
                            "code": category,
                            "display": _COMM_DISPLAY[category],
                        }
                    ]
                }
            ],
            "priority": priority.value,
            "subject": ctx.patient,
            "topic": self._gap_concept(gap, text),
        }
        if ctx.clinic.detected_issue:
            body["about"] = [
                {"reference": f"DetectedIssue/{self._issue_id(ctx, gap)}", "type": "DetectedIssue"}
            ]
        body["sent"] = ctx.as_of
        body["recipient"] = [self._clinic_team(ctx)]
        body["sender"] = self._programme(change)
        body["reasonCode"] = [
            {"coding": [_coding(gap.coding)], "text": text.label},
            self._reason_concept(gap.reason),
        ]
        body["payload"] = [{"contentString": message}]
        return FhirResource(
            resource_type="Communication", id=resource_id, version_id="1", body=body
        )

    # ------------------------------------------------------------------ DetectedIssue

    def _issue_id(self, ctx: _Context, gap: CareGap) -> str:
        naming = self.naming
        return naming.logical_id(
            "DetectedIssue", naming.care_gap_system, naming.issue_key(ctx.clinic_id, _gap_id(gap))
        )

    def _detected_issue(self, ctx: _Context, gap: CareGap) -> FhirResource:
        change = ctx.change
        text = GAP_TEXTS[gap.code]
        resource_id = self._issue_id(ctx, gap)
        version = str(change.sequence)
        gap_status = {
            GapStatus.OPEN: "open-gap",
            GapStatus.CLOSED: "closed-gap",
            GapStatus.CANCELLED: "not-applicable",
        }[gap.status]
        body: dict[str, Any] = {
            "resourceType": "DetectedIssue",
            "id": resource_id,
            "meta": {"versionId": version, "lastUpdated": ctx.as_of},
            "text": {
                "status": "generated",
                "div": f'<div xmlns="{_XHTML_NS}"><p>{_esc(text.label)} ({gap_status}): '
                f"{_esc(text.observed)}</p></div>",
            },
            # DEQM gap status; a modifier, hence opt-in per clinic (fhir_anchors.md 6.1).
            "modifierExtension": [
                {
                    "url": _GAP_STATUS_EXT,
                    "valueCodeableConcept": {
                        "coding": [{"system": _GAP_STATUS_CS, "code": gap_status}]
                    },
                }
            ],
            "identifier": [
                {
                    "system": self.naming.care_gap_system,
                    "value": self.naming.issue_key(ctx.clinic_id, _gap_id(gap)),
                }
            ],
            # The detection itself is final; it is amended once the gap is closed or cancelled.
            "status": "final" if gap.status is GapStatus.OPEN else "amended",
            "code": {
                "coding": [{"system": _ACT_CODE, "code": "CAREGAP", "display": "Care Gaps"}],
                "text": text.label,
            },
            "severity": _SEVERITY[gap.priority],
            "patient": ctx.patient,
            "identifiedDateTime": fhir_instant(gap.opened_at),
            "evidence": [
                {
                    "code": [{"coding": [_coding(gap.coding)]}, self._gap_concept(gap, text)],
                    "detail": [{"reference": f"CarePlan/{ctx.careplan_id}", "type": "CarePlan"}],
                }
            ],
            "detail": f"{text.observed} Recommended: {text.recommended}",
        }
        return FhirResource(
            resource_type="DetectedIssue", id=resource_id, version_id=version, body=body
        )


def _touched(
    delta: Sequence[GapTransition], gaps: dict[str, CareGap]
) -> list[tuple[CareGap, list[GapTransition]]]:
    """Gaps named in the delta (in first-mention order) with their transitions.

    A transition whose gap is missing from the snapshot cannot be rendered and is skipped;
    the CarePlan still reflects the full snapshot.
    """
    grouped: dict[str, list[GapTransition]] = {}
    for transition in delta:
        if transition.gap_id in gaps:
            grouped.setdefault(transition.gap_id, []).append(transition)
    return [(gaps[gap_id], transitions) for gap_id, transitions in grouped.items()]
