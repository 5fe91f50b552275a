"""Raw submissions -> validated, normalised events, or a coded rejection.

A *submission* is the JSON object a peer app, CHW platform or call centre sends (a Kafka record
value on ``peer.intake.raw`` or an item of ``POST /v1/events``). It is an event envelope of
``schemas.events`` with three relaxations:

* ``id`` may be omitted (or null): intake derives a deterministic one from the content
  (``services.intake.normalise.derive_event_id``), so a resend is a duplicate;
* ``specversion``, ``schema_version`` and ``datacontenttype`` may be omitted (defaults);
* over HTTP ``source`` may be omitted: it is the programme of the bearer token.

Only participant events are accepted; clock ticks and care-gap changes are internal.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson
from pydantic import BaseModel, ValidationError, create_model

from schemas.base import EventId
from schemas.events import EVENT_ADAPTER, EVENT_MODELS, Event, event_type, parse_event
from services.intake.documents import DocumentValidator
from services.intake.normalise import (
    NormalisationError,
    encode_deriving_id,
    encode_document,
    event_document,
    normalise_document,
)
from services.intake.programmes import ProgrammeRegistry
from services.intake.rejection import ReasonCode, Rejection, rejection_from_validation

__all__ = [
    "ACCEPTED_TYPES",
    "SUBMISSION_DOCUMENTS",
    "Accepted",
    "SubmissionValidator",
    "content_digest",
    "decode_json",
]

#: Event types a sender may submit.
ACCEPTED_TYPES: Final = frozenset(
    {
        "peerlink.participant.enrolled",
        "peerlink.participant.consent_changed",
        "peerlink.participant.exited",
        "peerlink.contact.logged",
        "peerlink.clinical.result_reported",
        "peerlink.appointment.recorded",
    }
)

# The core validator, called directly: TypeAdapter.validate_python only adds Python-level
# argument handling around it, once per record.
_validate: Final = EVENT_ADAPTER.validator.validate_python

# tuple.__new__ builds an Accepted without its keyword-capable __new__, a Python-level call
# (accept() runs once per accepted event).
_tuple_new: Final = tuple.__new__

#: An id that satisfies the EventId format while the real one is derived after normalising.
_PENDING_ID: Final = "pending"


def _submission_model(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` as a sender may submit it: the id may be missing or null (then derived)."""
    return create_model(
        f"{model.__name__}Submission",
        __base__=model,
        __module__=__name__,
        id=(EventId | None, None),
    )


#: Validates submission bytes in one pass, straight into the normalised document (pydantic
#: parses the JSON itself, no dict first, no model instances): the accepted event types only,
#: with an optional id, which keeps its place in the document until it is derived. The
#: contract models forbid NaN and infinities, which this parser would otherwise read and the
#: general path's JSON parser refuses, so both paths accept the same submissions (a unit test
#: compares them, and requires every accepted type to be compiled).
SUBMISSION_DOCUMENTS: Final = DocumentValidator(
    {event_type(m): _submission_model(m) for m in EVENT_MODELS if event_type(m) in ACCEPTED_TYPES},
    discriminator="type",
    keep_none=("id",),
)
_validate_document: Final = SUBMISSION_DOCUMENTS.validate_json


class Accepted(NamedTuple):
    """A valid, normalised event in its wire form (key = participant key = subject).

    A tuple rather than a frozen dataclass: built once per record on the hot path.
    """

    event_id: str
    key: bytes
    value: bytes
    derived_id: bool
    #: Content fingerprint (:func:`content_digest` of ``value``): the same id with another
    #: digest is a conflict, not a resend. Computed once here, read by every duplicate check.
    digest: int

    @property
    def event(self) -> Event:
        """The published event as consumers will parse it (parsed on each access)."""
        return parse_event(self.value)


def content_digest(value: bytes) -> int:
    """The fingerprint of an event's wire form that :class:`Accepted` carries.

    Python's hash of the bytes: SipHash with a key drawn at random per process, 64 bits,
    about a third of the cost of SHA-256 here (0.26 against 0.75 µs for 650 bytes). The
    digest never leaves the process (it is only compared within the duplicate window,
    between two events that already share an id), and without the key a sender cannot aim
    another event at a given fingerprint.
    """
    return hash(value)


def decode_json(raw: bytes | None, *, max_bytes: int) -> Any | Rejection:
    """Parse JSON bytes, classifying what is wrong with them (never quoting them)."""
    if not raw:
        return Rejection(code=ReasonCode.EMPTY, detail="the record has no value")
    if len(raw) > max_bytes:
        return Rejection(
            code=ReasonCode.TOO_LARGE,
            detail=f"{len(raw)} bytes exceed the limit of {max_bytes} bytes",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejection(
                code=ReasonCode.NOT_UTF8,
                detail=f"payload is not UTF-8 (invalid byte at offset {bad.start})",
                error_class="UnicodeDecodeError",
            )
        # orjson messages describe the syntax error, not the content.
        return Rejection(
            code=ReasonCode.INVALID_JSON,
            detail=f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            error_class="JSONDecodeError",
        )


class SubmissionValidator:
    """Pure: validation, programme checks and normalisation; no I/O, no duplicate state."""

    def __init__(self, *, registry: ProgrammeRegistry, max_message_bytes: int) -> None:
        self.registry = registry
        self.max_message_bytes = max_message_bytes

    def from_bytes(self, raw: bytes | None) -> Accepted | Rejection:
        if raw and len(raw) <= self.max_message_bytes:
            # The Kafka hot path: bytes to normalised document in one pass. Whatever it
            # refuses, for whatever reason (services/intake/documents.py), goes the general
            # way below, which decides and says precisely what is wrong; a refusal costs a
            # second parse, a valid event one.
            try:
                document = _validate_document(raw)
            except Exception:  # noqa: S110 (the general path below decides, and says why)
                pass
            else:
                refused = self.registry.check(document)
                if refused is not None:
                    return refused
                return self._accepted(document, derive_id=document["id"] is None)
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = decode_json(raw, max_bytes=self.max_message_bytes)  # says what is wrong
            else:
                return self.from_object(parsed)
        else:
            parsed = decode_json(raw, max_bytes=self.max_message_bytes)
        if isinstance(parsed, Rejection):
            return parsed
        return self.from_object(parsed)

    def from_object(self, obj: Any, *, default_source: str | None = None) -> Accepted | Rejection:
        if not isinstance(obj, dict):
            return Rejection(
                code=ReasonCode.NOT_OBJECT,
                detail=f"a submission is a JSON object, not {_json_kind(obj)}",
            )
        event_type = obj.get("type")
        if not isinstance(event_type, str) or event_type not in ACCEPTED_TYPES:
            if event_type is None:
                detail = "type: missing"
            elif isinstance(event_type, str) and event_type.startswith("peerlink."):
                detail = "type: not an event type that may be submitted"
            else:
                detail = "type: unknown event type"
            return Rejection(
                code=ReasonCode.TYPE_NOT_ACCEPTED,
                detail=f"{detail}; expected one of {', '.join(sorted(ACCEPTED_TYPES))}",
            )
        derive_id = obj.get("id") is None
        if derive_id or (default_source is not None and "source" not in obj):
            obj = dict(obj)
            if derive_id:
                obj["id"] = _PENDING_ID
            if default_source is not None:
                obj.setdefault("source", default_source)
        try:
            event = _validate(obj)
        except ValidationError as exc:
            # The first location part is the union tag, i.e. the type we already know.
            return rejection_from_validation(ReasonCode.INVALID_EVENT, exc, skip_loc=1)
        return self.accept(event, derive_id=derive_id)

    def accept(self, event: Event, *, derive_id: bool) -> Accepted | Rejection:
        """Registry check and normalisation of an already validated event."""
        # Every nullable contract field defaults to None, so dropping nulls loses nothing.
        built = event_document(event)  # dumped and normalised in one pass
        document = built if built is not None else event.model_dump(exclude_none=True)
        # The registry reads the source, programme and model, which normalising never changes,
        # so the registry's verdict still comes first when the event does not normalise.
        refused = self.registry.check(document)
        if refused is not None:
            return refused
        if built is None:
            try:
                normalise_document(document)
            except NormalisationError as exc:
                return exc.rejection
        return self._accepted(document, derive_id=derive_id)

    @staticmethod
    def _accepted(document: dict[str, Any], *, derive_id: bool) -> Accepted:
        """The wire form of a normalised document (its id derived first if it has none)."""
        subject = document.get("subject")
        assert isinstance(subject, str)  # every accepted type is a participant event
        if derive_id:
            event_id, value = encode_deriving_id(document)
        else:
            event_id, value = document["id"], encode_document(document)
        return _tuple_new(
            Accepted,
            (event_id, subject.encode(), value, derive_id, content_digest(value)),
        )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "a value of another kind"
