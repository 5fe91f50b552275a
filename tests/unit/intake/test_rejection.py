"""Rejection reasons never quote the input (they go to Kafka headers and logs)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from schemas.events import EVENT_ADAPTER
from services.intake.rejection import (
    FieldError,
    ReasonCode,
    Rejection,
    known_names,
    rejection_from_validation,
    safe_errors,
)
from tests.unit.intake import examples as ex


def _errors(payload: dict[str, Any]) -> tuple[FieldError, ...]:
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(payload)
    return safe_errors(caught.value, skip_loc=1)


def test_validator_messages_lose_the_submitted_numbers() -> None:
    payload = {**ex.result(value=60, unit="%"), "id": "e-1"}
    (error,) = _errors(payload)
    assert error.loc == "data.measurement.hba1c"
    assert "60" not in error.msg
    assert "3-20 %" in error.msg  # the schema's own limits stay


def test_both_values_of_an_inverted_blood_pressure_are_removed() -> None:
    payload = {**ex.contact(), "id": "e-2"}
    payload["data"]["observations"][0].update(systolic=81, diastolic=97)
    (error,) = _errors(payload)
    assert "81" not in error.msg
    assert "97" not in error.msg
    assert "must be below systolic" in error.msg


def test_unknown_field_names_are_not_echoed_but_known_ones_are() -> None:
    payload = {**ex.contact(), "id": "e-3", "Jane Doe": 1}
    payload["data"]["detail"]["measurement"] = 2  # a contract word in the wrong place
    locs = {e.loc for e in _errors(payload)}
    assert locs == {"<unknown field>", "data.detail.one_to_one.measurement"}


def test_unknown_union_tag_is_not_echoed() -> None:
    payload = {**ex.result(), "id": "e-4"}
    payload["data"]["measurement"]["kind"] = "Jane Doe"
    (error,) = _errors(payload)
    assert error.type == "union_tag_invalid"
    assert "Jane" not in error.msg
    assert "'hba1c'" in error.msg


def test_strings_from_the_input_are_removed_from_custom_messages() -> None:
    class Model(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

        @model_validator(mode="after")
        def _check(self) -> Model:
            raise ValueError(f"no patient called {self.name} here")

    with pytest.raises(ValidationError) as caught:
        Model(name="Jane Doe")
    (error,) = safe_errors(caught.value)
    assert error.msg == "Value error, no patient called <value> here"


def test_rejection_summary_and_location() -> None:
    payload = {**ex.contact(), "id": "e-5"}
    for name in ("channel", "direction", "outcome", "support_model"):
        del payload["data"][name]
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(payload)
    rejection = rejection_from_validation(
        ReasonCode.INVALID_EVENT, caught.value, skip_loc=1, loc_prefix="entry"
    )
    assert rejection.reason.startswith("invalid_event: entry.data.")
    assert rejection.reason.endswith("(+1 more)")
    located = rejection.located("entry[3] Observation")
    assert located.detail.startswith("entry[3] Observation: ")
    assert all(e.loc.startswith("entry[3] Observation.entry.data.") for e in located.errors)
    assert Rejection(code=ReasonCode.EMPTY, detail="x").located("y").errors == ()


def test_vocabulary_holds_contract_and_fhir_names_only() -> None:
    words = known_names()
    assert {"programme_id", "hba1c", "mmol/mol", "valueQuantity", "effectiveDateTime"} <= words
    assert "Jane Doe" not in words
