"""Coded rejection reasons that name the problem without quoting the input.

Reasons end up in Kafka headers (``x-dlq-reason``), HTTP responses, metrics labels (the code
only) and logs, so they must be PHI-free. The original bytes stay in the DLQ record value for
operators; the reason only says *where* and *what kind* of problem it is.

pydantic error messages are mostly schema text ("Input should be a valid integer"), but three
kinds can carry input: the key of an unknown field (``extra_forbidden`` locations), the tag of
an unknown union member, and custom validator messages that format values (``HbA1c 60.0 % is
outside...``). :func:`safe_errors` rewrites those: unknown keys become ``<unknown field>``
unless they are names the contracts know, and any number or string from the offending input
that appears in a message is replaced by ``<value>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "FieldError",
    "ReasonCode",
    "Rejection",
    "conflicting_id",
    "known_names",
    "rejection_from_validation",
    "safe_errors",
]

_MAX_ERRORS = 8
_REDACTED = "<value>"
_UNKNOWN_FIELD = "<unknown field>"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class ReasonCode(StrEnum):
    """Low-cardinality rejection codes (the metrics label and the first word of a reason)."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_OBJECT = "not_object"
    TYPE_NOT_ACCEPTED = "type_not_accepted"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_PROGRAMME = "unknown_programme"
    MODEL_NOT_ALLOWED = "model_not_allowed"
    PROGRAMME_MISMATCH = "programme_mismatch"
    FORBIDDEN_PROGRAMME = "forbidden_programme"
    INCONSISTENT_ORIGINAL = "inconsistent_original"
    FHIR_INVALID = "fhir_invalid"
    FHIR_UNSUPPORTED_RESOURCE = "fhir_unsupported_resource"
    FHIR_UNKNOWN_CODE = "fhir_unknown_code"
    FHIR_NO_VALUE = "fhir_no_value"
    FHIR_UNIT = "fhir_unit"
    FHIR_STATUS = "fhir_status"
    FHIR_SUBJECT = "fhir_subject"
    FHIR_TIME = "fhir_time"
    FHIR_IDENTITY = "fhir_identity"
    FHIR_INVALID_RESULT = "fhir_invalid_result"
    #: The event id was already published within the window with different content: an id
    #: names one event, so the second version is dead-lettered rather than silently dropped.
    CONFLICTING_ID = "conflicting_id"
    #: A bug in intake, not in the input: dead-lettered so the partition keeps moving and the
    #: record can be replayed after a fix.
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field-level problem: where (``loc``), what kind (``type``) and a PHI-free message."""

    loc: str
    type: str
    msg: str

    def describe(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        return f"{where}{self.msg} [{self.type}]"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a submission cannot become an event."""

    code: ReasonCode
    detail: str
    errors: tuple[FieldError, ...] = ()
    error_class: str = "RejectedSubmission"

    @property
    def reason(self) -> str:
        return f"{self.code.value}: {self.detail}"

    def located(self, where: str) -> Rejection:
        """The same rejection inside a container, e.g. ``entry[2]`` of a Bundle."""
        return Rejection(
            code=self.code,
            detail=f"{where}: {self.detail}",
            errors=tuple(
                FieldError(f"{where}.{e.loc}" if e.loc else where, e.type, e.msg)
                for e in self.errors
            ),
            error_class=self.error_class,
        )


# --------------------------------------------------------------------------- vocabulary


def _schema_words(schema: Any, words: set[str]) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                words.update(value)
            elif key in ("enum", "examples") and isinstance(value, list):
                words.update(v for v in value if isinstance(v, str))
            elif key == "const" and isinstance(value, str):
                words.add(value)
            elif key == "mapping" and isinstance(value, dict):
                words.update(value)
            _schema_words(value, words)
    elif isinstance(schema, list):
        for item in schema:
            _schema_words(item, words)


def _model_classes(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _model_classes(arg)


def _fhir_field_names() -> set[str]:
    from fhir.resources.R4B.appointment import Appointment
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.procedure import Procedure

    names: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Bundle, Observation, Procedure, Encounter, Appointment]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(name)
            if info.alias:
                names.add(info.alias)
            todo.extend(_model_classes(info.annotation))
    return names


@cache
def known_names() -> frozenset[str]:
    """Field names and controlled values of every contract and FHIR model intake parses.

    Only these words may be echoed from input (as a location of an unknown field); they are
    schema vocabulary, so echoing them cannot leak anything the sender typed freely.
    """
    from schemas.events import EVENT_ADAPTER

    words: set[str] = set()
    _schema_words(EVENT_ADAPTER.json_schema(), words)
    words |= _fhir_field_names()
    words.add("resourceType")
    return frozenset(words)


# --------------------------------------------------------------------------- redaction


def _scalars(value: Any, out_numbers: set[float], out_strings: set[str], budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    budget[0] -= 1
    if isinstance(value, bool):
        return
    if isinstance(value, int | float | Decimal):
        out_numbers.add(float(value))
    elif isinstance(value, str):
        out_strings.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                out_strings.add(key)
            _scalars(item, out_numbers, out_strings, budget)
    elif isinstance(value, list | tuple):
        for item in value:
            _scalars(item, out_numbers, out_strings, budget)
    elif isinstance(value, BaseModel):
        _scalars(value.model_dump(), out_numbers, out_strings, budget)


def _redact(message: str, error_input: Any) -> str:
    numbers: set[float] = set()
    strings: set[str] = set()
    _scalars(error_input, numbers, strings, [500])
    vocabulary = known_names()
    # Longest first, so a string containing a shorter one is removed whole.
    for text in sorted(strings, key=len, reverse=True):
        if len(text) >= 2 and text not in vocabulary and text in message:
            pattern = rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])"
            message = re.sub(pattern, _REDACTED, message)
    if numbers:

        def number(match: re.Match[str]) -> str:
            return _REDACTED if float(match.group()) in numbers else match.group()

        message = _NUMBER.sub(number, message)
    return message


def _location(loc: Iterable[int | str], error_type: str, skip: int) -> str:
    parts = list(loc)[skip:]
    last = parts[-1] if parts else None
    if error_type == "extra_forbidden" and isinstance(last, str) and last not in known_names():
        parts[-1] = _UNKNOWN_FIELD
    return ".".join(str(p) for p in parts)


def _message(error: ErrorDetails) -> str:
    error_type = error["type"]
    ctx = error.get("ctx") or {}
    if error_type == "union_tag_invalid":
        return (
            f"unknown value for {ctx.get('discriminator', 'the discriminator')}; expected one "
            f"of {ctx.get('expected_tags', 'the documented values')}"
        )
    if error_type == "extra_forbidden":
        return "unknown field (extra fields are not permitted)"
    return _redact(error["msg"], error.get("input"))


def safe_errors(exc: ValidationError, *, skip_loc: int = 0) -> tuple[FieldError, ...]:
    """Field-level errors of ``exc`` with every input value removed.

    ``skip_loc`` drops leading location parts (the discriminator tag of the event union).
    """
    result = []
    # include_input is needed to know what to redact; it never leaves this function.
    for error in exc.errors(include_url=False, include_context=True, include_input=True):
        result.append(
            FieldError(
                loc=_location(error["loc"], error["type"], skip_loc),
                type=error["type"],
                msg=_message(error),
            )
        )
    return tuple(result)


def rejection_from_validation(
    code: ReasonCode, exc: ValidationError, *, skip_loc: int = 0, loc_prefix: str = ""
) -> Rejection:
    """A rejection listing the first field errors of ``exc`` (up to 8 in ``errors``).

    ``loc_prefix`` names the container of the locations (e.g. ``Observation``).
    """
    errors = safe_errors(exc, skip_loc=skip_loc)
    if loc_prefix:
        errors = tuple(
            FieldError(f"{loc_prefix}.{e.loc}" if e.loc else loc_prefix, e.type, e.msg)
            for e in errors
        )
    shown = "; ".join(e.describe() for e in errors[:3])
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return Rejection(
        code=code,
        detail=f"{shown}{more}",
        errors=errors[:_MAX_ERRORS],
        error_class=type(exc).__name__,
    )


def conflicting_id() -> Rejection:
    """The rejection of an event whose id was already used for different content."""
    return Rejection(
        code=ReasonCode.CONFLICTING_ID,
        detail="this event id was already accepted with different content within the "
        "de-duplication window; a corrected event needs a new id",
    )
