"""A corpus of malformed submissions, each with the reason it must be rejected for.

Every case names the coded reason and a fragment the reason text must contain (the field or
the problem), plus, where the input carries something sensitive-looking (an injection string,
a name in an unknown field, an absurd value), the text that must *not* appear in the reason.
Used by the pure corpus test and by the Kafka integration test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.unit.intake import examples as ex

RAW = "raw"
FHIR = "fhir"


@dataclass(frozen=True)
class Malformed:
    name: str
    input: str  # RAW or FHIR
    value: bytes | None
    code: str
    fragment: str
    secrets: tuple[str, ...] = ()
    headers: tuple[tuple[str, bytes], ...] = field(default=())


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = ex.deep(obj)
    target: Any = obj
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return obj


def _del(obj: dict[str, Any], path: str) -> dict[str, Any]:
    obj = ex.deep(obj)
    target: Any = obj
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    del target[parts[-1]]
    return obj


_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "enrolled": ex.enrolled,
    "consent": ex.consent,
    "exited": ex.exited,
    "contact": ex.contact,
    "result": ex.result,
    "appointment": ex.appointment,
}


def _utf8_or_json(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8"
    return "invalid_json"


def _raw_cases() -> Iterator[Malformed]:
    # ---- not JSON at all
    broken = [
        b"{",
        b"}",
        b"[",
        b'{"type":',
        b'{"type": "peerlink.contact.logged"',
        b"{'type': 'peerlink.contact.logged'}",
        b'{"a": 1,}',
        b'{"a": 1} trailing',
        b"NaN",
        b"Infinity",
        b'{"a": NaN}',
        b"// comment\n{}",
        b"{a: 1}",
        b"nul",
        b"tru",
        b'{"a": "unterminated}',
        b'{"a": "bad \\x escape"}',
        b'"\\ud800"',
        b",",
        b'{"a" 1}',
        b'{"a": [1, 2}',
        b"<xml/>",
        b"type=peerlink.contact.logged",
        b"\x00\x00\x00",
        b'{"a": 01}',
        b'{"a": .5}',
        b'{"a": +1}',
        b"[1,]",
        b"\xef\xbb\xbf{}",
    ]
    for i, raw in enumerate(broken):
        yield Malformed(f"json-{i}", RAW, raw, _utf8_or_json(raw), "payload is not")
    yield Malformed("empty", RAW, b"", "empty", "no value")
    yield Malformed("tombstone", RAW, None, "empty", "no value")
    yield Malformed("whitespace", RAW, b"   \n\t ", "invalid_json", "not valid JSON")

    # ---- wrong encodings of otherwise valid submissions
    for name, builder in _BUILDERS.items():
        text = json.dumps(builder(), ensure_ascii=False)
        for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            raw = text.encode(encoding)
            yield Malformed(f"enc-{encoding}-{name}", RAW, raw, _utf8_or_json(raw), "payload")
        accented = text.replace("peerlink://programme/", "peerlink://programm\u00e9/", 1)
        for encoding in ("latin-1", "cp1252"):
            yield Malformed(
                f"enc-{encoding}-{name}", RAW, accented.encode(encoding), "not_utf8", "not UTF-8"
            )

    # ---- JSON, but not an object
    not_objects: list[Any] = [
        [],
        [ex.contact()],
        "peerlink.contact.logged",
        42,
        3.5,
        True,
        None,
        [1, 2, 3],
        "",
        {"events": []},
    ]
    for i, value in enumerate(not_objects):
        if isinstance(value, dict):
            yield Malformed(f"not-object-{i}", RAW, _dump(value), "type_not_accepted", "type")
        else:
            yield Malformed(f"not-object-{i}", RAW, _dump(value), "not_object", "JSON object")

    # ---- type
    contact = ex.contact()
    bad_types: list[Any] = [
        "peerlink.clock.tick",
        "peerlink.caregaps.changed",
        "peerlink.contact.logged.v2",
        "contact",
        "",
        7,
        None,
        ["peerlink.contact.logged"],
        "PEERLINK.CONTACT.LOGGED",
    ]
    for i, value in enumerate(bad_types):
        yield Malformed(
            f"type-{i}", RAW, _dump(_set(contact, "type", value)), "type_not_accepted", "type"
        )
    yield Malformed(
        "type-missing", RAW, _dump(_del(contact, "type")), "type_not_accepted", "type: missing"
    )

    # ---- missing envelope fields
    for name, builder in _BUILDERS.items():
        for field_name in ("time", "subject", "data", "source"):
            yield Malformed(
                f"missing-{field_name}-{name}",
                RAW,
                _dump(_del(builder(), field_name)),
                "invalid_event",
                f"{field_name}: Field required",
            )

    # ---- missing payload fields
    required = {
        "enrolled": ["programme_id", "support_model", "diabetes_type"],
        "consent": ["clinic_id", "share_with_clinic"],
        "exited": ["reason"],
        "contact": ["programme_id", "support_model", "channel", "direction", "outcome"],
        "result": ["result_id", "measurement"],
        "appointment": ["appointment_id", "status", "scheduled_for"],
    }
    for name, fields in required.items():
        for field_name in fields:
            yield Malformed(
                f"missing-data-{field_name}-{name}",
                RAW,
                _dump(_del(_BUILDERS[name](), f"data.{field_name}")),
                "invalid_event",
                f"data.{field_name}: Field required",
            )
    yield Malformed(
        "missing-measurement-value",
        RAW,
        _dump(_del(ex.result(), "data.measurement.value")),
        "invalid_event",
        "data.measurement.hba1c.value: Field required",
    )
    yield Malformed(
        "missing-bp-diastolic",
        RAW,
        _dump(_del(contact, "data.observations.0.diastolic")),
        "invalid_event",
        "data.observations.0.blood_pressure.diastolic: Field required",
    )

    # ---- extra fields (names and values that look like PHI must not be echoed)
    extras = [
        ("", "patient_name", "Jane Q. Doe"),
        ("", "mrn", "MRN-00991122"),
        ("data", "phone", "+1-555-0100"),
        ("data", "notes", "Jane said she feels hopeless"),
        ("data", "date_of_birth", "1961-04-12"),
        ("data.detail", "home_address", "12 Elm Street"),
        ("data.observations.0", "taken_by", "Taken by Dr. Smith"),
        ("data.observations.1", "meter_serial", "SN-4471-22"),
    ]
    for i, (where, key, value) in enumerate(extras):
        obj = ex.deep(contact)
        target: Any = obj
        for part in where.split(".") if where else []:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[key] = value
        yield Malformed(
            f"extra-{i}", RAW, _dump(obj), "invalid_event", "unknown field", secrets=(key, value)
        )
    for name, builder in _BUILDERS.items():
        obj = builder()
        obj["data"]["x_ssn"] = "078-05-1120"
        yield Malformed(
            f"extra-data-{name}",
            RAW,
            _dump(obj),
            "invalid_event",
            "unknown field",
            secrets=("x_ssn", "078-05-1120"),
        )
        obj = builder()
        obj["Jane Doe"] = True
        yield Malformed(
            f"extra-top-{name}",
            RAW,
            _dump(obj),
            "invalid_event",
            "unknown field",
            secrets=("Jane Doe",),
        )
    # A known field name in the wrong place is named (it is vocabulary, not free text).
    yield Malformed(
        "misplaced-field",
        RAW,
        _dump(_set(contact, "data.detail.measurement", 1)),
        "invalid_event",
        "data.detail.one_to_one.measurement: unknown field",
    )

    # ---- wrong types
    wrong_types: list[tuple[str, str, Any, str]] = [
        ("contact", "data.duration_min", "forty-five", "data.duration_min"),
        ("contact", "data.duration_min", [45], "data.duration_min"),
        ("contact", "data.duration_min", 45.5, "data.duration_min"),
        ("contact", "data.observations", {"kind": "glucose"}, "data.observations"),
        ("contact", "data.key_functions", "daily_management", "data.key_functions"),
        ("contact", "data.detail", "one_to_one", "data.detail"),
        ("contact", "data.observations.0.systolic", "146/92", "systolic"),
        ("contact", "data.observations.0.systolic", 146.5, "systolic"),
        ("contact", "data.observations.1.value", "7.4 mmol/L", "data.observations.1.glucose.value"),
        ("contact", "data.channel", 3, "data.channel"),
        ("contact", "data.outcome", "finished", "data.outcome"),
        ("contact", "data.support_model", "peer_support", "data.support_model"),
        ("consent", "data.share_with_clinic", "yes please", "data.share_with_clinic"),
        ("consent", "data.share_with_clinic", 2, "data.share_with_clinic"),
        ("enrolled", "data.diabetes_type", "type_3", "data.diabetes_type"),
        ("enrolled", "data.a1c_goal_percent", "seven", "data.a1c_goal_percent"),
        ("enrolled", "data.consent_share_with_clinic", "true-ish", "consent_share_with_clinic"),
        ("exited", "data.reason", "bored", "data.reason"),
        ("result", "data.measurement.value", "7.8%", "data.measurement.hba1c.value"),
        ("result", "data.measurement.value", None, "data.measurement.hba1c.value"),
        ("result", "data.measurement", [7.8], "data.measurement"),
        ("appointment", "data.status", "attended", "data.status"),
        ("appointment", "data.purpose", "dentist", "data.purpose"),
        ("appointment", "subject", 12345, "subject"),
        ("appointment", "time", True, "time"),
        ("result", "data", [], "data"),
        ("result", "specversion", "2.0", "specversion"),
        ("result", "schema_version", 1, "schema_version"),
        ("result", "datacontenttype", "text/plain", "datacontenttype"),
        ("contact", "id", 99, "id"),
    ]
    for i, (name, path, value, fragment) in enumerate(wrong_types):
        yield Malformed(
            f"type-{name}-{i}",
            RAW,
            _dump(_set(_BUILDERS[name](), path, value)),
            "invalid_event",
            fragment,
        )

    # ---- naive, impossible and nonsense dates
    date_fields = [
        ("result", "time", "time"),
        ("result", "data.measurement.effective_at", "data.measurement.hba1c.effective_at"),
        ("appointment", "data.scheduled_for", "data.scheduled_for"),
        (
            "contact",
            "data.observations.0.effective_at",
            "data.observations.0.blood_pressure.effective_at",
        ),
        ("consent", "time", "time"),
    ]
    bad_dates = [
        "2026-03-02T09:30:00",
        "2026-03-02",
        "2026-02-30T09:30:00Z",
        "2026-13-01T09:30:00Z",
        "2026-03-02T25:00:00Z",
        "2026-03-02T09:61:00+00:00",
        "yesterday",
        "",
        "02/03/2026 09:30",
        "2026-03-02T09:30:00+25:00",
    ]
    for name, path, fragment in date_fields:
        for j, value in enumerate(bad_dates):
            yield Malformed(
                f"date-{name}-{path}-{j}",
                RAW,
                _dump(_set(_BUILDERS[name](), path, value)),
                "invalid_event",
                fragment,
                secrets=(value,) if len(value) > 8 else (),
            )
    bridged = ex.envelope(
        "peerlink.contact.logged",
        {
            "programme_id": ex.OTHER_PROGRAMME,
            "support_model": "telephone_peer_partner",
            "channel": "phone_platform_bridged",
            "direction": "system_reminder_prompted",
            "outcome": "completed",
            "detail": {
                "kind": "bridged_call",
                "pair_id": "pair-31",
                "started_at": "2026-03-02T18:00:00+00:00",
                "ended_at": "2026-03-02T17:00:00+00:00",
            },
        },
        source=f"peerlink://programme/{ex.OTHER_PROGRAMME}",
    )
    yield Malformed(
        "bridged-ends-before-start",
        RAW,
        _dump(bridged),
        "invalid_event",
        "ended_at is before started_at",
    )

    # ---- units that do not exist
    units = [
        ("result", "data.measurement.unit", "mg", "data.measurement.hba1c.unit"),
        ("result", "data.measurement.unit", "percent", "data.measurement.hba1c.unit"),
        ("result", "data.measurement.unit", "%%", "data.measurement.hba1c.unit"),
        ("result", "data.measurement.unit", "mmol/L", "data.measurement.hba1c.unit"),
        ("result", "data.measurement.unit", "", "data.measurement.hba1c.unit"),
        ("contact", "data.observations.1.unit", "mg/dl", "data.observations.1.glucose.unit"),
        ("contact", "data.observations.1.unit", "mmol", "data.observations.1.glucose.unit"),
        ("contact", "data.observations.1.unit", "g/L", "data.observations.1.glucose.unit"),
        ("contact", "data.observations.0.unit", "kPa", "blood_pressure.unit"),
        ("contact", "data.observations.0.unit", "mm[Hg]", "blood_pressure.unit"),
    ]
    for i, (name, path, value, fragment) in enumerate(units):
        yield Malformed(
            f"unit-{i}", RAW, _dump(_set(_BUILDERS[name](), path, value)), "invalid_event", fragment
        )
    uacr = _set(
        ex.result(),
        "data.measurement",
        {"kind": "uacr", "value": 18, "unit": "mg/L", "effective_at": ex.T, "source": "clinic_lab"},
    )
    yield Malformed("unit-uacr", RAW, _dump(uacr), "invalid_event", "data.measurement.uacr.unit")
    egfr = _set(
        ex.result(),
        "data.measurement",
        {
            "kind": "egfr",
            "value": 74,
            "unit": "ml/min",
            "effective_at": ex.T,
            "source": "clinic_lab",
        },
    )
    yield Malformed("unit-egfr", RAW, _dump(egfr), "invalid_event", "data.measurement.egfr.unit")

    # ---- absurd values
    absurd = [
        ("hba1c-60pct", ex.result(value=60, unit="%"), "HbA1c", "60"),
        ("hba1c-0.5pct", ex.result(value=0.5, unit="%"), "HbA1c", "0.5"),
        ("hba1c-300mmol", ex.result(value=300, unit="mmol/mol"), "HbA1c", "300"),
        ("hba1c-negative", ex.result(value=-7, unit="%"), "HbA1c", "-7"),
        (
            "glucose-2000",
            _set(
                contact,
                "data.observations.1",
                {
                    "kind": "glucose",
                    "value": 2000,
                    "unit": "mg/dL",
                    "effective_at": ex.T,
                    "source": "self_report",
                },
            ),
            "glucose",
            "2000",
        ),
        ("glucose-0.1", _set(contact, "data.observations.1.value", 0.1), "glucose", "0.1"),
        ("bp-400", _set(contact, "data.observations.0.systolic", 400), "systolic", "400"),
        (
            "bp-inverted",
            _set(
                _set(contact, "data.observations.0.systolic", 80),
                "data.observations.0.diastolic",
                95,
            ),
            "diastolic",
            "95",
        ),
        ("duration-10000", _set(contact, "data.duration_min", 10000), "duration_min", "10000"),
        (
            "phq9-30",
            _set(
                ex.result(),
                "data.measurement",
                {"kind": "phq9", "total": 30, "effective_at": ex.T, "source": "clinic_ehr"},
            ),
            "total",
            "30",
        ),
        (
            "phq9-item9-above-total",
            _set(
                ex.result(),
                "data.measurement",
                {
                    "kind": "phq9",
                    "total": 1,
                    "item9": 3,
                    "effective_at": ex.T,
                    "source": "clinic_ehr",
                },
            ),
            "item 9",
            "xx",
        ),
        (
            "egfr-0",
            _set(
                ex.result(),
                "data.measurement",
                {
                    "kind": "egfr",
                    "value": 0,
                    "unit": "mL/min/1.73m2",
                    "effective_at": ex.T,
                    "source": "clinic_lab",
                },
            ),
            "egfr.value",
            "xx",
        ),
        (
            "uacr-negative",
            _set(
                ex.result(),
                "data.measurement",
                {
                    "kind": "uacr",
                    "value": -3,
                    "unit": "mg/g",
                    "effective_at": ex.T,
                    "source": "clinic_lab",
                },
            ),
            "uacr.value",
            "-3",
        ),
        (
            "uacr-huge",
            _set(
                ex.result(),
                "data.measurement",
                {
                    "kind": "uacr",
                    "value": 5000,
                    "unit": "mg/mmol",
                    "effective_at": ex.T,
                    "source": "clinic_lab",
                },
            ),
            "UACR",
            "5000",
        ),
        ("a1c-goal-15", _set(ex.enrolled(), "data.a1c_goal_percent", 15), "a1c_goal_percent", "15"),
        (
            "hypo-level-5",
            _set(contact, "data.hypo_event", {"level": 5, "occurred_at": ex.T}),
            "hypo_event.level",
            "xx",
        ),
        (
            "hypo-assisted-level-1",
            _set(
                contact,
                "data.hypo_event",
                {"level": 1, "needed_assistance": True, "occurred_at": ex.T},
            ),
            "level 3",
            "xx",
        ),
    ]
    for name, obj, fragment, secret in absurd:
        yield Malformed(
            f"absurd-{name}",
            RAW,
            _dump(obj),
            "invalid_event",
            fragment,
            secrets=(secret,) if len(secret) >= 3 else (),
        )

    # ---- oversized payloads
    yield Malformed(
        "oversized-string",
        RAW,
        _dump(_set(contact, "data.supporter_id", "x" * 70_000)),
        "too_large",
        "exceed the limit",
    )
    yield Malformed(
        "oversized-observations",
        RAW,
        _dump(_set(contact, "data.observations", [contact["data"]["observations"][0]] * 500)),
        "too_large",
        "exceed the limit",
    )
    yield Malformed(
        "oversized-padding", RAW, _dump(contact) + b" " * 70_000, "too_large", "exceed the limit"
    )
    yield Malformed(
        "oversized-binary", RAW, bytes(range(256)) * 300, "too_large", "exceed the limit"
    )
    yield Malformed(
        "deep-nesting", RAW, b"[" * 5000 + b"]" * 5000, "invalid_json", "not valid JSON"
    )
    yield Malformed(
        "too-many-observations",
        RAW,
        _dump(_set(contact, "data.observations", [contact["data"]["observations"][0]] * 21)),
        "invalid_event",
        "data.observations",
    )
    yield Malformed(
        "long-id",
        RAW,
        _dump(_set(contact, "id", "e" * 200)),
        "invalid_event",
        "id: String should have at most 128 characters",
    )

    # ---- injection strings in identifier fields
    injections = [
        "'; DROP TABLE participants;--",
        "<script>alert(1)</script>",
        "${jndi:ldap://x/a}",
        "../../etc/passwd",
        "{{7*7}}",
        "p-1\u0000x",
        "$(rm -rf /)",
        "p-1\r\nX-Injected: 1",
        "p-1' OR '1'='1",
        "\u202eevil",
    ]
    for i, value in enumerate(injections):
        for path, fragment in (
            ("subject", "subject"),
            ("data.supporter_id", "supporter_id"),
            ("id", "id"),
            ("data.detail.kind", "data.detail"),
        ):
            yield Malformed(
                f"inject-{i}-{path}",
                RAW,
                _dump(_set(contact, path, value)),
                "invalid_event",
                fragment,
                secrets=(value,),
            )
        yield Malformed(
            f"inject-{i}-source",
            RAW,
            _dump(_set(contact, "source", value)),
            "invalid_event",
            "source",
            secrets=(value,),
        )
        yield Malformed(
            f"inject-{i}-programme",
            RAW,
            _dump(_set(contact, "data.programme_id", value)),
            "invalid_event",
            "data.programme_id",
            secrets=(value,),
        )

    # ---- programmes
    yield Malformed(
        "programme-unknown",
        RAW,
        _dump(_set(contact, "data.programme_id", "prog-nowhere")),
        "unknown_programme",
        "data.programme_id",
    )
    unknown_everywhere = _set(
        _set(contact, "data.programme_id", "prog-nowhere"),
        "source",
        "peerlink://programme/prog-nowhere",
    )
    yield Malformed(
        "programme-unknown-both",
        RAW,
        _dump(unknown_everywhere),
        "unknown_programme",
        "source",
        secrets=("prog-nowhere",),
    )
    yield Malformed(
        "programme-unknown-data",
        RAW,
        _dump(
            _set(
                _set(contact, "data.programme_id", "prog-ghost"),
                "source",
                "peerlink://chw-platform/east",
            )
        ),
        "unknown_programme",
        "data.programme_id",
        secrets=("prog-ghost",),
    )
    for name in ("consent", "exited", "appointment"):
        yield Malformed(
            f"programme-unknown-source-{name}",
            RAW,
            _dump(_set(_BUILDERS[name](), "source", "peerlink://programme/prog-x/app")),
            "unknown_programme",
            "source",
            secrets=("prog-x",),
        )
    yield Malformed(
        "programme-mismatch",
        RAW,
        _dump(_set(contact, "source", f"peerlink://programme/{ex.OTHER_PROGRAMME}")),
        "programme_mismatch",
        "differs",
    )
    not_allowed = _set(
        _set(contact, "data.programme_id", ex.OTHER_PROGRAMME),
        "source",
        f"peerlink://programme/{ex.OTHER_PROGRAMME}",
    )
    yield Malformed(
        "model-not-allowed",
        RAW,
        _dump(not_allowed),
        "model_not_allowed",
        "community_health_worker is not registered",
    )
    enrolled_other = _set(
        _set(ex.enrolled(), "data.programme_id", ex.OTHER_PROGRAMME),
        "source",
        f"peerlink://programme/{ex.OTHER_PROGRAMME}",
    )
    yield Malformed(
        "model-not-allowed-enrolled",
        RAW,
        _dump(enrolled_other),
        "model_not_allowed",
        "data.support_model",
    )
    yield Malformed(
        "detail-not-for-model",
        RAW,
        _dump(
            _set(
                contact,
                "data.detail",
                {"kind": "online_post", "thread_id": "t-1", "post_kind": "post"},
            )
        ),
        "invalid_event",
        "cannot be logged by the community_health_worker model",
    )

    # ---- an `original` that contradicts the value
    inconsistent = _set(
        ex.result(value=62, unit="mmol/mol"),
        "data.measurement.original",
        {"value": 62, "unit": "mmol/mol"},
    )
    yield Malformed(
        "original-with-noncanonical", RAW, _dump(inconsistent), "inconsistent_original", "original"
    )
    wrong_original = _set(
        ex.result(value=7.8, unit="%"),
        "data.measurement.original",
        {"value": 75, "unit": "mmol/mol"},
    )
    yield Malformed(
        "original-mismatch", RAW, _dump(wrong_original), "inconsistent_original", "does not convert"
    )
    odd_original = _set(
        ex.result(value=7.8, unit="%"), "data.measurement.original", {"value": 140, "unit": "mg/dL"}
    )
    yield Malformed(
        "original-foreign-unit",
        RAW,
        _dump(odd_original),
        "inconsistent_original",
        "not a unit of hba1c",
    )


def _fhir_cases() -> Iterator[Malformed]:
    # ---- unknown codes
    unknown = [
        ("cholesterol", ex.observation("2093-3", valueQuantity=ex.quantity(180, "mg/dL"))),
        ("ldl", ex.observation("13457-7", valueQuantity=ex.quantity(100, "mg/dL"))),
        ("weight", ex.observation("29463-7", valueQuantity=ex.quantity(80, "kg"))),
        ("heart-rate", ex.observation("8867-4", valueQuantity=ex.quantity(70, "/min"))),
        ("systolic-alone", ex.observation("8480-6", valueQuantity=ex.quantity(140, "mm[Hg]"))),
        ("gmi", ex.observation("97506-0", valueQuantity=ex.quantity(7.1, "%"))),
        ("snomed-only", _set(ex.hba1c_percent(), "code.coding.0.system", ex.SNOMED)),
        ("no-coding", _set(ex.hba1c_percent(), "code", {"text": "HbA1c"})),
        ("uacr-strip", ex.observation("30000-4", valueQuantity=ex.quantity(30, "mg/g"))),
        ("appendectomy", ex.procedure("80146002")),
        ("loinc-procedure", _set(ex.procedure("722161008"), "code.coding.0.system", ex.LOINC)),
        ("phq9-item9-bad-answer", ex.phq9(item9_answer="LA9999-9")),
    ]
    for name, resource in unknown:
        yield Malformed(
            f"fhir-unknown-{name}",
            FHIR,
            _dump(resource),
            "fhir_unknown_code",
            ".code" if "answer" not in name else "PHQ answer",
        )
    # ---- values that are not numeric results
    no_value = [
        ("absent", ex.observation("4548-4"), "value: missing"),
        (
            "data-absent",
            ex.observation("4548-4", dataAbsentReason={"text": "specimen lost"}),
            "dataAbsentReason",
        ),
        ("string", ex.observation("4548-4", valueString="<7"), "valueString"),
        (
            "range",
            ex.observation(
                "4548-4", valueRange={"low": ex.quantity(6, "%"), "high": ex.quantity(7, "%")}
            ),
            "valueRange",
        ),
        (
            "comparator",
            ex.observation("4548-4", valueQuantity={**ex.quantity(14, "%"), "comparator": ">"}),
            "comparator",
        ),
        (
            "quantity-no-value",
            ex.observation("4548-4", valueQuantity={"unit": "%", "system": ex.UCUM, "code": "%"}),
            "without a value",
        ),
        (
            "bp-no-diastolic",
            _set(ex.blood_pressure(), "component", [ex.blood_pressure()["component"][0]]),
            "diastolic",
        ),
        ("bp-fraction", ex.blood_pressure(systolic=142.5), "whole mmHg"),
        ("phq9-no-total", ex.observation("44261-6"), "value: missing"),
        (
            "phq9-item-alone",
            ex.observation(
                "44259-0",  # item 1; item 9 alone is accepted (a red flag on its own)
                valueCodeableConcept={"coding": [{"system": ex.LOINC, "code": "LA6570-1"}]},
            ),
            "without a total",
        ),
        ("phq2-panel-empty", ex.observation("55757-9"), "without a total"),
        ("phq9-score-out-of-range", ex.observation("44261-6", valueInteger=31), "between 0 and 27"),
    ]
    for name, resource, fragment in no_value:
        yield Malformed(f"fhir-novalue-{name}", FHIR, _dump(resource), "fhir_no_value", fragment)
    # ---- units
    units = [
        (
            "no-system",
            _set(ex.hba1c_percent(), "valueQuantity.system", "http://example.org/u"),
            "UCUM",
        ),
        ("no-code", _del(ex.hba1c_percent(), "valueQuantity.code"), "UCUM"),
        (
            "a1c-in-mmol",
            ex.observation("4548-4", valueQuantity=ex.quantity(62, "mmol/mol")),
            "expected %",
        ),
        (
            "ifcc-in-percent",
            ex.observation("59261-8", valueQuantity=ex.quantity(7.8, "%")),
            "expected mmol/mol",
        ),
        (
            "glucose-mass-in-mmol",
            ex.observation("2345-7", valueQuantity=ex.quantity(8, "mmol/L")),
            "expected mg/dL",
        ),
        (
            "uacr-mg-l",
            ex.observation("9318-7", valueQuantity=ex.quantity(18, "mg/L")),
            "not a unit of uacr",
        ),
        (
            "egfr-no-bsa",
            ex.observation("98979-8", valueQuantity=ex.quantity(74, "mL/min")),
            "not a unit of egfr",
        ),
        (
            "bp-kpa",
            ex.observation(
                "85354-9",
                component=[
                    {
                        "code": {"coding": [{"system": ex.LOINC, "code": "8480-6"}]},
                        "valueQuantity": ex.quantity(18, "kPa"),
                    },
                    {
                        "code": {"coding": [{"system": ex.LOINC, "code": "8462-4"}]},
                        "valueQuantity": ex.quantity(11, "kPa"),
                    },
                ],
            ),
            "blood pressure",
        ),
    ]
    for name, resource, fragment in units:
        yield Malformed(f"fhir-unit-{name}", FHIR, _dump(resource), "fhir_unit", fragment)
    # ---- subject
    subjects = [
        ("none", _del(ex.hba1c_percent(), "subject"), "subject: missing"),
        (
            "mrn",
            _set(
                ex.hba1c_percent(),
                "subject",
                {"identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1234"}},
            ),
            "participant-key",
        ),
        (
            "dangling",
            _set(ex.hba1c_percent(), "subject", {"reference": "Patient/nowhere"}),
            "participant-key",
        ),
        (
            "display-only",
            _set(ex.hba1c_percent(), "subject", {"display": "Jane Doe"}),
            "participant-key",
        ),
        (
            "bad-key",
            _set(
                ex.hba1c_percent(),
                "subject",
                {"identifier": {"system": ex.KEY_SYSTEM, "value": "Jane Doe"}},
            ),
            "ParticipantKey format",
        ),
        (
            "appointment-no-patient",
            _set(
                ex.appointment_resource(),
                "participant",
                [{"actor": {"reference": "Practitioner/dr-1"}, "status": "accepted"}],
            ),
            "exactly one patient",
        ),
    ]
    for name, resource, fragment in subjects:
        secrets = ("Jane Doe", "MRN-1234")
        yield Malformed(
            f"fhir-subject-{name}", FHIR, _dump(resource), "fhir_subject", fragment, secrets=secrets
        )
    # ---- status
    statuses = [
        ("registered", ex.hba1c_percent(status="registered"), "registered carries no result"),
        ("unknown", ex.hba1c_percent(status="unknown"), "carries no result"),
        ("bogus", ex.hba1c_percent(status="done-ish"), "not a FHIR observation status"),
        ("not-done", ex.procedure("722161008", status="not-done"), "not a performed procedure"),
        ("in-progress", ex.procedure("401191002", status="in-progress"), "not a performed"),
        ("booked", ex.appointment_resource("booked"), "booked is not an attended/missed"),
        ("proposed", ex.appointment_resource("proposed"), "not an attended/missed"),
        ("encounter-in-progress", ex.encounter("in-progress"), "not an attended/missed"),
        ("encounter-planned", ex.encounter("planned"), "not an attended/missed"),
    ]
    for name, resource, fragment in statuses:
        yield Malformed(
            f"fhir-status-{name}",
            FHIR,
            _dump(resource),
            "fhir_status",
            fragment,
            secrets=("done-ish",),
        )
    # ---- time
    times = [
        ("no-effective", _del(ex.hba1c_percent(), "effectiveDateTime"), "effective[x]: missing"),
        ("partial-month", ex.hba1c_percent(effective="2026-03"), "partial date"),
        ("partial-year", ex.hba1c_percent(effective="2026"), "partial date"),
        (
            "timing",
            _set(
                _del(ex.hba1c_percent(), "effectiveDateTime"),
                "effectiveTiming",
                {"event": ["2026-03-02T09:30:00Z"]},
            ),
            "effective[x]: missing",
        ),
        ("no-performed", _del(ex.procedure("722161008"), "performedDateTime"), "performed[x]"),
        (
            "appointment-no-start",
            _del(ex.appointment_resource("fulfilled"), "start"),
            "Appointment.start",
        ),
    ]
    for name, resource, fragment in times:
        yield Malformed(f"fhir-time-{name}", FHIR, _dump(resource), "fhir_time", fragment)
    # ---- not valid FHIR
    invalid = [
        ("status-number", _set(ex.hba1c_percent(), "status", 5), "status"),
        ("extra-element", _set(ex.hba1c_percent(), "patientName", "Jane Doe"), "unknown field"),
        ("no-code", _del(ex.hba1c_percent(), "code"), "Observation.code"),
        (
            "impossible-date",
            ex.hba1c_percent(effective="2026-02-30T10:00:00Z"),
            "effectiveDateTime",
        ),
        ("naive-datetime", ex.hba1c_percent(effective="2026-03-02T10:00:00"), "effectiveDateTime"),
        (
            "value-as-string",
            _set(ex.hba1c_percent(), "valueQuantity.value", "seven"),
            "valueQuantity.value",
        ),
        ("bundle-no-type", _del(ex.bundle(ex.hba1c_percent()), "type"), "Bundle.type"),
        (
            "bundle-entry-not-object",
            {"resourceType": "Bundle", "type": "collection", "entry": ["x"]},
            "has no resource",
        ),
        ("bad-clinic-header", ex.hba1c_percent(), "x-peerlink-clinic-id"),
    ]
    for name, resource, fragment in invalid:
        headers: tuple[tuple[str, bytes], ...] = ()
        if name == "bad-clinic-header":
            headers = (("x-peerlink-clinic-id", b"Clinic North; DROP"),)
        yield Malformed(
            f"fhir-invalid-{name}",
            FHIR,
            _dump(resource),
            "fhir_invalid",
            fragment,
            secrets=("Jane Doe", "seven"),
            headers=headers,
        )
    # ---- resources intake does not accept
    unsupported = [
        ("patient", {"resourceType": "Patient", "id": "x"}, "Patient is not accepted"),
        ("condition", {"resourceType": "Condition", "id": "c"}, "Condition is not accepted"),
        ("medication", {"resourceType": "MedicationRequest"}, "MedicationRequest"),
        ("no-type", {"id": "x", "status": "final"}, "resourceType: missing"),
        ("made-up-type", {"resourceType": "JaneDoeRecord"}, "not a FHIR R4 resource type"),
        (
            "bundle-only-context",
            ex.bundle({"resourceType": "Patient", "id": "x"}),
            "contains no Observation",
        ),
    ]
    for name, resource, fragment in unsupported:
        yield Malformed(
            f"fhir-unsupported-{name}",
            FHIR,
            _dump(resource),
            "fhir_unsupported_resource",
            fragment,
            secrets=("JaneDoeRecord",),
        )
    # ---- values outside what is physiologically possible
    absurd = [
        ("hba1c-60pct", ex.hba1c_percent(60), "HbA1c"),
        ("hba1c-250mmol", ex.hba1c_ifcc(250), "HbA1c"),
        ("glucose-5000", ex.glucose_mg(5000), "glucose"),
        ("glucose-0.2mmol", ex.glucose_mmol(0.2), "glucose"),
        ("bp-inverted", ex.blood_pressure(systolic=70, diastolic=90), "diastolic"),
        ("egfr-500", ex.egfr(500), "egfr.value"),
    ]
    for name, resource, fragment in absurd:
        yield Malformed(
            f"fhir-absurd-{name}",
            FHIR,
            _dump(resource),
            "fhir_invalid_result",
            fragment,
            secrets=("5000", "250"),
        )
    # ---- not JSON / not an object
    yield Malformed(
        "fhir-not-json",
        FHIR,
        b"<Observation xmlns='http://hl7.org/fhir'/>",
        "invalid_json",
        "not valid JSON",
    )
    yield Malformed("fhir-array", FHIR, b"[]", "not_object", "JSON object")
    yield Malformed(
        "fhir-latin1",
        FHIR,
        json.dumps(ex.hba1c_percent(), ensure_ascii=False)
        .replace("final", "fin\u00e1l")
        .encode("latin-1"),
        "not_utf8",
        "not UTF-8",
    )


def malformed_corpus() -> list[Malformed]:
    cases = [*_raw_cases(), *_fhir_cases()]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "corpus case names must be unique"
    return cases
