"""Property: any bytes or JSON end in exactly one of: valid event(s) or a coded rejection.

The validator and the FHIR mapper are called directly (not through the handler's safety net),
so any exception is a failure here rather than an ``internal_error`` dead letter.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import parse_event
from services.intake.rejection import ReasonCode, Rejection
from services.intake.service import IntakeDomain
from services.intake.submission import decode_json
from tests.unit.intake import examples as ex

DOMAIN = IntakeDomain.from_settings(ex.settings())

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

_VALID = [builder() for builder in ex.VALID_BUILDERS]
_FHIR = [
    ex.hba1c_percent(),
    ex.hba1c_ifcc(),
    ex.glucose_mmol(),
    ex.uacr_mg_mmol(),
    ex.egfr(),
    ex.blood_pressure(),
    ex.phq9(),
    ex.phq2(),
    ex.procedure("722161008"),
    ex.procedure("401191002"),
    ex.appointment_resource(),
    ex.encounter(),
    ex.bundle(ex.hba1c_percent(id_="a"), ex.phq9(id_="b"), ex.appointment_resource()),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    """A valid document with one element replaced by random JSON, or deleted."""
    document = json.loads(json.dumps(draw(st.sampled_from(bases))))
    path = draw(st.sampled_from(_paths(document)))
    if not path:
        return draw(json_values)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return document


def _check_raw(raw: bytes) -> None:
    outcome = DOMAIN.validator.from_bytes(raw)
    if isinstance(outcome, Rejection):
        assert outcome.code is not ReasonCode.INTERNAL_ERROR
        assert outcome.reason.startswith(f"{outcome.code.value}: ")
    else:
        assert parse_event(outcome.value) == outcome.event
        assert outcome.key == str(getattr(outcome.event, "subject", "")).encode()
    # The one-pass path (the document schema) decides exactly as parsing first, then the
    # models: the same event bytes and id, or the same rejection.
    parsed = decode_json(raw, max_bytes=DOMAIN.validator.max_message_bytes)
    general = parsed if isinstance(parsed, Rejection) else DOMAIN.validator.from_object(parsed)
    if isinstance(general, Rejection):
        assert isinstance(outcome, Rejection)
        assert (outcome.code, outcome.reason, outcome.errors) == (
            general.code,
            general.reason,
            general.errors,
        )
    else:
        assert outcome == general


def _check_fhir(raw: bytes, *, single: bool) -> None:
    result = DOMAIN.fhir.map_record(raw, clinic_header=b"clinic-north")
    assert result.accepted or result.rejection is not None
    if single:  # one resource: exactly one of the two
        assert not (result.accepted and result.rejection is not None)
    for accepted in result.accepted:
        assert parse_event(accepted.value) == accepted.event
    if result.rejection is not None:
        assert result.rejection.code is not ReasonCode.INTERNAL_ERROR


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.binary(max_size=512))
def test_random_bytes(raw: bytes) -> None:
    _check_raw(raw)
    _check_fhir(raw, single=True)


@_SETTINGS
@given(json_values)
def test_random_json(value: Any) -> None:
    raw = json.dumps(value).encode()
    _check_raw(raw)
    _check_fhir(raw, single=True)


@_SETTINGS
@given(mutated(_VALID))
def test_mutated_submissions(document: Any) -> None:
    _check_raw(json.dumps(document).encode())


@_SETTINGS
@given(mutated(_FHIR))
def test_mutated_fhir(document: Any) -> None:
    single = not (isinstance(document, dict) and document.get("resourceType") == "Bundle")
    _check_fhir(json.dumps(document).encode(), single=single)
