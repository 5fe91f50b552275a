"""The document schema: submission bytes to the normalised document without model instances.

Every scenario compares it with the model path it stands in for: it must accept a subset of
what the models accept, each time with exactly the document they give.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Self

import pytest
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    computed_field,
    model_validator,
)
from pydantic_core import SchemaValidator

from schemas.events import EVENT_ADAPTER
from services.intake.documents import DocumentValidator, NotCompilable, document_schema
from services.intake.normalise import encode_document, event_document
from services.intake.service import IntakeDomain
from services.intake.submission import ACCEPTED_TYPES, SUBMISSION_DOCUMENTS, Accepted
from tests.unit.intake import examples as ex


def _document(submission: dict[str, Any]) -> dict[str, Any]:
    return SUBMISSION_DOCUMENTS.validate_json(json.dumps(submission).encode())


def _model_document(submission: dict[str, Any]) -> dict[str, Any]:
    """The document the model path builds for the same submission (a pending id as None)."""
    pending = submission.get("id") is None
    event = EVENT_ADAPTER.validate_python(
        {**submission, "id": "pending"} if pending else submission
    )
    document = event_document(event)
    assert document is not None
    if pending:
        document["id"] = None
    return document


def test_every_submittable_type_is_compiled() -> None:
    assert SUBMISSION_DOCUMENTS.types == ACCEPTED_TYPES
    assert SUBMISSION_DOCUMENTS.refused == {}


@pytest.mark.parametrize("builder", ex.VALID_BUILDERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("event_id", [None, "evt-1"])
def test_each_example_gives_the_model_paths_document_key_for_key(
    builder: Any, event_id: str | None
) -> None:
    submission = builder(event_id=event_id) if event_id else builder()
    document, expected = _document(submission), _model_document(submission)
    assert document == expected
    assert encode_document(document) == encode_document(expected)  # same order at every level


def test_a_missing_id_keeps_its_place_until_it_is_derived() -> None:
    document = _document(ex.contact())
    assert "id" in document
    assert document["id"] is None
    assert list(document) == list(_model_document(ex.contact()))


def test_a_null_optional_field_is_left_to_the_model_path(domain: IntakeDomain) -> None:
    """The dump leaves a None out; the document schema refuses the null instead of keeping
    it, and the model path then accepts the event exactly as it would without the field."""
    submission = ex.contact(event_id="evt-2")
    submission["data"]["supporter_role"] = None
    raw = json.dumps(submission).encode()
    with pytest.raises(ValidationError):
        SUBMISSION_DOCUMENTS.validate_json(raw)
    accepted = domain.validator.from_bytes(raw)
    assert isinstance(accepted, Accepted)
    assert accepted == domain.validator.from_object(submission)
    assert b"supporter_role" not in accepted.value


def _glucose(value: float) -> dict[str, Any]:
    submission = ex.result(event_id="evt-3", value=value, unit="mmol/L")
    submission["data"]["measurement"]["kind"] = "glucose"
    return submission


def test_checks_see_the_submitted_unit_and_conversion_follows_them() -> None:
    measurement = _document(_glucose(4.7))["data"]["measurement"]
    assert (measurement["value"], measurement["unit"]) == (84.6, "mg/dL")
    assert measurement["original"] == {"value": 4.7, "unit": "mmol/L"}
    with pytest.raises(ValidationError, match="possible range"):
        _document(_glucose(0.3))


def test_every_time_comes_out_in_utc() -> None:
    submission = ex.appointment(event_id="evt-5", time="2026-03-02T09:00:00+01:00")
    document = _document(submission)
    assert document["time"].isoformat() == "2026-03-02T08:00:00+00:00"
    assert document["data"]["scheduled_for"].utcoffset().total_seconds() == 0


# --------------------------------------------------------------------------- synthetic models


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: int
    note: str | None = None


class _Outer(BaseModel):
    """Validators reading nested models, a sequence of them and an absent optional field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["outer"] = "outer"
    inner: _Inner
    items: tuple[_Inner, ...] = ()
    maybe: _Inner | None = None
    ratio: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.items and self.items[0].x < self.inner.x:
            raise ValueError("the first item is below inner")
        if self.maybe is not None and self.maybe.note is None:
            raise ValueError("maybe needs a note")
        return self


_OUTER = SchemaValidator(document_schema(_Outer))

_OUTER_INPUTS: list[dict[str, Any]] = [
    {"inner": {"x": 1}},
    {"inner": {"x": 1}, "items": [{"x": 2}, {"x": 0}]},
    {"inner": {"x": 3}, "items": [{"x": 2}]},  # refused by the validator
    {"inner": {"x": 1}, "maybe": {"x": 1}},  # refused: no note
    {"inner": {"x": 1}, "maybe": {"x": 1, "note": "n"}, "ratio": 2},
    {"inner": {"x": 1}, "extra": 1},  # refused: extra field
    {"inner": {"x": "1"}},  # lax JSON: "1" is an int for both
]


@pytest.mark.parametrize("value", _OUTER_INPUTS)
def test_nested_models_are_read_by_validators_as_the_model_reads_them(
    value: dict[str, Any],
) -> None:
    raw = json.dumps(value).encode()
    try:
        expected = _Outer.model_validate_json(raw).model_dump(exclude_none=True)
    except ValidationError:
        with pytest.raises(ValidationError):
            _OUTER.validate_json(raw)
    else:
        assert _OUTER.validate_json(raw) == expected


def test_the_models_config_applies_to_its_fields() -> None:
    with pytest.raises(ValidationError):
        _OUTER.validate_json(b'{"inner": {"x": 1}, "ratio": NaN}')


class _ReadsAProperty(BaseModel):
    low: int
    high: int

    @property
    def span(self) -> int:
        return self.high - self.low

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.span <= 0:
            raise ValueError("high must exceed low")
        return self


def test_a_validator_reading_anything_but_a_field_refuses_rather_than_guess() -> None:
    """The view holds fields only: a property raises, and the model path decides."""
    raw = b'{"low": 1, "high": 2}'
    assert _ReadsAProperty.model_validate_json(raw).span == 1
    with pytest.raises(AttributeError):
        SchemaValidator(document_schema(_ReadsAProperty)).validate_json(raw)


class _Replaces(BaseModel):
    value: int

    @model_validator(mode="after")
    def _replace(self) -> Any:
        return None


def test_a_validator_that_replaces_the_instance_refuses() -> None:
    with pytest.raises(ValidationError, match="replaced the instance"):
        SchemaValidator(document_schema(_Replaces)).validate_json(b'{"value": 1}')


class _WithInfo(BaseModel):
    value: int

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Self:
        return self


class _FieldValidator(BaseModel):
    value: Annotated[int, AfterValidator(lambda v: v * 2)]


class _Aliased(BaseModel):
    value: int = Field(validation_alias="v")


class _SharedDefault(BaseModel):
    inner: _Inner = _Inner(x=1)


class _FactoryDefault(BaseModel):
    values: list[int] = Field(default_factory=list)


class _KeepsExtra(BaseModel):
    model_config = ConfigDict(extra="allow")

    value: int


class _Computed(BaseModel):
    value: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return self.value * 2


class _Dictionary(BaseModel):
    values: dict[str, int]


@pytest.mark.parametrize(
    "model",
    [
        _WithInfo,
        _FieldValidator,
        _Aliased,
        _SharedDefault,
        _FactoryDefault,
        _KeepsExtra,
        _Computed,
        _Dictionary,
    ],
    ids=lambda m: m.__name__,
)
def test_what_the_document_schema_cannot_reproduce_is_not_compiled(
    model: type[BaseModel],
) -> None:
    with pytest.raises(NotCompilable):
        document_schema(model)


def test_a_model_that_is_not_compiled_is_left_out_of_the_validator() -> None:
    validator = DocumentValidator({"outer": _Outer, "computed": _Computed}, discriminator="kind")
    assert validator.types == {"outer"}
    assert list(validator.refused) == [_Computed]
    assert validator.validate_json(b'{"kind": "outer", "inner": {"x": 1}}')["inner"] == {"x": 1}


class _RequiredNullable(BaseModel):
    value: int | None
    flag: bool | None = False


@pytest.mark.parametrize(
    "raw", [b'{"value": 1}', b'{"value": null}', b'{"value": 1, "flag": null}', b"{}"]
)
def test_a_null_is_never_kept_in_the_document(raw: bytes) -> None:
    """The dump drops a None whether the field is required or has another default; the
    document schema refuses the null instead (the model path then takes the input)."""
    validator = SchemaValidator(document_schema(_RequiredNullable))
    try:
        expected = _RequiredNullable.model_validate_json(raw).model_dump(exclude_none=True)
    except ValidationError:
        with pytest.raises(ValidationError):
            validator.validate_json(raw)
        return
    if b"null" in raw:
        with pytest.raises(ValidationError):
            validator.validate_json(raw)
    else:
        assert validator.validate_json(raw) == expected
