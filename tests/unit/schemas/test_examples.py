"""Every contract model carries examples, and every example is valid twice over: by the
pydantic model and by the generated JSON Schema under an independent validator."""

from __future__ import annotations

import inspect
import json
from typing import Any

import jsonschema
import pytest

import schemas.caregaps
import schemas.events
import schemas.measurements
from schemas.base import ContractModel
from schemas.events import EVENT_MODELS, parse_event
from schemas.export import GENERATED_DIR


def _contract_models() -> list[type[ContractModel]]:
    found = []
    for module in (schemas.events, schemas.measurements, schemas.caregaps):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, ContractModel)
                and obj.__module__ == module.__name__
                and not obj.__name__.startswith("_")
            ):
                found.append(obj)
    return found


def _examples(model: type[ContractModel]) -> list[Any]:
    extra = model.model_config.get("json_schema_extra")
    items = extra.get("examples", []) if isinstance(extra, dict) else []
    return list(items) if isinstance(items, list) else []


@pytest.mark.parametrize("model", _contract_models(), ids=lambda m: m.__name__)
def test_every_model_has_examples_that_validate(model: type[ContractModel]) -> None:
    items = _examples(model)
    assert items, f"{model.__name__} has no examples"
    for item in items:
        model.model_validate(item)


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_event_examples_parse_as_events_and_match_generated_json_schema(model: type[Any]) -> None:
    type_ = model.model_fields["type"].annotation.__args__[0]
    schema = json.loads((GENERATED_DIR / "jsonschema" / f"{type_}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for item in _examples(model):
        event = parse_event(json.dumps(item))
        assert type(event) is model
        errors = [e.message for e in validator.iter_errors(item)]
        assert errors == []


def test_event_round_trips_through_json_unchanged() -> None:
    for model in EVENT_MODELS:
        for item in _examples(model):
            event = parse_event(json.dumps(item))
            again = parse_event(event.model_dump_json())
            assert again == event
