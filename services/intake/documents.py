"""Submission bytes straight to the normalised event document, without model instances.

Intake's Kafka path used to validate each submission into the contract models and then build
their normalised document (:func:`services.intake.normalise.event_document`). Here the
models' own pydantic-core schema is rewritten once so that validation itself yields that
document: every model becomes a typed dict with the same fields, constraints and config, and

* a time is converted to UTC as it is validated, a measurement to its canonical unit once its
  own checks have passed (``normalise.convert_unit``);
* a field whose value would be None is left out, as ``model_dump(exclude_none=True)`` does:
  absent when not submitted, refused when submitted as null;
* a model validator runs on a view of the validated fields (:func:`_view_class`).

The instance, its field dict, its fields-set and the copy the builder made are never
allocated: intake's handler went from about 15.3 to 14.2 CPU µs per event in-process.

The rewritten schema accepts a *subset* of what the models accept, always with the document
the model path would give (tests compare both on every example, corpus and generated input).
Whatever it refuses, for any reason (invalid input, an explicit null, a model validator
touching something other than a field), goes to the model path, which decides and says why.
A model whose schema uses anything not listed above gets no entry here at all
(:class:`NotCompilable`): its events always take the model path.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel
from pydantic_core import SchemaValidator, core_schema

from services.intake.normalise import (
    convert_unit,
    converts_units,
    custom_serialisation,
    to_utc,
)

__all__ = ["DocumentValidator", "NotCompilable", "document_schema"]


#: A pydantic-core schema, read and rebuilt as plain dicts (its TypedDicts do not allow that).
_Schema = Any

#: Field names of the models a view may hold, each with the shape of the models it holds.
_Shape = dict[str, "_Shape | None"]

#: Core schema types whose validated value is final as it is (no model, time or check inside).
_LEAVES: Final = frozenset({"str", "int", "float", "bool", "literal", "enum", "none", "date"})
#: Default values a document may share between events (never rewritten, never mutable).
_SHAREABLE_DEFAULTS: Final = (str, int, float, bool, enum.Enum, tuple, frozenset, type(None))


class NotCompilable(Exception):
    """A model whose schema uses something the document schema does not reproduce."""


def _view_class(shape: _Shape) -> type:
    """The class of views of documents of ``shape``: ``self.<field>`` as a model validator
    reads it.

    A view's ``__dict__`` *is* the document, so a field reads at instance-dict speed; the class
    holds None for every field (the value of one left out), and a property for every field
    holding models, which reads them as views too. A name that is no field of the model (a
    property, a method) raises AttributeError, which sends the input to the model path rather
    than guess.
    """
    namespace: dict[str, Any] = {"__slots__": ("__dict__",)}
    for name, nested in shape.items():
        namespace[name] = None if nested is None else property(_nested_reader(name, nested))
    return type("DocumentFields", (), namespace)


def _nested_reader(name: str, shape: _Shape) -> Callable[[Any], Any]:
    view_class = _view_class(shape)

    def read(self: Any) -> Any:
        value = self.__dict__.get(name)
        if type(value) is dict:
            return _view(view_class, value)
        if type(value) is tuple or type(value) is list:
            return tuple(_view(view_class, v) if type(v) is dict else v for v in value)
        return value

    return read


def _view(view_class: type, document: dict[str, Any]) -> Any:
    # Calling the class (it has no __init__ of its own) costs less than object.__new__.
    view: Any = view_class()
    view.__dict__ = document
    return view


def _merge(shapes: Sequence[_Shape]) -> _Shape | None:
    """The shape of a value that may be any of several models (a union, a sequence of them)."""
    if not shapes:
        return None
    merged: _Shape = {}
    for shape in shapes:
        for name, nested in shape.items():
            known = merged.get(name)
            if name not in merged or known is None:
                merged[name] = nested
            elif nested is not None:
                merged[name] = _merge([known, nested])
    return merged


def _finisher(
    checks: tuple[Callable[[Any], Any], ...], shape: _Shape, *, converts: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """After a model's fields: its model validators on a view, then its unit conversion."""

    view_class = _view_class(shape)

    def finish(document: dict[str, Any]) -> dict[str, Any]:
        if checks:
            view = view_class()  # _view(), inlined: once per model with a validator
            view.__dict__ = document
            for check in checks:
                if check(view) is not view:
                    raise ValueError("a model validator replaced the instance")
        if converts:
            convert_unit(document)
        return document

    return finish


class _Compiler:
    def __init__(self, *, keep_none: Collection[str]) -> None:
        self.keep_none = frozenset(keep_none)
        # Shared sub-schemas (a model used twice) by ref: inlined where referenced, so the
        # rewritten schema carries no refs (and a recursive model is not compiled).
        self._definitions: dict[str, Any] = {}
        self._expanding: set[str] = set()

    def define(self, definitions: Sequence[_Schema]) -> None:
        self._definitions.update((definition["ref"], definition) for definition in definitions)

    def node(self, schema: Any) -> tuple[_Schema, _Shape | None]:
        """A value's schema rewritten, and the merged shape of the models it holds directly."""
        rewritten, shape = self._node(schema)
        rewritten.pop("ref", None)
        return rewritten, shape

    def _node(self, schema: Any) -> tuple[_Schema, _Shape | None]:
        kind = schema["type"]
        if kind in _LEAVES:
            return dict(schema), None
        if kind == "definitions":
            self.define(schema["definitions"])
            return self.node(schema["schema"])
        if kind == "definition-ref":
            ref = schema["schema_ref"]
            if ref in self._expanding or ref not in self._definitions:
                raise NotCompilable("a recursive schema")
            self._expanding.add(ref)
            try:
                return self.node(self._definitions[ref])
            finally:
                self._expanding.discard(ref)
        if kind == "datetime":
            plain = {k: v for k, v in schema.items() if k != "ref"}
            return core_schema.no_info_after_validator_function(to_utc, plain), None
        if kind in ("model", "function-after"):
            return self.model(schema, top=False)
        if kind in ("nullable", "default"):
            if kind == "default" and not self._shareable(schema):
                raise NotCompilable("a default a document cannot share")
            inner, shape = self.node(schema["schema"])
            return {**schema, "schema": inner}, shape
        if kind == "tuple":
            items = [self.node(item) for item in schema["items_schema"]]
            merged = _merge([s for _, s in items if s is not None])
            return {**schema, "items_schema": [s for s, _ in items]}, merged
        if kind == "tagged-union":
            choices = {tag: self.node(choice) for tag, choice in schema["choices"].items()}
            merged = _merge([s for _, s in choices.values() if s is not None])
            return {**schema, "choices": {t: s for t, (s, _) in choices.items()}}, merged
        raise NotCompilable(f"a {kind!r} schema")

    @staticmethod
    def _shareable(schema: _Schema) -> bool:
        if "default_factory" in schema:
            return False
        default = schema.get("default")
        if isinstance(default, tuple):
            return all(isinstance(item, _SHAREABLE_DEFAULTS) for item in default)
        return isinstance(default, _SHAREABLE_DEFAULTS) and not isinstance(default, dt.datetime)

    def model(self, schema: _Schema, *, top: bool) -> tuple[_Schema, _Shape]:
        """A model with its "after" model validators (the layers around its schema)."""
        checks: list[Callable[[Any], Any]] = []
        while schema["type"] == "function-after":
            if schema["function"]["type"] != "no-info":
                raise NotCompilable("a model validator that takes validation info")
            checks.insert(0, schema["function"]["function"])  # the innermost runs first
            schema = schema["schema"]
        if schema["type"] != "model":
            raise NotCompilable(f"a validator of a {schema['type']!r} schema")
        cls = schema["cls"]
        fields_schema = schema["schema"]
        if (
            fields_schema["type"] != "model-fields"
            or schema.get("custom_init")
            or schema.get("root_model")
            or schema.get("post_init")
            or fields_schema.get("computed_fields")
            or custom_serialisation(schema)
        ):
            raise NotCompilable(f"{cls.__name__}: not a plain model")
        config = dict(schema.get("config") or {})
        extra = fields_schema.get("extra_behavior") or config.get("extra_fields_behavior")
        if extra == "allow":
            raise NotCompilable(f"{cls.__name__}: keeps extra fields")
        fields: dict[str, Any] = {}
        shape: _Shape = {}
        for name, field in fields_schema["fields"].items():
            if field.get("validation_alias") is not None:
                raise NotCompilable(f"{cls.__name__}.{name}: a validation alias")
            fields[name], shape[name] = self.field(
                field["schema"], keep=top and name in self.keep_none
            )
        document = core_schema.typed_dict_schema(
            fields,
            extra_behavior=extra or "ignore",
            config=config,  # type: ignore[arg-type]
        )
        converts = converts_units(cls)
        if checks or converts:
            finish = _finisher(tuple(checks), shape, converts=converts)
            return core_schema.no_info_after_validator_function(finish, document), shape
        return document, shape

    def field(self, schema: _Schema, *, keep: bool) -> tuple[Any, _Shape | None]:
        """A typed-dict field whose value is never None (unless ``keep``: present as None)."""
        required = schema["type"] != "default"
        if not required and "default" in schema and schema["default"] is None and not keep:
            # Left out when absent (as the dump leaves out a None); a submitted null refuses.
            schema = schema["schema"]
        if schema["type"] == "nullable" and not keep:
            schema = schema["schema"]
        elif schema["type"] == "default" and schema["schema"]["type"] == "nullable" and not keep:
            schema = {**schema, "schema": schema["schema"]["schema"]}
        rewritten, shape = self.node(schema)
        return core_schema.typed_dict_field(rewritten, required=required), shape


def document_schema(model: type[BaseModel], *, keep_none: Collection[str] = ()) -> _Schema:
    """The schema that validates ``model``'s JSON into its normalised document.

    ``keep_none``: top-level fields kept, as None, when absent or null (intake's ``id``, which
    is derived after validation and must keep its place in the document).
    Raises :class:`NotCompilable` for a model it cannot reproduce exactly.
    """
    schema = model.__pydantic_core_schema__
    compiler = _Compiler(keep_none=keep_none)
    if schema["type"] == "definitions":
        compiler.define(schema["definitions"])
        schema = schema["schema"]
    return compiler.model(schema, top=True)[0]


class DocumentValidator:
    """JSON bytes of any of ``models`` (by the value of their ``discriminator`` field) -> the
    document of that model.

    ``validate_json`` raises for anything it does not accept, not only ValidationError (see
    the module docstring): the caller's fallback is the model path. A model in ``refused``
    (with the reason) is not accepted at all.
    """

    def __init__(
        self,
        models: Mapping[str, type[BaseModel]],
        *,
        discriminator: str,
        keep_none: Collection[str] = (),
    ) -> None:
        choices: dict[str, Any] = {}
        self.refused: dict[type[BaseModel], str] = {}
        for tag, model in models.items():
            try:
                choices[tag] = document_schema(model, keep_none=keep_none)
            except NotCompilable as exc:
                self.refused[model] = str(exc)
        self.types = frozenset(choices)
        # Only keys repeat from one submission to the next (ids, subjects and times do not):
        # caching every string as it is parsed cost more than it saved (about 0.15 µs).
        self.validate_json: Callable[[bytes], dict[str, Any]] = SchemaValidator(
            core_schema.tagged_union_schema(choices, discriminator=discriminator),
            {"cache_strings": "keys"},
        ).validate_json
