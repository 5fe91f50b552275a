"""Clinic FHIR R4 inbound: Observation / Procedure / Encounter / Appointment -> events.

Resources arrive alone or in a Bundle on ``clinic.fhir.inbound`` and are parsed with
``fhir.resources.R4B``. Each becomes a ``peerlink.clinical.result_reported`` or
``peerlink.appointment.recorded`` submission that then goes through the same validation and
normalisation as a peer submission (plausibility limits, canonical units, derived id).

Mapping decisions (documented, never guessed):

* **Participant.** The PeerLink participant key is an identifier of the patient under the
  configured system (``PEERLINK_INTAKE_PARTICIPANT_KEY_SYSTEM``, default
  ``urn:peerlink:participant-key``): either on the reference itself
  (``subject.identifier``) or on the Patient it points to, contained (``#id``) or in the same
  Bundle (by ``fullUrl`` or ``Patient/<id>``). Anything else is rejected: a clinic's own MRN is
  never used as a key.
* **Clinic.** The Kafka header ``x-peerlink-clinic-id``, else ``meta.source`` of the form
  ``peerlink://clinic/<id>`` or ``urn:peerlink:clinic:<id>`` (resource, then Bundle).
* **Result id.** ``obs-<id>`` / ``proc-<id>`` from the logical id (so an amendment of the same
  resource supersedes it), else a hash of the first business identifier; neither -> rejected.
* **Status.** Observation final/amended/corrected/preliminary/entered-in-error map 1:1;
  ``cancelled`` maps to entered_in_error because it must re-open a gap a result closed
  (care_gap_rules.md 6.5); registered/unknown carry no result and are rejected.
  Procedure completed -> final, entered-in-error -> entered_in_error, others rejected.
  Appointment fulfilled -> kept, noshow -> missed, cancelled -> cancelled; Encounter
  finished -> kept, cancelled -> cancelled; other statuses are not outcomes and are rejected.
* **Time.** ``effective[x]`` / ``performed[x]`` (a Period's start), appointment ``start``,
  encounter ``period.start``. A date-only value is midnight in ``fhir_date_zone``; a partial
  date (year or year-month) is rejected. ``issued`` is never used as the clinical time.
* **Values.** A Quantity must be UCUM-coded, without comparator, in a unit of the code
  (``services.intake.fhir_codes``). Ranges, strings, absent values -> rejected.
* **PHQ.** A total (44261-6, 55758-7), or a panel with a total component, is the result;
  item 9 (44260-8) comes from a component, a ``hasMember``/``derivedFrom`` target, an item
  Observation of the same participant and time in the Bundle, or the only item 9 of the only
  PHQ-9 of that participant in the Bundle. Item Observations and panels without a value are
  folded into a total of the same participant in the Bundle; without one they are rejected
  (the contract has no item-only result).
* **Foot exam.** Visual, sensory and pulse components (care_gap_rules.md 5, DM-FOOT-DUE) on
  one day for one participant in a Bundle become one comprehensive exam; a component on its
  own is a non-comprehensive exam.

A Bundle is mapped entry by entry: valid entries become events, and when any entry is
rejected the whole original record also goes to the DLQ with every entry's reason (a replay
re-emits the valid entries with the same ids, which downstream treats as duplicates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from pydantic import ValidationError

from services.intake.fhir_codes import (
    BP_PANELS,
    BP_UNIT,
    CONTEXT_RESOURCE_TYPES,
    DIASTOLIC,
    FOOT_EXAM_COMPONENTS,
    LOINC,
    PHQ2_ITEMS,
    PHQ2_PANEL,
    PHQ2_TOTAL,
    PHQ9_ITEM9,
    PHQ9_ITEMS,
    PHQ9_PANEL,
    PHQ9_TOTAL,
    PHQ_ITEM9_ANSWERS,
    QUANTITY_CODES,
    RETINAL_EXAM_OBSERVATIONS,
    RETINAL_EXAM_PROCEDURES,
    RETINOPATHY_ABSENT,
    RETINOPATHY_PRESENT,
    SNOMED,
    SYSTOLIC,
    UCUM,
    purpose_of,
)
from services.intake.rejection import ReasonCode, Rejection, rejection_from_validation
from services.intake.submission import Accepted, SubmissionValidator, decode_json

__all__ = [
    "CLINIC_ID_HEADER",
    "FhirInboundMapper",
    "FhirMapperConfig",
    "FhirResult",
    "clinic_source",
]

CLINIC_ID_HEADER: Final = "x-peerlink-clinic-id"
SUPPORTED_RESOURCE_TYPES: Final = frozenset(
    {"Observation", "Procedure", "Encounter", "Appointment", "Bundle"}
)
_MODELS: Final[dict[str, Any]] = {
    "Observation": Observation,
    "Procedure": Procedure,
    "Encounter": Encounter,
    "Appointment": Appointment,
    "Patient": Patient,
}
_CLINIC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{1,63}$")
_SHORT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
_PARTICIPANT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{2,63}$")
_CLINIC_SOURCES = (
    re.compile(r"^peerlink://clinic/([^/]+)$"),
    re.compile(r"^urn:peerlink:clinic:(.+)$"),
)
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_APPOINTMENT_REF = re.compile(r"(?:^|/)Appointment/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_MAX_REPORTED = 5

_OBSERVATION_STATUS: Final = {
    "final": "final",
    "amended": "amended",
    "corrected": "corrected",
    "preliminary": "preliminary",
    "entered-in-error": "entered_in_error",
    # A cancelled result must re-open whatever it closed (care_gap_rules.md 6.5).
    "cancelled": "entered_in_error",
}
_OBSERVATION_NO_RESULT: Final = frozenset({"registered", "unknown"})
_PROCEDURE_STATUS: Final = {"completed": "final", "entered-in-error": "entered_in_error"}
_PROCEDURE_OTHER: Final = frozenset(
    {"preparation", "in-progress", "not-done", "on-hold", "stopped", "unknown"}
)
_APPOINTMENT_STATUS: Final = {"fulfilled": "kept", "noshow": "missed", "cancelled": "cancelled"}
_APPOINTMENT_OTHER: Final = frozenset(
    {"proposed", "pending", "booked", "arrived", "checked-in", "waitlist", "entered-in-error"}
)
_ENCOUNTER_STATUS: Final = {"finished": "kept", "cancelled": "cancelled"}
_ENCOUNTER_OTHER: Final = frozenset(
    {"planned", "arrived", "triaged", "in-progress", "onleave", "entered-in-error", "unknown"}
)


def clinic_source(clinic_id: str | None) -> str:
    return f"peerlink://clinic/{clinic_id}" if clinic_id else "peerlink://clinic"


@dataclass(frozen=True, kw_only=True)
class FhirMapperConfig:
    participant_key_system: str
    date_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    max_message_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FhirResult:
    """What one inbound record became: events, and the rejection of whatever could not map."""

    accepted: tuple[Accepted, ...]
    rejection: Rejection | None


class _Reject(Exception):
    """Internal control flow: carries the Rejection of the resource being mapped."""

    def __init__(self, code: ReasonCode, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(code=code, detail=detail)


@dataclass(kw_only=True)
class _Draft:
    """A submission under construction, plus what the Bundle pass needs to combine drafts."""

    where: str
    participant: str
    time: dt.datetime
    event_type: str
    data: dict[str, Any]
    refs: tuple[str, ...] = ()  # how other resources may reference this one
    phq9_needs_item9: bool = False
    member_refs: tuple[str, ...] = ()
    foot_codes: frozenset[str] = frozenset()


@dataclass(kw_only=True)
class _PhqPart:
    """A PHQ item Observation or an empty panel: folded into a total of the same Bundle."""

    where: str
    participant: str
    time: dt.datetime
    code: str
    score: int | None
    refs: tuple[str, ...]
    folded: bool = False
    #: For item 9 asked alone, which then becomes a result of its own (RF14).
    result_id: str | None = None
    status: str | None = None
    clinic_id: str | None = None


@dataclass(kw_only=True)
class _Context:
    clinic_id: str | None
    patients: dict[str, str | None]  # reference -> participant key (None: no key)
    contained: dict[str, str | None] = field(default_factory=dict)


def _codings(concept: Any) -> list[tuple[str | None, str | None]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in (concept.coding or [])]


def _codes(concept: Any, system: str) -> list[str]:
    return [code for s, code in _codings(concept) if s == system and code]


def _item9_alone(part: _PhqPart) -> _Draft:
    return _Draft(
        where=part.where,
        participant=part.participant,
        time=part.time,
        event_type="peerlink.clinical.result_reported",
        data={
            "result_id": part.result_id,
            "clinic_id": part.clinic_id,
            "measurement": {
                "kind": "phq9",
                "item9": part.score,
                "effective_at": part.time,
                "status": part.status,
                "source": "clinic_ehr",
            },
        },
        refs=part.refs,
    )


def _retinopathy_finding(concept: Any) -> bool | None:
    """True/False for a coded retinopathy finding, None when the concept says neither."""
    if concept is None:
        return None
    if RETINOPATHY_ABSENT in _codes(concept, LOINC):
        return False
    if RETINOPATHY_PRESENT in _codes(concept, SNOMED):
        return True
    return None


def _resource_refs(resource: Any, full_url: str | None) -> tuple[str, ...]:
    refs = []
    if full_url:
        refs.append(full_url)
    if resource.id:
        refs.append(f"{resource.get_resource_type()}/{resource.id}")
    return tuple(refs)


def _prefixed(prefix: str, logical_id: str) -> str:
    candidate = f"{prefix}-{logical_id}"
    if _SHORT_CODE.fullmatch(candidate):
        return candidate
    return f"{prefix}-{hashlib.sha256(logical_id.encode()).hexdigest()[:24]}"


def _at(rejection: Rejection, where: str) -> Rejection:
    return rejection.located(where) if where else rejection


def _short_id(prefix: str, resource: Any) -> str:
    if resource.id:
        return _prefixed(prefix, resource.id)
    for identifier in getattr(resource, "identifier", None) or []:
        if identifier.value:
            digest = hashlib.sha256(f"{identifier.system}|{identifier.value}".encode())
            return f"{prefix}-{digest.hexdigest()[:24]}"
    raise _Reject(
        ReasonCode.FHIR_IDENTITY,
        "has neither a logical id nor an identifier, so a later amendment could not be matched",
    )


class FhirInboundMapper:
    """Pure mapping of one inbound record; validation is delegated to the submission path."""

    def __init__(self, *, config: FhirMapperConfig, validator: SubmissionValidator) -> None:
        self.config = config
        self.validator = validator

    # ------------------------------------------------------------------ entry point

    def map_record(self, raw: bytes | None, *, clinic_header: bytes | None = None) -> FhirResult:
        parsed = decode_json(raw, max_bytes=self.config.max_message_bytes)
        if isinstance(parsed, Rejection):
            return FhirResult(accepted=(), rejection=parsed)
        try:
            header_clinic = self._header_clinic(clinic_header)
            return self.map_object(parsed, header_clinic=header_clinic)
        except _Reject as exc:
            return FhirResult(accepted=(), rejection=exc.rejection)

    def map_object(self, obj: Any, *, header_clinic: str | None = None) -> FhirResult:
        if not isinstance(obj, dict):
            return _rejected(ReasonCode.NOT_OBJECT, "a FHIR resource is a JSON object")
        resource_type = obj.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in SUPPORTED_RESOURCE_TYPES:
            return _rejected(
                ReasonCode.FHIR_UNSUPPORTED_RESOURCE, _unsupported(resource_type, top_level=True)
            )
        try:
            if resource_type == "Bundle":
                return self._bundle(obj, header_clinic)
            resource = self._parse(obj, resource_type)
            clinic = header_clinic or self._meta_clinic(resource)
            context = _Context(clinic_id=clinic, patients={})
            drafts, parts, rejections = self._entry(resource, None, "", context)
        except _Reject as exc:
            return FhirResult(accepted=(), rejection=exc.rejection)
        rejections += self._fold(drafts, parts)
        return self._finish(drafts, rejections)

    # ------------------------------------------------------------------ containers

    def _bundle(self, obj: dict[str, Any], header_clinic: str | None) -> FhirResult:
        entries = obj.get("entry") or []
        shell = {k: v for k, v in obj.items() if k != "entry"}
        bundle = self._parse(shell, "Bundle")
        if not isinstance(entries, list):
            raise _Reject(ReasonCode.FHIR_INVALID, "Bundle.entry: must be an array")
        clinic = header_clinic or self._meta_clinic(bundle)
        context = _Context(clinic_id=clinic, patients={})
        parsed: list[tuple[str, Any, str | None]] = []
        rejections: list[Rejection] = []
        # First pass: parse every entry and index the Patients that subjects may point to.
        for index, entry in enumerate(entries):
            where = f"entry[{index}]"
            try:
                if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                    raise _Reject(ReasonCode.FHIR_INVALID, "has no resource")
                raw_resource = entry["resource"]
                kind = raw_resource.get("resourceType")
                kind = kind if isinstance(kind, str) else None
                full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
                where = (
                    f"entry[{index}] {kind}" if isinstance(kind, str) and _is_type(kind) else where
                )
                if kind in _MODELS:
                    resource = self._parse(raw_resource, kind)
                    if kind == "Patient":
                        key = self._patient_key(resource)
                        for ref in _resource_refs(resource, full_url):
                            context.patients[ref] = key
                    else:
                        parsed.append((where, resource, full_url))
                elif kind not in CONTEXT_RESOURCE_TYPES:
                    raise _Reject(
                        ReasonCode.FHIR_UNSUPPORTED_RESOURCE, _unsupported(kind, top_level=False)
                    )
            except _Reject as exc:
                rejections.append(exc.rejection.located(where))
        if not parsed and not rejections:
            raise _Reject(
                ReasonCode.FHIR_UNSUPPORTED_RESOURCE,
                "Bundle: contains no Observation, Procedure, Encounter or Appointment",
            )
        drafts: list[_Draft] = []
        parts: list[_PhqPart] = []
        for where, resource, full_url in parsed:
            entry_context = context
            resource_clinic = None if header_clinic else self._meta_clinic(resource)
            if resource_clinic:
                entry_context = replace(context, clinic_id=resource_clinic)
            new_drafts, new_parts, entry_rejections = self._entry(
                resource, full_url, where, entry_context
            )
            drafts += new_drafts
            parts += new_parts
            rejections += entry_rejections
        rejections += self._fold(drafts, parts)
        drafts = self._combine_foot_exams(drafts)
        return self._finish(drafts, rejections)

    def _entry(
        self, resource: Any, full_url: str | None, where: str, context: _Context
    ) -> tuple[list[_Draft], list[_PhqPart], list[Rejection]]:
        context = replace(context, contained=self._contained(resource))
        try:
            kind = resource.get_resource_type()
            if kind == "Observation":
                mapped = self._observation(resource, full_url, where, context)
            elif kind == "Procedure":
                mapped = self._procedure(resource, full_url, where, context)
            elif kind == "Appointment":
                mapped = self._appointment(resource, where, context)
            else:
                mapped = self._encounter(resource, where, context)
        except _Reject as exc:
            return [], [], [_at(exc.rejection, where)]
        if isinstance(mapped, _PhqPart):
            return [], [mapped], []
        return [mapped], [], []

    def _finish(self, drafts: Sequence[_Draft], rejections: list[Rejection]) -> FhirResult:
        accepted: list[Accepted] = []
        for draft in drafts:
            outcome = self.validator.from_object(
                {
                    "type": draft.event_type,
                    "source": clinic_source(draft.data.get("clinic_id")),
                    "time": draft.time,
                    "subject": draft.participant,
                    "data": draft.data,
                }
            )
            if isinstance(outcome, Rejection):
                rejections.append(
                    _at(replace(outcome, code=ReasonCode.FHIR_INVALID_RESULT), draft.where)
                )
            else:
                accepted.append(outcome)
        return FhirResult(accepted=tuple(accepted), rejection=_combine(rejections))

    # ------------------------------------------------------------------ parsing helpers

    @staticmethod
    def _parse(obj: dict[str, Any], kind: str) -> Any:
        model = _MODELS.get(kind, Bundle)
        try:
            return model.model_validate(obj)
        except ValidationError as exc:
            rejection = rejection_from_validation(ReasonCode.FHIR_INVALID, exc, loc_prefix=kind)
            raise _RejectFrom(rejection) from None
        except (TypeError, ValueError) as exc:  # fhir_core raises plain errors for some shapes
            raise _Reject(ReasonCode.FHIR_INVALID, f"{kind}: {type(exc).__name__}") from None

    @staticmethod
    def _header_clinic(raw: bytes | None) -> str | None:
        if raw is None:
            return None
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            value = ""
        if not _CLINIC_ID.fullmatch(value):
            raise _Reject(
                ReasonCode.FHIR_INVALID, f"header {CLINIC_ID_HEADER}: not a valid clinic id"
            )
        return value

    @staticmethod
    def _meta_clinic(resource: Any) -> str | None:
        source = resource.meta.source if resource.meta is not None else None
        if not source:
            return None
        for pattern in _CLINIC_SOURCES:
            match = pattern.fullmatch(source)
            if match and _CLINIC_ID.fullmatch(match.group(1)):
                return match.group(1)
        return None

    def _patient_key(self, patient: Any) -> str | None:
        return self._key_from_identifiers(patient.identifier or [])

    def _key_from_identifiers(self, identifiers: Iterable[Any]) -> str | None:
        for identifier in identifiers:
            if identifier.system == self.config.participant_key_system and identifier.value:
                if not _PARTICIPANT_KEY.fullmatch(identifier.value):
                    raise _Reject(
                        ReasonCode.FHIR_SUBJECT,
                        "participant key under the PeerLink system does not match the "
                        "ParticipantKey format",
                    )
                return str(identifier.value)
        return None

    def _contained(self, resource: Any) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for item in getattr(resource, "contained", None) or []:
            if item.get_resource_type() == "Patient" and item.id:
                found[f"#{item.id}"] = self._patient_key(item)
        return found

    def _is_patient(self, actor: Any, context: _Context) -> bool:
        ref = actor.reference or ""
        by_identifier = (
            actor.identifier is not None
            and actor.identifier.system == self.config.participant_key_system
        )
        return (
            actor.type == "Patient"
            or by_identifier
            or bool(_PATIENT_REF.search(ref))
            or ref in context.contained
            or ref in context.patients
        )

    def _participant(self, reference: Any, context: _Context, *, what: str) -> str:
        if reference is None:
            raise _Reject(ReasonCode.FHIR_SUBJECT, f"{what}: missing")
        if reference.identifier is not None:
            key = self._key_from_identifiers([reference.identifier])
            if key is not None:
                return key
        ref = reference.reference
        if ref:
            if ref.startswith("#"):
                key = context.contained.get(ref)
            else:
                key = context.patients.get(ref)
                match = _PATIENT_REF.search(ref)
                if key is None and match:
                    key = context.patients.get(f"Patient/{match.group(1)}")
            if key is not None:
                return key
        raise _Reject(
            ReasonCode.FHIR_SUBJECT,
            f"{what}: no identifier under the participant-key system "
            f"{self.config.participant_key_system} (on the reference or on the Patient it "
            "points to in this message)",
        )

    def _when(self, value: Any, *, what: str) -> dt.datetime:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise _Reject(ReasonCode.FHIR_TIME, f"{what}: has no time zone")
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time(0), tzinfo=self.config.date_zone)
        if isinstance(value, str):
            raise _Reject(ReasonCode.FHIR_TIME, f"{what}: a partial date is not a clinical date")
        raise _Reject(ReasonCode.FHIR_TIME, f"{what}: missing")

    # ------------------------------------------------------------------ resources

    def _observation(
        self, obs: Observation, full_url: str | None, where: str, context: _Context
    ) -> _Draft | _PhqPart:
        loinc = _codes(obs.code, LOINC)
        mapped = [c for c in loinc if c in _OBSERVATION_CODES]
        if not mapped:
            raise _Reject(
                ReasonCode.FHIR_UNKNOWN_CODE,
                "Observation.code: no LOINC coding that intake maps (HbA1c, glucose, eGFR, "
                "UACR, blood pressure, PHQ-2/PHQ-9, retinal screening)",
            )
        if len({_code_family(c) for c in mapped}) > 1:
            raise _Reject(ReasonCode.FHIR_UNKNOWN_CODE, "Observation.code: codes disagree")
        code = mapped[0]
        participant = self._participant(obs.subject, context, what="Observation.subject")
        status = _observation_status(obs.status)
        period = obs.effectivePeriod
        when = self._when(
            obs.effectiveDateTime
            or obs.effectiveInstant
            or ((period.start or period.end) if period is not None else None),
            what="Observation.effective[x]",
        )
        refs = _resource_refs(obs, full_url)

        def part(score: int | None) -> _PhqPart:
            return _PhqPart(
                where=where,
                participant=participant,
                time=when,
                code=code,
                score=score,
                refs=refs,
                result_id=_short_id("obs", obs),
                status=status,
                clinic_id=context.clinic_id,
            )

        if code in PHQ9_ITEMS:
            return part(_answer_score(obs, "Observation.value") if code == PHQ9_ITEM9 else None)
        measurement: dict[str, Any] = {"effective_at": when, "status": status}
        needs_item9 = False
        members: tuple[str, ...] = ()
        if code in QUANTITY_CODES:
            # Several codes of one analyte (4548-4 and 59261-8): the unit says which applies.
            rule = QUANTITY_CODES[code]
            units = {u: c for m in mapped for u, c in QUANTITY_CODES[m].units.items()}
            value, unit = _quantity(obs.valueQuantity, units, rule.kind, obs)
            measurement |= {"kind": rule.kind, "value": value, "unit": unit, "source": rule.source}
        elif code in BP_PANELS:
            measurement |= {
                "kind": "blood_pressure",
                "systolic": _bp_component(obs, SYSTOLIC, "systolic"),
                "diastolic": _bp_component(obs, DIASTOLIC, "diastolic"),
                "unit": "mmHg",
                "source": "clinic_ehr",
            }
        elif code in (PHQ9_TOTAL, PHQ9_PANEL):
            total = _score_of(obs, PHQ9_TOTAL, 27) if code == PHQ9_PANEL else _value_score(obs, 27)
            if total is None:
                return part(None)  # an empty panel: folded into a total, or rejected
            item9 = _component_item9(obs)
            measurement |= {"kind": "phq9", "total": total, "source": "clinic_ehr"}
            if item9 is not None:
                measurement["item9"] = item9
            needs_item9 = item9 is None
            linked = (obs.hasMember or []) + (obs.derivedFrom or [])
            members = tuple(r.reference for r in linked if r.reference)
        elif code in (PHQ2_TOTAL, PHQ2_PANEL):
            total = _score_of(obs, PHQ2_TOTAL, 6) if code == PHQ2_PANEL else _value_score(obs, 6)
            if total is None:
                return part(None)
            measurement |= {"kind": "phq2", "total": total, "source": "clinic_ehr"}
        else:  # retinal screening by autonomous AI
            found = _retinopathy_finding(obs.valueCodeableConcept)
            measurement |= {
                "kind": "retinal_exam",
                "retinopathy_found": found,
                "source": "clinic_ehr",
            }
        return _Draft(
            where=where,
            participant=participant,
            time=when,
            event_type="peerlink.clinical.result_reported",
            data={
                "result_id": _short_id("obs", obs),
                "clinic_id": context.clinic_id,
                "measurement": measurement,
            },
            refs=refs,
            phq9_needs_item9=needs_item9,
            member_refs=members,
        )

    def _procedure(
        self, proc: Procedure, full_url: str | None, where: str, context: _Context
    ) -> _Draft:
        snomed = _codes(proc.code, SNOMED)
        retinal = [c for c in snomed if c in RETINAL_EXAM_PROCEDURES]
        foot = frozenset(c for c in snomed if c in FOOT_EXAM_COMPONENTS)
        if not retinal and not foot:
            raise _Reject(
                ReasonCode.FHIR_UNKNOWN_CODE,
                "Procedure.code: no SNOMED CT coding that intake maps (retinal exam, foot exam)",
            )
        if retinal and foot:
            raise _Reject(ReasonCode.FHIR_UNKNOWN_CODE, "Procedure.code: codes disagree")
        participant = self._participant(proc.subject, context, what="Procedure.subject")
        if proc.status in _PROCEDURE_OTHER:
            raise _Reject(
                ReasonCode.FHIR_STATUS,
                f"Procedure.status: {proc.status} is not a performed procedure",
            )
        if proc.status not in _PROCEDURE_STATUS:
            raise _Reject(ReasonCode.FHIR_STATUS, "Procedure.status: not a FHIR event status")
        status = _PROCEDURE_STATUS[proc.status]
        period = proc.performedPeriod
        when = self._when(
            proc.performedDateTime
            or ((period.start or period.end) if period is not None else None),
            what="Procedure.performed[x]",
        )
        if retinal:
            # The finding comes from Procedure.outcome; without one the exam counts as done
            # with its result unknown, which does not earn the 24-month interval.
            measurement: dict[str, Any] = {
                "kind": "retinal_exam",
                "retinopathy_found": _retinopathy_finding(proc.outcome),
            }
        else:
            comprehensive = len(foot) == len(FOOT_EXAM_COMPONENTS)
            measurement = {"kind": "foot_exam", "comprehensive": comprehensive}
        measurement |= {"effective_at": when, "status": status, "source": "clinic_ehr"}
        return _Draft(
            where=where,
            participant=participant,
            time=when,
            event_type="peerlink.clinical.result_reported",
            data={
                "result_id": _short_id("proc", proc),
                "clinic_id": context.clinic_id,
                "measurement": measurement,
            },
            refs=_resource_refs(proc, full_url),
            foot_codes=foot,
        )

    def _appointment(self, appt: Appointment, where: str, context: _Context) -> _Draft:
        status = _outcome_status(
            appt.status, _APPOINTMENT_STATUS, _APPOINTMENT_OTHER, "Appointment.status"
        )
        keys = set()
        for index, participant in enumerate(appt.participant or []):
            actor = participant.actor
            if actor is not None and self._is_patient(actor, context):
                what = f"Appointment.participant[{index}].actor"
                keys.add(self._participant(actor, context, what=what))
        if len(keys) != 1:
            raise _Reject(
                ReasonCode.FHIR_SUBJECT,
                "Appointment.participant: needs exactly one patient with a participant key",
            )
        when = self._when(appt.start, what="Appointment.start")
        codings = (
            [c for concept in appt.serviceType or [] for c in _codings(concept)]
            + _codings(appt.appointmentType)
            + [c for concept in appt.reasonCode or [] for c in _codings(concept)]
        )
        return _Draft(
            where=where,
            participant=keys.pop(),
            time=when,
            event_type="peerlink.appointment.recorded",
            data={
                "appointment_id": _short_id("appt", appt),
                "clinic_id": context.clinic_id,
                "status": status,
                "scheduled_for": when,
                "purpose": purpose_of(codings),
            },
        )

    def _encounter(self, enc: Encounter, where: str, context: _Context) -> _Draft:
        status = _outcome_status(
            enc.status, _ENCOUNTER_STATUS, _ENCOUNTER_OTHER, "Encounter.status"
        )
        participant = self._participant(enc.subject, context, what="Encounter.subject")
        when = self._when(enc.period.start if enc.period else None, what="Encounter.period.start")
        # An encounter for a booked appointment records that appointment's outcome.
        appointment_id = None
        for ref in enc.appointment or []:
            match = _APPOINTMENT_REF.search(ref.reference or "")
            if match:
                appointment_id = _prefixed("appt", match.group(1))
                break
        codings = [c for concept in enc.type or [] for c in _codings(concept)] + _codings(
            enc.serviceType
        )
        return _Draft(
            where=where,
            participant=participant,
            time=when,
            event_type="peerlink.appointment.recorded",
            data={
                "appointment_id": appointment_id or _short_id("enc", enc),
                "clinic_id": context.clinic_id,
                "status": status,
                "scheduled_for": when,
                "purpose": purpose_of(codings),
            },
        )

    # ------------------------------------------------------------------ Bundle combination

    @staticmethod
    def _fold(drafts: list[_Draft], parts: list[_PhqPart]) -> list[Rejection]:
        """Give PHQ-9 totals their item 9 and fold items/panels into totals."""
        totals: dict[str, list[_Draft]] = defaultdict(list)
        for draft in drafts:
            if draft.data.get("measurement", {}).get("kind") in ("phq9", "phq2"):
                totals[draft.participant].append(draft)
        by_ref = {ref: p for p in parts for ref in p.refs}
        needing = [d for d in drafts if d.phq9_needs_item9]
        for draft in needing:
            items = [
                p
                for p in parts
                if p.code == PHQ9_ITEM9
                and p.score is not None
                and p.participant == draft.participant
            ]
            linked = [by_ref[r] for r in draft.member_refs if r in by_ref and by_ref[r] in items]
            same_time = [p for p in items if p.time == draft.time]
            # One administration in the Bundle: its item 9 belongs to its total even unlinked.
            only = (
                items
                if len(items) == 1 and sum(d.participant == draft.participant for d in needing) == 1
                else []
            )
            candidates = linked or same_time or only
            if candidates:
                draft.data["measurement"]["item9"] = candidates[0].score
        rejections = []
        for part in parts:
            if (
                part.code == PHQ9_ITEM9
                and part.score is not None
                and part.result_id is not None
                and not any(
                    d.data["measurement"].get("item9") is not None
                    for d in totals.get(part.participant, [])
                    if d.data["measurement"]["kind"] == "phq9"
                )
            ):
                # Item 9 asked without a total: a suicide-risk answer is never dropped for an
                # incomplete questionnaire, it becomes a PHQ-9 result of its own (RF14).
                drafts.append(_item9_alone(part))
                part.folded = True
                continue
            kinds = {d.data["measurement"]["kind"] for d in totals.get(part.participant, [])}
            if part.code in (PHQ2_PANEL, *PHQ2_ITEMS):
                part.folded = bool(kinds)
            else:
                part.folded = "phq9" in kinds
            if not part.folded:
                rejections.append(
                    Rejection(
                        code=ReasonCode.FHIR_NO_VALUE,
                        detail="Observation: a PHQ item or panel without a total score "
                        "(44261-6 / 55758-7) for the same patient; send the total",
                    ).located(part.where)
                )
        return rejections

    @staticmethod
    def _combine_foot_exams(drafts: list[_Draft]) -> list[_Draft]:
        groups: dict[tuple[str, dt.date], list[_Draft]] = defaultdict(list)
        others: list[_Draft] = []
        for draft in drafts:
            measurement = draft.data.get("measurement", {})
            if (
                draft.foot_codes
                and not measurement["comprehensive"]
                and measurement["status"] == "final"
            ):
                utc_day = draft.time.astimezone(dt.UTC).date()
                groups[(draft.participant, utc_day)].append(draft)
            else:
                others.append(draft)
        for group in groups.values():
            covered = frozenset().union(*(d.foot_codes for d in group))
            if covered != frozenset(FOOT_EXAM_COMPONENTS) or len(group) < 2:
                others += group
                continue
            ids = sorted(d.data["result_id"] for d in group)
            digest = hashlib.sha256("|".join(ids).encode()).hexdigest()[:24]
            latest = max(group, key=lambda d: d.time)
            measurement = dict(latest.data["measurement"], comprehensive=True)
            others.append(
                replace(
                    latest,
                    where=" + ".join(d.where for d in group),
                    data=dict(latest.data, result_id=f"foot-{digest}", measurement=measurement),
                    foot_codes=covered,
                )
            )
        return others


class _RejectFrom(_Reject):
    def __init__(self, rejection: Rejection) -> None:
        Exception.__init__(self, rejection.detail)
        self.rejection = rejection


# ---------------------------------------------------------------------- value helpers

_OBSERVATION_CODES: Final = (
    frozenset(QUANTITY_CODES)
    | BP_PANELS
    | {PHQ2_PANEL, PHQ2_TOTAL, PHQ9_PANEL, PHQ9_TOTAL}
    | PHQ9_ITEMS
    | RETINAL_EXAM_OBSERVATIONS
)


def _code_family(code: str) -> str:
    if code in QUANTITY_CODES:
        return QUANTITY_CODES[code].kind
    if code in BP_PANELS:
        return "bp"
    if code in PHQ9_ITEMS or code in (PHQ2_PANEL, PHQ2_TOTAL, PHQ9_PANEL, PHQ9_TOTAL):
        return code
    return "retinal"


def _observation_status(status: str | None) -> str:
    if status is not None and status in _OBSERVATION_STATUS:
        return _OBSERVATION_STATUS[status]
    if status in _OBSERVATION_NO_RESULT:
        raise _Reject(ReasonCode.FHIR_STATUS, f"Observation.status: {status} carries no result")
    raise _Reject(ReasonCode.FHIR_STATUS, "Observation.status: not a FHIR observation status")


def _outcome_status(
    status: str | None, mapping: Mapping[str, str], others: frozenset[str], what: str
) -> str:
    if status is not None and status in mapping:
        return mapping[status]
    if status in others:
        raise _Reject(ReasonCode.FHIR_STATUS, f"{what}: {status} is not an attended/missed outcome")
    raise _Reject(ReasonCode.FHIR_STATUS, f"{what}: not a valid status code")


def _no_value_detail(holder: Any, element: str) -> str:
    if getattr(holder, "dataAbsentReason", None) is not None:
        return f"{element}: absent (dataAbsentReason given)"
    for name in (
        "valueString",
        "valueRange",
        "valueRatio",
        "valueCodeableConcept",
        "valueBoolean",
        "valueInteger",
    ):
        if getattr(holder, name, None) is not None:
            return f"{element}: is a {name}, not a numeric Quantity"
    return f"{element}: missing"


def _quantity(
    quantity: Any, units: Mapping[str, str], label: str, holder: Any, element: str = "value"
) -> tuple[float, str]:
    where = f"{type(holder).__name__}.{element}"
    if quantity is None:
        raise _Reject(ReasonCode.FHIR_NO_VALUE, _no_value_detail(holder, where))
    if quantity.comparator is not None:
        raise _Reject(
            ReasonCode.FHIR_NO_VALUE, f"{where}: has a comparator, so it is not a numeric result"
        )
    if quantity.value is None:
        raise _Reject(ReasonCode.FHIR_NO_VALUE, f"{where}: Quantity without a value")
    if quantity.system != UCUM or not quantity.code:
        raise _Reject(ReasonCode.FHIR_UNIT, f"{where}: unit is not a UCUM code ({UCUM})")
    if quantity.code not in units:
        raise _Reject(
            ReasonCode.FHIR_UNIT,
            f"{where}: UCUM unit is not a unit of {label} for this code "
            f"(expected {' or '.join(sorted(units))})",
        )
    return float(quantity.value), units[quantity.code]


def _component(obs: Observation, code: str) -> Any:
    for component in obs.component or []:
        if code in _codes(component.code, LOINC):
            return component
    return None


def _bp_component(obs: Observation, code: str, name: str) -> int:
    component = _component(obs, code)
    if component is None:
        raise _Reject(ReasonCode.FHIR_NO_VALUE, f"Observation.component: no {name} ({code})")
    value, _ = _quantity(
        component.valueQuantity,
        {BP_UNIT: "mmHg"},
        f"{name} blood pressure",
        component,
        f"component[{code}].value",
    )
    if value != int(value):
        raise _Reject(
            ReasonCode.FHIR_NO_VALUE, f"Observation.component[{code}].value: not a whole mmHg"
        )
    return int(value)


def _int_score(holder: Any, maximum: int, where: str) -> int | None:
    """A score from valueInteger, or a unitless / {score} valueQuantity; None when absent."""
    if holder.valueInteger is not None:
        value: float = holder.valueInteger
    elif holder.valueQuantity is not None and holder.valueQuantity.value is not None:
        quantity = holder.valueQuantity
        if quantity.comparator is not None or (quantity.code not in (None, "{score}", "1")):
            raise _Reject(ReasonCode.FHIR_UNIT, f"{where}: a score has no unit but {{score}}")
        value = float(quantity.value)
    else:
        return None
    if value != int(value) or not 0 <= value <= maximum:
        raise _Reject(ReasonCode.FHIR_NO_VALUE, f"{where}: not a score between 0 and {maximum}")
    return int(value)


def _value_score(obs: Observation, maximum: int) -> int:
    score = _int_score(obs, maximum, "Observation.value")
    if score is None:
        raise _Reject(ReasonCode.FHIR_NO_VALUE, _no_value_detail(obs, "Observation.value"))
    return score


def _score_of(obs: Observation, code: str, maximum: int) -> int | None:
    component = _component(obs, code)
    if component is None:
        return _int_score(obs, maximum, "Observation.value")
    return _int_score(component, maximum, f"Observation.component[{code}].value")


def _answer_score(holder: Any, where: str) -> int | None:
    concept = holder.valueCodeableConcept
    if concept is None:
        return _int_score(holder, 3, where)
    for code in _codes(concept, LOINC):
        if code in PHQ_ITEM9_ANSWERS:
            return PHQ_ITEM9_ANSWERS[code]
    raise _Reject(ReasonCode.FHIR_UNKNOWN_CODE, f"{where}: not a PHQ answer code (LL358-3)")


def _component_item9(obs: Observation) -> int | None:
    component = _component(obs, PHQ9_ITEM9)
    if component is None:
        return None
    score = _answer_score(component, f"Observation.component[{PHQ9_ITEM9}].value")
    if score is None:
        raise _Reject(
            ReasonCode.FHIR_NO_VALUE, f"Observation.component[{PHQ9_ITEM9}].value: missing"
        )
    return score


@cache
def _fhir_type_names() -> frozenset[str]:
    """Every R4B type name (resources, data types, backbone elements), without importing them.

    Only used to decide whether a ``resourceType`` may be echoed in a reason: a FHIR type name
    is specification vocabulary, not free text. ``get_fhir_model_class`` is not used for this
    because it caches every name it is asked about, so untrusted names would grow its cache.
    """
    from fhir.resources.R4B import fhirtypes

    return frozenset(
        name[: -len("Type")]
        for name in dir(fhirtypes)
        if name.endswith("Type") and name[:1].isupper() and len(name) > len("Type")
    )


def _is_type(kind: str) -> bool:
    return kind in _fhir_type_names()


def _unsupported(kind: Any, *, top_level: bool) -> str:
    accepted = "Observation, Procedure, Encounter, Appointment" + (
        " or Bundle" if top_level else ""
    )
    if isinstance(kind, str) and _is_type(kind):
        # A FHIR type name is vocabulary, not free text: naming it leaks nothing.
        return f"resourceType {kind} is not accepted (expected {accepted})"
    return f"resourceType: missing or not a FHIR R4 resource type (expected {accepted})"


def _rejected(code: ReasonCode, detail: str) -> FhirResult:
    return FhirResult(accepted=(), rejection=Rejection(code=code, detail=detail))


def _combine(rejections: list[Rejection]) -> Rejection | None:
    if not rejections:
        return None
    if len(rejections) == 1:
        return rejections[0]
    shown = "; ".join(r.reason for r in rejections[:_MAX_REPORTED])
    more = f" (+{len(rejections) - _MAX_REPORTED} more)" if len(rejections) > _MAX_REPORTED else ""
    return Rejection(
        code=rejections[0].code,
        detail=f"{len(rejections)} problems: {shown}{more}",
        errors=tuple(e for r in rejections for e in r.errors),
        error_class=rejections[0].error_class,
    )
