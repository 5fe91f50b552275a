"""Normalisation of validated events: UTC timestamps, canonical units, deterministic ids.

Works on the *document* of a validated event (``model_dump``, so defaults are filled in and
values are typed), which is then serialised once; rewriting the frozen models instead would
copy them field by field and cost more than the validation itself.

:func:`event_document` builds that document straight from the validated models with a
builder compiled once per contract model, normalising as it goes, for about a third less CPU
than ``model_dump`` followed by :func:`normalise_document`. It returns exactly what those two
would (tests compare them); for a model it cannot prove that of, or an event that does not
normalise cleanly, the caller takes the ``model_dump`` path instead. (Submission bytes skip the
models altogether: ``services.intake.documents``.)

* Every aware datetime anywhere in the event is converted to UTC, so downstream day-window
  comparisons (care_gap_rules.md 6.14) never depend on the sender's offset.
* Measurements are converted to one canonical unit per kind (HbA1c %, glucose mg/dL, UACR
  mg/g) with the conversions of ``schemas.measurements``; the submitted value and unit are
  kept in ``original``. A submission that already carries ``original`` must be consistent
  with it, otherwise it is rejected rather than silently trusted.
* An event without an id gets ``uuid5(namespace, canonical JSON of the normalised event)``
  (its wire form with an empty id: contract field order, no nulls, UTC times), so a resend is
  a duplicate, not a new event.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
import pydantic
from pydantic import BaseModel
from pydantic_core import TzInfo

from schemas.events import EVENT_MODELS
from schemas.ids import Uuid5Namespace
from schemas.measurements import glucose_mg_dl, hba1c_percent, uacr_mg_g
from services.intake.rejection import ReasonCode, Rejection

__all__ = [
    "CANONICAL_UNITS",
    "EVENT_ID_NAMESPACE",
    "NormalisationError",
    "canonical_json",
    "convert_unit",
    "converts_units",
    "custom_serialisation",
    "derive_event_id",
    "encode_deriving_id",
    "encode_document",
    "event_document",
    "normalise_document",
    "to_utc",
]

#: Namespace of derived event ids (uuid5 of URL "urn:peerlink:intake:event-id"); changing it
#: would change every derived id.
EVENT_ID_NAMESPACE: Final = uuid.UUID("ff5c578e-7d45-5469-bea3-9f8f94e60bc7")

#: kind -> (canonical unit, converter(value, unit) -> canonical value, tolerance of `original`).
CANONICAL_UNITS: Final[dict[str, tuple[str, Callable[[float, str], float], float]]] = {
    "hba1c": ("%", hba1c_percent, 0.05),
    "glucose": ("mg/dL", glucose_mg_dl, 0.5),
    "uacr": ("mg/g", uacr_mg_g, 0.5),
}

_UTC = dt.UTC
_JSON_OPTIONS = orjson.OPT_UTC_Z
#: The fixed-offset tzinfo of every time pydantic parses (typed loosely: pydantic-core's stub
#: lets its utcoffset return None, which a fixed offset never does).
_PYDANTIC_TZINFO: Final[type[Any]] = TzInfo
_combine: Final = dt.datetime.combine


def to_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC (``astimezone(UTC)``); an aware time by contract.

    Every time of every event passes here. For pydantic's fixed offsets it subtracts the
    offset and attaches UTC: about 210 ns against 365 for ``astimezone``, which asks the
    tzinfo for its offset through the datetime and then for ``fromutc``. A time past the
    range of ``datetime`` in UTC raises OverflowError either way.
    """
    tzinfo: Any = value.tzinfo
    if type(tzinfo) is _PYDANTIC_TZINFO:
        utc = value - tzinfo.utcoffset(value)
        return _combine(utc, utc.time(), _UTC)  # the date of a datetime is its own date
    return value if tzinfo is _UTC else value.astimezone(_UTC)


class NormalisationError(ValueError):
    """A validated event that cannot be normalised without guessing."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


class _Inconsistent(Exception):
    """Internal: a measurement contradicts its ``original``; located by the caller."""

    def __init__(self, measurement: dict[str, Any], detail: str) -> None:
        super().__init__(detail)
        self.measurement = measurement
        self.detail = detail


def convert_unit(measurement: dict[str, Any]) -> None:
    """The measurement in its kind's canonical unit, the submitted quantity in ``original``.

    Any other dict (no unit, or a kind without a canonical unit) is left as it is. Raises
    ``_Inconsistent`` (internal: located by :func:`normalise_document`) when a given
    ``original`` contradicts the value.
    """
    canonical = CANONICAL_UNITS.get(measurement.get("kind"))  # type: ignore[arg-type]
    if canonical is None or "unit" not in measurement:
        return
    unit, convert, tolerance = canonical
    original = measurement.get("original")
    if measurement["unit"] != unit:
        if original is not None:
            raise _Inconsistent(
                measurement,
                f"original: must be absent when the value is not in the canonical unit {unit} "
                "(intake records the submitted unit itself)",
            )
        value, submitted = measurement["value"], measurement["unit"]
        measurement["value"] = convert(value, submitted)
        measurement["unit"] = unit
        measurement["original"] = {"value": value, "unit": submitted}
    elif original is not None:
        try:
            expected = convert(original["value"], original["unit"])
        except ValueError:
            raise _Inconsistent(
                measurement, f"original.unit: not a unit of {measurement['kind']}"
            ) from None
        if abs(expected - measurement["value"]) > tolerance:
            raise _Inconsistent(measurement, "original: does not convert to the given value")


def _walk(document: dict[str, Any]) -> None:
    """Normalise a dict in place (the hot path: exact type checks, no copies, no paths)."""
    for key, item in document.items():
        kind = type(item)
        if kind is dict:
            _walk(item)
        elif kind is tuple or kind is list:
            new = _walk_items(item)
            if new is not item:
                document[key] = new
        elif kind is dt.datetime:  # aware by contract
            document[key] = to_utc(item)
    convert_unit(document)


def _walk_items(items: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    """The same sequence (dicts inside normalised in place), copied only to replace a time."""
    result: list[Any] | None = None
    for index, item in enumerate(items):
        kind = type(item)
        if kind is dict:
            _walk(item)
            continue
        new: Any
        if kind is tuple or kind is list:
            new = _walk_items(item)
        elif kind is dt.datetime:
            new = to_utc(item)  # the same object when already in UTC
        else:
            continue
        if new is not item:
            result = result if result is not None else list(items)
            result[index] = new
    return items if result is None else result


def _path_to(node: Any, target: dict[str, Any], path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where ``target`` sits in the document (only computed for a rejection)."""
    if node is target:
        return path
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        if isinstance(child, dict | list | tuple):
            found = _path_to(child, target, (*path, str(key)))
            if found is not None:
                return found
    return None


def _overflowing_time(node: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where the first time that cannot be converted to UTC sits (only for a rejection)."""
    if isinstance(node, dt.datetime):
        try:
            to_utc(node)
        except OverflowError:
            return path
        return None
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        if isinstance(child, dict | list | tuple | dt.datetime):
            found = _overflowing_time(child, (*path, str(key)))
            if found is not None:
                return found
    return None


def normalise_document(document: dict[str, Any]) -> None:
    """UTC times and canonical units, in place.

    Raises :class:`NormalisationError` when the event cannot be normalised without guessing.
    """
    try:
        _walk(document)
    except OverflowError:
        # Aware by contract, but e.g. 9999-12-31T23:59:59-14:00 is past the last UTC year.
        where = ".".join(_overflowing_time(document, ()) or ("time",))
        raise NormalisationError(
            Rejection(
                code=ReasonCode.INVALID_EVENT,
                detail=f"{where}: cannot be expressed in UTC (outside years 1-9999)",
            )
        ) from None
    except _Inconsistent as exc:
        path = _path_to(document, exc.measurement, ()) or ()
        if path[-1:] == ("measurement",) or (len(path) > 1 and path[-2] == "observations"):
            # Name the union member as pydantic does (data.measurement.hba1c.original).
            path = (*path, exc.measurement["kind"])
        where = ".".join(path)
        raise NormalisationError(
            Rejection(code=ReasonCode.INCONSISTENT_ORIGINAL, detail=f"{where}.{exc.detail}")
        ) from None


def canonical_json(document: dict[str, Any]) -> bytes:
    """The content a derived id is computed over: the wire form with an empty id.

    A normalised document holds its keys in the contract's field order at every level (the
    dump, the builder and the document schema all keep it) and its times in UTC, so the same
    content gives the same bytes whatever order and notation it was submitted in.
    """
    return encode_document({**document, "id": ""})  # the id keeps its place


_EVENT_IDS: Final = Uuid5Namespace(EVENT_ID_NAMESPACE)
_EMPTY_ID: Final = b'"id":""'


def derive_event_id(document: dict[str, Any]) -> str:
    """``uuid5(EVENT_ID_NAMESPACE, canonical JSON)``, hashing the bytes without a decode."""
    return _EVENT_IDS.id(canonical_json(document))


def encode_document(document: dict[str, Any]) -> bytes:
    """The wire form of a normalised event document."""
    return orjson.dumps(document, option=_JSON_OPTIONS)


def encode_deriving_id(document: dict[str, Any]) -> tuple[str, bytes]:
    """:func:`derive_event_id` and then :func:`encode_document`, from one encoding.

    The canonical form is the wire form with an empty id, so the id is filled into those
    bytes instead of encoding the document again. That is exact when the empty id occurs once
    (the envelope's: every other id has at least one character); otherwise the document is
    encoded again.
    """
    document["id"] = ""
    canonical = encode_document(document)
    event_id = document["id"] = _EVENT_IDS.id(canonical)
    cut = canonical.find(_EMPTY_ID) + len(_EMPTY_ID) - 1
    if canonical.find(_EMPTY_ID, cut) != -1:
        return event_id, encode_document(document)
    return event_id, canonical[:cut] + event_id.encode() + canonical[cut:]


# --------------------------------------------------------------------------- compiled documents

#: Builds the normalised document of one validated model instance.
_Builder = Callable[[Any], dict[str, Any]]
#: The builder of each model class a field may hold.
_Builders = dict[type[BaseModel], _Builder]

_DATETIME_TYPES: Final = (
    pydantic.AwareDatetime,
    pydantic.NaiveDatetime,
    pydantic.PastDatetime,
    pydantic.FutureDatetime,
)
#: Values the dump returns unchanged (and the generic walk leaves alone).
_INERT_TYPES: Final = (str, int, float, bool, bytes, enum.Enum, type(None), dt.date, dt.time)


class _NotBuildable(Exception):
    """Internal: a value the compiled builder does not expect; the caller dumps instead."""


@dataclass(frozen=True)
class _Kind:
    """What a field holds, as far as building its document goes."""

    #: "models": a tuple of model instances; "inert": a value the dump returns as it is.
    shape: Literal["inert", "time", "model", "models"]
    nullable: bool
    models: tuple[type[BaseModel], ...] = ()


def _kind(annotation: Any) -> _Kind | None:
    """Classify a field annotation; None for anything the builder cannot reproduce exactly."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _kind(args[0])
    if origin is typing.Literal:
        return _Kind("inert", nullable=None in args)
    if origin is typing.Union or origin is types.UnionType:
        members = [_kind(arg) for arg in args if arg is not type(None)]
        if not members or any(m is None or m.nullable for m in members):
            return None
        shapes = {m.shape for m in members if m is not None}
        if len(shapes) != 1 or (shapes == {"time"} and len(members) > 1):
            return None
        models = tuple(model for m in members if m is not None for model in m.models)
        return _Kind(shapes.pop(), nullable=type(None) in args, models=models)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _kind(args[0])
        if item is None or item.nullable or item.shape not in ("inert", "model"):
            return None
        return _Kind("inert" if item.shape == "inert" else "models", False, item.models)
    if origin is not None or not isinstance(annotation, type):
        return None
    if annotation is type(None):
        return _Kind("inert", nullable=True)
    if issubclass(annotation, dt.datetime) or annotation in _DATETIME_TYPES:
        return _Kind("time", nullable=False)
    if issubclass(annotation, BaseModel):
        return _Kind("model", nullable=False, models=(annotation,))
    if issubclass(annotation, _INERT_TYPES):
        return _Kind("inert", nullable=False)
    return None


def converts_units(model: type[BaseModel]) -> bool:
    """Whether instances of ``model`` may hold a measurement that :func:`convert_unit` converts."""
    fields = model.model_fields
    if "unit" not in fields or "kind" not in fields:
        return False
    kind = fields["kind"].annotation
    return typing.get_origin(kind) is not typing.Literal or any(
        k in CANONICAL_UNITS for k in typing.get_args(kind)
    )


def custom_serialisation(schema: Any) -> bool:
    """Whether a core schema serialises anything other than field values under field names."""
    if isinstance(schema, dict):
        if (
            "serialization" in schema
            or schema.get("computed_fields")
            or schema.get("serialization_exclude")
            or schema.get("serialization_alias")
            or schema.get("extra_behavior") == "allow"
            or schema.get("root_model")
            or schema.get("serialize_by_alias")
        ):
            return True
        return any(custom_serialisation(value) for value in schema.values())
    if isinstance(schema, list | tuple):
        return any(custom_serialisation(value) for value in schema)
    return False


class _BuilderCompiler:
    """Builders of models and of every model they hold."""

    def __init__(self) -> None:
        self.builders: _Builders = {}
        self._failed: set[type[BaseModel]] = set()

    def compile(self, model: type[BaseModel]) -> bool:
        """Whether ``model`` and every model it holds got a builder."""
        if model in self.builders:
            return True
        if model in self._failed:
            return False
        self._failed.add(model)  # until proven buildable (also stops recursion)
        times: list[str] = []
        singles: list[tuple[str, _Builders]] = []
        sequences: list[tuple[str, _Builders]] = []
        nullable: list[str] = []
        for name, field in model.model_fields.items():
            kind = _kind(field.annotation)
            if kind is None or not all(self.compile(m) for m in kind.models):
                return False
            # Only the declared classes: the dump of an instance of a subclass is not its own.
            declared = {m: self.builders[m] for m in kind.models}
            if kind.shape == "inert":
                if kind.nullable:
                    nullable.append(name)
            elif kind.shape == "time":
                times.append(name)
            elif kind.shape == "model":
                singles.append((name, declared))
            elif kind.shape == "models":
                sequences.append((name, declared))
        self.builders[model] = _model_builder(
            nullable=tuple(nullable),
            times=tuple(times),
            singles=tuple(singles),
            sequences=tuple(sequences),
            converts=converts_units(model),
        )
        self._failed.discard(model)
        return True


def _model_builder(
    *,
    nullable: tuple[str, ...],
    times: tuple[str, ...],
    singles: tuple[tuple[str, _Builders], ...],
    sequences: tuple[tuple[str, _Builders], ...],
    converts: bool,
) -> _Builder:
    """``model_dump(exclude_none=True)`` of one instance, normalised like :func:`_walk`.

    Generated as straight-line code, one block per field that needs anything, as dataclasses
    generates ``__init__``: looping over the field names costs as much again on this path.
    The names are the contract model's own field names, never input. Dropping a None or
    replacing a value keeps the field order of the instance's ``__dict__`` (the dump's).
    """
    namespace: dict[str, Any] = {
        "_datetime": dt.datetime,
        "_NotBuildable": _NotBuildable,
        "convert_unit": convert_unit,
        "to_utc": to_utc,
    }
    lines = ["def build(instance):", "    document = instance.__dict__.copy()"]
    for name in nullable:
        lines += [f"    if document[{name!r}] is None:", f"        del document[{name!r}]"]
    for name in times:
        lines += [
            f"    value = document[{name!r}]",
            "    if type(value) is _datetime:",
            f"        document[{name!r}] = to_utc(value)",
            "    elif value is None:",
            f"        del document[{name!r}]",
            "    else:",
            f"        raise _NotBuildable({name!r})",
        ]
    for index, (name, builders) in enumerate(singles):
        namespace[f"_single_{index}"] = builders
        lines += [
            f"    value = document[{name!r}]",
            "    if value is None:",
            f"        del document[{name!r}]",
            "    else:",
            f"        document[{name!r}] = _single_{index}[type(value)](value)",
        ]
    for index, (name, builders) in enumerate(sequences):
        namespace[f"_items_{index}"] = builders
        lines += [
            f"    value = document[{name!r}]",
            "    if value:",
            f"        builders = _items_{index}",
            # A loop, not a list comprehension (a nested function per call before 3.12).
            "        built = []",
            "        for item in value:",
            "            built.append(builders[type(item)](item))",
            f"        document[{name!r}] = tuple(built)",
            "    elif value is None:",
            f"        del document[{name!r}]",
        ]
    if converts:
        lines.append("    convert_unit(document)")
    lines.append("    return document")
    exec(compile("\n".join(lines), "<intake document builder>", "exec"), namespace)  # noqa: S102
    build: _Builder = namespace["build"]
    return build


def _event_builders() -> _Builders:
    """Builders of the event models whose whole schema dumps plain field values."""
    compiler = _BuilderCompiler()
    return {
        model: compiler.builders[model]
        for model in EVENT_MODELS
        if not custom_serialisation(model.__pydantic_core_schema__) and compiler.compile(model)
    }


_EVENT_BUILDERS: Final = _event_builders()


def event_document(event: BaseModel) -> dict[str, Any] | None:
    """``model_dump(exclude_none=True)`` of a validated event after :func:`normalise_document`.

    None when that cannot be built directly: an event model the builder does not cover, or
    an event that does not normalise cleanly (a contradicting ``original``, a time that
    overflows in UTC). ``model_dump`` and :func:`normalise_document` then say what happens.
    """
    build = _EVENT_BUILDERS.get(type(event))
    if build is None:
        return None
    try:
        return build(event)
    except Exception:  # _NotBuildable, _Inconsistent, OverflowError, a KeyError of a subclass
        return None
