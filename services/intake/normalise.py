"""Normalisation of validated events: UTC timestamps, canonical units, deterministic ids.

Works on the *document* of a validated event (``model_dump``, so defaults are filled in and
values are typed), which is then serialised once; rewriting the frozen models instead would
copy them field by field and cost more than the validation itself.

* Every aware datetime anywhere in the event is converted to UTC, so downstream day-window
  comparisons (care_gap_rules.md 6.14) never depend on the sender's offset.
* Measurements are converted to one canonical unit per kind (HbA1c %, glucose mg/dL, UACR
  mg/g) with the conversions of ``schemas.measurements``; the submitted value and unit are
  kept in ``original``. A submission that already carries ``original`` must be consistent
  with it, otherwise it is rejected rather than silently trusted.
* An event without an id gets ``uuid5(namespace, canonical JSON of the normalised event)``
  (sorted keys, no nulls, UTC times, the id itself excluded), so a resend is a duplicate,
  not a new event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Any, Final

import orjson

from schemas.measurements import glucose_mg_dl, hba1c_percent, uacr_mg_g
from services.intake.rejection import ReasonCode, Rejection

__all__ = [
    "CANONICAL_UNITS",
    "EVENT_ID_NAMESPACE",
    "NormalisationError",
    "canonical_json",
    "derive_event_id",
    "encode_document",
    "normalise_document",
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
_CANONICAL_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS


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


def _convert_unit(measurement: dict[str, Any]) -> None:
    unit, convert, tolerance = CANONICAL_UNITS[measurement["kind"]]
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
        elif kind is dt.datetime and item.tzinfo is not _UTC:  # aware by contract
            document[key] = item.astimezone(_UTC)
    if "unit" in document and document.get("kind") in CANONICAL_UNITS:
        _convert_unit(document)


def _walk_items(items: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    """The same sequence (dicts inside normalised in place), copied only to replace a time."""
    result: list[Any] | None = None
    for index, item in enumerate(items):
        kind = type(item)
        if kind is dict:
            _walk(item)
            continue
        if kind is tuple or kind is list:
            new = _walk_items(item)
        elif kind is dt.datetime and item.tzinfo is not _UTC:
            new = item.astimezone(_UTC)
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


def normalise_document(document: dict[str, Any]) -> None:
    """UTC times and canonical units, in place.

    Raises :class:`NormalisationError` when the event cannot be normalised without guessing.
    """
    try:
        _walk(document)
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
    """The content a derived id is computed over: sorted keys, UTC times, no id."""
    return orjson.dumps({k: v for k, v in document.items() if k != "id"}, option=_CANONICAL_OPTIONS)


def derive_event_id(document: dict[str, Any]) -> str:
    """``uuid5(EVENT_ID_NAMESPACE, canonical JSON)``, hashing the bytes without a decode."""
    # SHA-1 is what RFC 4122 prescribes for version-5 UUIDs; it is an identifier, not a MAC.
    digest = hashlib.sha1(
        EVENT_ID_NAMESPACE.bytes + canonical_json(document), usedforsecurity=False
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def encode_document(document: dict[str, Any]) -> bytes:
    """The wire form of a normalised event document."""
    return orjson.dumps(document, option=_JSON_OPTIONS)
