"""Contract models do not validate their defaults per message, so every default must already
be what validation would make of it: valid, equal and of the same type (an enum member, not
its string; a tuple, not a list)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

import schemas.caregaps
import schemas.events
import schemas.measurements  # noqa: F401 (imported for their models)
from schemas.base import ContractModel, EventId
from schemas.vocabulary import SupportModel


def _subclasses(model: type[ContractModel]) -> Iterator[type[ContractModel]]:
    for sub in model.__subclasses__():
        yield sub
        yield from _subclasses(sub)


_MODELS = sorted(
    {m for m in _subclasses(ContractModel) if m.__module__.startswith("schemas.")},
    key=lambda m: (m.__module__, m.__qualname__),
)


def _validated_default(field: FieldInfo) -> tuple[Any, Any]:
    default = field.get_default(call_default_factory=True)
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    return default, TypeAdapter(annotation).validate_python(default)


def test_every_contract_model_is_checked() -> None:
    names = {m.__name__ for m in _MODELS}
    assert {"PeerContactLoggedEvent", "Glucose", "CareGapChange", "_Envelope"} <= names
    assert len(_MODELS) >= 40


@pytest.mark.parametrize("model", _MODELS, ids=lambda m: m.__qualname__)
def test_every_default_is_already_its_validated_form(model: type[ContractModel]) -> None:
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        default, validated = _validated_default(field)
        assert validated == default, f"{model.__name__}.{name}"
        assert type(validated) is type(default), f"{model.__name__}.{name}"


def test_a_default_that_validation_would_change_is_caught() -> None:
    # The check itself: a string default for an enum field, and an invalid default.
    as_string = FieldInfo.from_annotated_attribute(SupportModel, "peer_coach")
    default, validated = _validated_default(as_string)
    assert validated == default
    assert type(validated) is not type(default)
    empty = FieldInfo.from_annotated_attribute(EventId, "")
    with pytest.raises(ValidationError):
        _validated_default(empty)
