"""Raw submissions: every accepted type, derived ids, and coded rejections."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from schemas.events import parse_event
from services.intake.rejection import ReasonCode, Rejection
from services.intake.service import IntakeDomain
from services.intake.submission import ACCEPTED_TYPES, Accepted, content_digest, decode_json
from tests.unit.intake import examples as ex
from tests.unit.intake.corpus import RAW, malformed_corpus


def _accept(domain: IntakeDomain, submission: Any, **kw: Any) -> Accepted:
    outcome = domain.validator.from_object(submission, **kw)
    assert isinstance(outcome, Accepted), getattr(outcome, "reason", outcome)
    return outcome


def _reject(domain: IntakeDomain, raw: bytes) -> Rejection:
    outcome = domain.validator.from_bytes(raw)
    assert isinstance(outcome, Rejection)
    return outcome


@pytest.mark.parametrize("builder", ex.VALID_BUILDERS, ids=lambda b: b.__name__)
def test_every_submittable_type_is_accepted_and_round_trips(
    domain: IntakeDomain, builder: Any
) -> None:
    accepted = _accept(domain, builder(event_id="evt-1"))
    assert accepted.event.type in ACCEPTED_TYPES
    assert accepted.key == b"p-000123"
    assert accepted.event_id == "evt-1"
    assert not accepted.derived_id
    # The wire form is a valid event that parses back to the same normalised event.
    assert parse_event(accepted.value) == accepted.event


def test_bytes_and_object_paths_agree(domain: IntakeDomain) -> None:
    submission = ex.contact(event_id="evt-2")
    from_bytes = domain.validator.from_bytes(orjson.dumps(submission))
    assert isinstance(from_bytes, Accepted)
    assert from_bytes.value == _accept(domain, submission).value


def test_missing_id_is_derived_deterministically(domain: IntakeDomain) -> None:
    first = _accept(domain, ex.contact())
    again = _accept(domain, ex.contact())
    assert first.derived_id
    assert first.event_id == again.event_id
    assert first.value == again.value
    # A null id is the same as no id.
    assert _accept(domain, {**ex.contact(), "id": None}).event_id == first.event_id


def test_derived_id_changes_with_content_but_not_with_notation(domain: IntakeDomain) -> None:
    base = _accept(domain, ex.contact(duration=30)).event_id
    assert _accept(domain, ex.contact(duration=31)).event_id != base
    assert _accept(domain, ex.contact(duration=30, participant="p-000999")).event_id != base
    # Same instant written with another offset and key order: same canonical content.
    shifted = ex.contact(duration=30, time="2026-03-02T10:30:00+01:00")
    reordered = dict(reversed(list(shifted.items())))
    assert _accept(domain, reordered).event_id == base


def test_optional_envelope_attributes_default(domain: IntakeDomain) -> None:
    event = _accept(domain, ex.consent(event_id="evt-3")).event
    assert event.specversion == "1.0"
    assert event.schema_version == "1"


def test_default_source_is_used_only_when_absent(domain: IntakeDomain) -> None:
    submission = ex.consent(event_id="evt-4")
    del submission["source"]
    source = "peerlink://programme/prog-chw-east"
    assert _accept(domain, submission, default_source=source).event.source == source
    # Without a default (the Kafka path) the source is required.
    rejection = domain.validator.from_object(submission)
    assert isinstance(rejection, Rejection)
    assert [e.loc for e in rejection.errors] == ["source"]


@pytest.mark.parametrize(
    ("raw", "code", "text"),
    [
        (b"", ReasonCode.EMPTY, "no value"),
        (b"{", ReasonCode.INVALID_JSON, "line 1 column 2"),
        (b"\xff\xfe{}", ReasonCode.NOT_UTF8, "offset 0"),
        (b"[]", ReasonCode.NOT_OBJECT, "not an array"),
        (b'"text"', ReasonCode.NOT_OBJECT, "not a string"),
        (b'{"type": "peerlink.clock.tick"}', ReasonCode.TYPE_NOT_ACCEPTED, "may be submitted"),
        (b'{"type": "nope"}', ReasonCode.TYPE_NOT_ACCEPTED, "unknown event type"),
        (b'{"type": ["x"]}', ReasonCode.TYPE_NOT_ACCEPTED, "unknown event type"),
    ],
)
def test_structural_problems_have_their_own_codes(
    domain: IntakeDomain, raw: bytes, code: ReasonCode, text: str
) -> None:
    rejection = _reject(domain, raw)
    assert rejection.code is code
    assert text in rejection.detail


def test_size_limit_is_checked_before_parsing(domain: IntakeDomain) -> None:
    limit = domain.settings.max_message_bytes
    rejection = _reject(domain, b" " * (limit + 1))
    assert rejection.code is ReasonCode.TOO_LARGE
    assert str(limit) in rejection.detail


def test_validation_errors_are_field_level_and_name_the_location(domain: IntakeDomain) -> None:
    submission = ex.contact()
    submission["data"]["duration_min"] = "long"
    del submission["data"]["outcome"]
    rejection = _reject(domain, json.dumps(submission).encode())
    assert rejection.code is ReasonCode.INVALID_EVENT
    locs = {e.loc: e.type for e in rejection.errors}
    assert locs == {"data.duration_min": "int_parsing", "data.outcome": "missing"}
    assert rejection.error_class == "ValidationError"
    assert "long" not in rejection.reason


def test_many_errors_are_summarised(domain: IntakeDomain) -> None:
    submission = ex.contact()
    for name in ("channel", "direction", "outcome", "support_model", "programme_id"):
        del submission["data"][name]
    rejection = _reject(domain, json.dumps(submission).encode())
    assert "(+2 more)" in rejection.reason
    assert len(rejection.errors) == 5


def test_the_digest_fingerprints_the_wire_form(domain: IntakeDomain) -> None:
    first = _accept(domain, ex.contact(event_id="evt-5"))
    assert first.digest == content_digest(first.value)
    assert _accept(domain, ex.contact(event_id="evt-5")).digest == first.digest
    assert _accept(domain, ex.contact(event_id="evt-5", duration=31)).digest != first.digest


def _late_result() -> dict[str, Any]:
    submission = ex.result(event_id="e-effective")
    submission["data"]["measurement"]["effective_at"] = "9999-12-31T23:00:00-05:00"
    return submission


@pytest.mark.parametrize(
    ("submission", "where"),
    [
        (ex.consent(event_id="e-late", time="9999-12-31T23:59:59-14:00"), "time"),
        (ex.consent(event_id="e-early", time="0001-01-01T00:30:00+01:00"), "time"),
        (_late_result(), "data.measurement.effective_at"),
    ],
    ids=["after-9999", "before-year-1", "nested"],
)
def test_a_time_that_cannot_be_expressed_in_utc_is_rejected_naming_the_field(
    domain: IntakeDomain, submission: dict[str, Any], where: str
) -> None:
    rejection = _reject(domain, json.dumps(submission).encode())
    assert rejection.code is ReasonCode.INVALID_EVENT
    assert rejection.detail == f"{where}: cannot be expressed in UTC (outside years 1-9999)"


# --------------------------------------------------------------------------- one-pass bytes path


def _general_path(domain: IntakeDomain, raw: bytes) -> Accepted | Rejection:
    """What the Kafka path gave before its one-pass parse: JSON first, then the dict."""
    parsed = decode_json(raw, max_bytes=domain.validator.max_message_bytes)
    if isinstance(parsed, Rejection):
        return parsed
    return domain.validator.from_object(parsed)


def _bytes_inputs() -> list[bytes]:
    valid = [b(event_id=f"evt-{i}") for i, b in enumerate(ex.VALID_BUILDERS)]
    valid += [b() for b in ex.VALID_BUILDERS]  # no id: derived
    with_null_id = ex.contact()
    with_null_id["id"] = None
    numbers = []
    for literal in ("NaN", "Infinity", "-Infinity", "1e400", "123456789012345678901234567890"):
        raw = json.dumps(ex.result(event_id="evt-n")).encode()
        numbers.append(raw.replace(b'"value": 7.8', b'"value": ' + literal.encode()))
        numbers.append(raw.replace(b'"value": 7.8', b'"value": 62, "value": ' + literal.encode()))
    # original.value has no range of its own: only finiteness keeps a NaN out of it.
    with_original = ex.result(event_id="evt-o", value=7.0)
    with_original["data"]["measurement"]["original"] = {"value": 53, "unit": "mmol/mol"}
    original = json.dumps(with_original).encode()
    numbers += [
        original.replace(b'"value": 53', b'"value": ' + literal.encode())
        for literal in ("NaN", "Infinity", "-Infinity", "1e400")
    ]
    duplicate_keys = json.dumps(ex.contact(event_id="evt-d")).encode()[:-1] + b', "id": "evt-e"}'
    cases = [case.value for case in malformed_corpus() if case.input == RAW and case.value]
    return (
        [json.dumps(s).encode() for s in [*valid, with_null_id]]
        + numbers
        + [
            duplicate_keys,
            *cases,
        ]
    )


def test_the_one_pass_bytes_path_decides_exactly_as_the_general_path(
    domain: IntakeDomain,
) -> None:
    inputs = _bytes_inputs()
    accepted = 0
    for raw in inputs:
        fast, general = domain.validator.from_bytes(raw), _general_path(domain, raw)
        if isinstance(general, Rejection):
            assert isinstance(fast, Rejection), raw
            assert (fast.code, fast.reason, fast.errors) == (
                general.code,
                general.reason,
                general.errors,
            )
        else:
            assert fast == general, raw  # the same bytes, id, key and fingerprint
            accepted += 1
    assert accepted >= 2 * len(ex.VALID_BUILDERS)  # both kinds of input were exercised


def test_valid_bytes_are_validated_without_a_separate_json_parse(
    domain: IntakeDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(raw: bytes) -> Any:
        raise AssertionError("the general path parsed a valid submission")

    monkeypatch.setattr(orjson, "loads", refuse)
    for builder in ex.VALID_BUILDERS:
        for submission in (builder(), builder(event_id="evt-1")):
            assert isinstance(
                domain.validator.from_bytes(json.dumps(submission).encode()), Accepted
            )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_not_json_and_are_rejected_as_such(
    domain: IntakeDomain, literal: str
) -> None:
    submission = ex.result(event_id="evt-n", value=7.0)
    submission["data"]["measurement"]["original"] = {"value": 53, "unit": "mmol/mol"}
    valid = json.dumps(submission).encode()
    assert isinstance(domain.validator.from_bytes(valid), Accepted)
    raw = valid.replace(b'"value": 53', b'"value": ' + literal.encode())
    assert raw != valid
    assert _reject(domain, raw).code is ReasonCode.INVALID_JSON
