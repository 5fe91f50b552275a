"""Cheap validity checks for the published resources, and the R4B model check.

fhir.resources checks structure but accepts invalid codes, non-XHTML narratives and
references to the wrong resource type (fhir_anchors.md 1.3), so this rule layer checks what
it misses: required-binding codes, reference targets, primitive formats, the XHTML narrative
and the US Core CarePlan essentials. It costs tens of microseconds, so the service runs it on
every resource; the R4B model validation (~0.4 ms per CarePlan) runs in the tests, and at
run time only in ``validation=model`` mode.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Final

from fhir.resources.R4B import get_fhir_model_class

__all__ = ["check_resource", "quick_check", "validate_model"]

_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE: Final = re.compile(r"[^\s]+(?: [^\s]+)*")
_URI: Final = re.compile(r"\S+")
_INSTANT: Final = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-"
    r"(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]+)?(Z|[+\-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
_LITERAL_REF: Final = re.compile(r"(?:#[A-Za-z0-9\-.]{1,64}|([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64})")
_BAD_CHARS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XHTML: Final = "{http://www.w3.org/1999/xhtml}"
# Narrative elements allowed by the FHIR xhtml rules that this publisher generates.
_TAGS: Final = frozenset(
    {"div", "p", "b", "i", "br", "span", "table", "thead", "tbody", "tr", "th", "td", "ul", "li"}
)

_REQUEST_STATUS: Final = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
_EVENT_STATUS: Final = frozenset(
    {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    }
)
_OBSERVATION_STATUS: Final = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
_ACTIVITY_STATUS: Final = frozenset(
    {
        "not-started",
        "scheduled",
        "in-progress",
        "on-hold",
        "completed",
        "cancelled",
        "stopped",
        "unknown",
        "entered-in-error",
    }
)
_ACTIVITY_KIND: Final = frozenset(
    {
        "Appointment",
        "CommunicationRequest",
        "DeviceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "Task",
        "ServiceRequest",
        "VisionPrescription",
    }
)
_PRIORITY: Final = frozenset({"routine", "urgent", "asap", "stat"})
_COMM_CATEGORY: Final = frozenset({"alert", "notification", "reminder", "instruction"})
_GAP_STATUS: Final = frozenset({"prospective-gap", "open-gap", "closed-gap", "not-applicable"})
_NARRATIVE_STATUS: Final = frozenset({"generated", "additional"})  # US Core narrative status

_AGENTS: Final = frozenset(
    {"Patient", "Practitioner", "PractitionerRole", "Device", "RelatedPerson", "Organization"}
)
#: Allowed reference targets per (resource type, element) (R4 definitions).
_TARGETS: Final[Mapping[tuple[str, str], frozenset[str]]] = {
    ("CarePlan", "subject"): frozenset({"Patient", "Group"}),
    ("CarePlan", "author"): _AGENTS | {"CareTeam"},
    ("CarePlan", "contributor"): _AGENTS | {"CareTeam"},
    ("CarePlan", "careTeam"): frozenset({"CareTeam"}),
    ("CarePlan", "addresses"): frozenset({"Condition"}),
    ("Communication", "subject"): frozenset({"Patient", "Group"}),
    ("Communication", "recipient"): _AGENTS | {"Group", "CareTeam", "HealthcareService"},
    ("Communication", "sender"): _AGENTS | {"HealthcareService"},
    ("DetectedIssue", "patient"): frozenset({"Patient"}),
    ("Condition", "subject"): frozenset({"Patient", "Group"}),
}
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "CarePlan": ("id", "meta", "text", "identifier", "status", "intent", "category", "subject"),
    "Communication": ("id", "meta", "identifier", "status", "category", "priority", "subject"),
    "DetectedIssue": ("id", "meta", "identifier", "status", "code", "patient"),
}


#: JSON escapes, matched left to right so an escaped backslash stays one unit;
#: orjson writes control characters other than tab, CR and LF as \b, \f or \u00XX.
_ESCAPE: Final = re.compile(rb"\\(u00[01][0-9a-fA-F]|[^u]|u)")
#: A blank string value: ``:"`` can only open a value, since quotes inside strings are escaped.
_BLANK_VALUE: Final = re.compile(rb':"(?:\s|\\[nrt])*"[,}\]]')
_NARRATIVE_DIV: Final = re.compile(
    r'<div xmlns="http://www\.w3\.org/1999/xhtml">(?:[^<&]++|&(?:amp|lt|gt);|</?(?:'
    r"p|b|i|br|span|table|thead|tbody|tr|th|td|ul|li)>)++</div>"
)
_QUICK_BINDINGS: Final[Mapping[str, tuple[tuple[str, frozenset[str]], ...]]] = {
    "CarePlan": (
        ("status", _REQUEST_STATUS),
        ("intent", frozenset({"proposal", "plan", "order", "option"})),
    ),
    "Communication": (("status", _EVENT_STATUS), ("priority", _PRIORITY)),
    "DetectedIssue": (
        ("status", _OBSERVATION_STATUS),
        ("severity", frozenset({"high", "moderate", "low"})),
    ),
}


def quick_check(body: Mapping[str, Any], raw: bytes) -> list[str]:
    """The run-time guard (~10 us): whole-document checks in C plus the required bindings.

    The mapping inserts every variable value through a typed guard (codes, URIs, strings,
    ids, instants); its fixed structure is validated by :func:`check_resource`, the R4B
    models and FHIR.js across the whole input space in the test suite. This guard catches a
    regression that slips past those without paying for a full tree walk per resource.
    """
    rtype = str(body.get("resourceType"))
    if rtype not in _REQUIRED:
        return [f"resourceType: unexpected {rtype!r}"]
    problems = [f"{rtype}.{name}: required" for name in _REQUIRED[rtype] if name not in body]
    if _BLANK_VALUE.search(raw) or b"\x7f" in raw or _bad_escape(raw):
        problems.append(f"{rtype}: blank string value or control character")
    if not _ID.fullmatch(str(body.get("id", ""))):
        problems.append(f"{rtype}.id: not a FHIR id")
    meta = body.get("meta", {})
    if not _ID.fullmatch(str(meta.get("versionId", ""))):
        problems.append(f"{rtype}.meta.versionId: not a FHIR id")
    _instant(problems, f"{rtype}.meta.lastUpdated", meta.get("lastUpdated"))
    for name, allowed in _QUICK_BINDINGS[rtype]:
        if name in body:
            _code_in(problems, f"{rtype}.{name}", body[name], allowed)
    text = body.get("text")
    if text is not None and not _NARRATIVE_DIV.fullmatch(str(text.get("div", ""))):
        problems.append(f"{rtype}.text.div: not a generated XHTML div")
    if rtype == "CarePlan":
        for activity in body.get("activity", ()):
            detail = activity["detail"]
            _code_in(
                problems, "CarePlan.activity.detail.status", detail["status"], _ACTIVITY_STATUS
            )
            _code_in(problems, "CarePlan.activity.detail.kind", detail["kind"], _ACTIVITY_KIND)
    return problems


def _bad_escape(raw: bytes) -> bool:
    for match in _ESCAPE.finditer(raw):
        escaped = match.group(1)
        if escaped in (b"b", b"f") or len(escaped) == 5:
            return True
    return False


def validate_model(body: Mapping[str, Any]) -> None:
    """Tier 1: structure per fhir.resources R4B (4.3, identical to R4 for these resources)."""
    get_fhir_model_class(str(body["resourceType"])).model_validate(body)


def check_resource(body: Mapping[str, Any]) -> list[str]:
    """Problems found by the rule layer, as ``path: message`` strings (empty when valid)."""
    problems: list[str] = []
    rtype = str(body.get("resourceType"))
    if rtype not in _REQUIRED:
        return [f"resourceType: unexpected {rtype!r}"]
    for name in _REQUIRED[rtype]:
        if name not in body:
            problems.append(f"{rtype}.{name}: required")
    if not _ID.fullmatch(str(body.get("id", ""))):
        problems.append(f"{rtype}.id: not a FHIR id")
    meta = body.get("meta", {})
    if not _ID.fullmatch(str(meta.get("versionId", ""))):
        problems.append(f"{rtype}.meta.versionId: not a FHIR id")
    _instant(problems, f"{rtype}.meta.lastUpdated", meta.get("lastUpdated"))
    if "text" in body:
        _narrative(problems, rtype, body["text"])
    generic, references = _generic(body, rtype)
    problems.extend(generic)
    _references(problems, body, rtype, references)
    if rtype == "CarePlan":
        _careplan(problems, body)
    elif rtype == "Communication":
        _communication(problems, body)
    else:
        _detected_issue(problems, body)
    return problems


def _instant(problems: list[str], path: str, value: Any) -> None:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        problems.append(f"{path}: not a FHIR instant")


def _code_in(problems: list[str], path: str, value: Any, allowed: frozenset[str]) -> None:
    if value not in allowed:
        problems.append(f"{path}: code {value!r} not in the required value set")


def _narrative(problems: list[str], rtype: str, text: Mapping[str, Any]) -> None:
    _code_in(problems, f"{rtype}.text.status", text.get("status"), _NARRATIVE_STATUS)
    div = text.get("div")
    try:
        root = ET.fromstring(div) if isinstance(div, str) else None  # noqa: S314
    except ET.ParseError:
        root = None
    if root is None or root.tag != f"{_XHTML}div":
        problems.append(f"{rtype}.text.div: not an XHTML div")
        return
    for element in root.iter():
        tag = element.tag.removeprefix(_XHTML)
        if tag not in _TAGS or element.attrib:
            problems.append(f"{rtype}.text.div: element {tag!r} or its attributes not allowed")
    if not "".join(root.itertext()).strip():
        problems.append(f"{rtype}.text.div: empty narrative")


def _generic(body: Mapping[str, Any], rtype: str) -> tuple[list[str], set[str]]:
    """One iterative pass over the tree: primitives, codings, references, extensions.

    Returns the problems (named by element, not full path, to stay cheap) and the literal
    references found outside ``contained``.
    """
    problems: list[str] = []
    references: set[str] = set()
    stack: list[tuple[str, Any, bool]] = [(rtype, body, False)]
    pop, push = stack.pop, stack.append
    while stack:
        key, node, contained = pop()
        kind = type(node)
        if kind is str:
            if not node.strip() or _BAD_CHARS.search(node):
                problems.append(f"{rtype}..{key}: blank string or control characters")
        elif kind is dict:
            if not node:
                problems.append(f"{rtype}..{key}: empty object")
                continue
            if key == "coding":
                if not _URI.fullmatch(str(node.get("system", ""))):
                    problems.append(f"{rtype}..coding.system: not a uri")
                if not _CODE.fullmatch(str(node.get("code", ""))):
                    problems.append(f"{rtype}..coding.code: not a FHIR code")
            elif key in ("extension", "modifierExtension"):
                if not _URI.fullmatch(str(node.get("url", ""))):
                    problems.append(f"{rtype}..{key}.url: required")
            elif key in ("identifier", "valueIdentifier") and not _URI.fullmatch(
                str(node.get("system", "x"))
            ):
                problems.append(f"{rtype}..{key}.system: not a uri")
            reference = node.get("reference")
            if reference is not None:
                if not _LITERAL_REF.fullmatch(str(reference)):
                    problems.append(f"{rtype}..{key}.reference: not a literal reference")
                if not contained:
                    references.add(str(reference))
            for child_key, value in node.items():
                push((child_key, value, contained or child_key == "contained"))
        elif kind is list:
            if not node:
                problems.append(f"{rtype}..{key}: empty array")
            for item in node:
                push((key, item, contained))
        elif node is None:
            problems.append(f"{rtype}..{key}: null")
    return problems, references


def _target(ref: Mapping[str, Any]) -> str | None:
    literal = ref.get("reference")
    if isinstance(literal, str):
        if literal.startswith("#"):
            return None  # contained: checked against the contained resource type
        match = _LITERAL_REF.fullmatch(literal)
        prefix = match.group(1) if match else None
        declared = ref.get("type")
        if declared is not None and declared != prefix:
            return "?"  # type disagrees with the literal reference
        return prefix
    declared = ref.get("type")
    return declared if isinstance(declared, str) else "?"


def _references(
    problems: list[str], body: Mapping[str, Any], rtype: str, outside: set[str]
) -> None:
    contained = {c.get("id"): c for c in body.get("contained", ())}
    for resource in (body, *contained.values()):
        owner = str(resource.get("resourceType"))
        for (target_type, element), allowed in _TARGETS.items():
            if target_type != owner or element not in resource:
                continue
            refs = resource[element]
            for ref in refs if isinstance(refs, list) else [refs]:
                kind = _target(ref)
                if kind is None:
                    local = contained.get(str(ref.get("reference", ""))[1:])
                    kind = None if local is None else str(local.get("resourceType"))
                if kind not in allowed:
                    problems.append(f"{owner}.{element}: reference to {kind!r} not allowed")
    for ident in contained:
        if f"#{ident}" not in outside:  # dom-3: a contained resource must be referenced
            problems.append(f"{rtype}.contained: {ident!r} is not referenced")


def _careplan(problems: list[str], body: Mapping[str, Any]) -> None:
    _code_in(problems, "CarePlan.status", body.get("status"), _REQUEST_STATUS)
    _code_in(
        problems,
        "CarePlan.intent",
        body.get("intent"),
        frozenset({"proposal", "plan", "order", "option"}),
    )
    assess = [
        c
        for cat in body.get("category", ())
        for c in cat.get("coding", ())
        if c.get("code") == "assess-plan"
        and c.get("system") == "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
    ]
    if len(assess) != 1:
        problems.append("CarePlan.category: US Core needs exactly one assess-plan category")
    for activity in body.get("activity", ()):
        detail = activity.get("detail", {})
        _code_in(
            problems, "CarePlan.activity.detail.status", detail.get("status"), _ACTIVITY_STATUS
        )
        _code_in(problems, "CarePlan.activity.detail.kind", detail.get("kind"), _ACTIVITY_KIND)
    for condition in body.get("contained", ()):
        if condition.get("resourceType") != "Condition" or "subject" not in condition:
            problems.append("CarePlan.contained: only a Condition with a subject is expected")
        if "meta" in condition or "text" in condition:
            problems.append("CarePlan.contained: no meta or narrative in contained resources")
    if "period" in body:
        _instant(problems, "CarePlan.period.end", body["period"].get("end"))


def _communication(problems: list[str], body: Mapping[str, Any]) -> None:
    _code_in(problems, "Communication.status", body.get("status"), _EVENT_STATUS)
    _code_in(problems, "Communication.priority", body.get("priority"), _PRIORITY)
    for cat in body.get("category", ()):
        for coding in cat.get("coding", ()):
            _code_in(problems, "Communication.category", coding.get("code"), _COMM_CATEGORY)
    _instant(problems, "Communication.sent", body.get("sent"))
    for part in body.get("payload", ()):
        if not isinstance(part.get("contentString"), str):
            problems.append("Communication.payload.content[x]: required")


def _detected_issue(problems: list[str], body: Mapping[str, Any]) -> None:
    _code_in(problems, "DetectedIssue.status", body.get("status"), _OBSERVATION_STATUS)
    if "severity" in body:
        _code_in(
            problems,
            "DetectedIssue.severity",
            body["severity"],
            frozenset({"high", "moderate", "low"}),
        )
    _instant(problems, "DetectedIssue.identifiedDateTime", body.get("identifiedDateTime"))
    for ext in body.get("modifierExtension", ()):
        for coding in ext.get("valueCodeableConcept", {}).get("coding", ()):
            _code_in(
                problems,
                "DetectedIssue.modifierExtension(gapStatus)",
                coding.get("code"),
                _GAP_STATUS,
            )
