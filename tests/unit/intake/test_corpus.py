"""Every malformed submission of the corpus is rejected with a reason naming its problem."""

from __future__ import annotations

import pytest

from services.intake.fhir_inbound import CLINIC_ID_HEADER
from services.intake.rejection import Rejection
from services.intake.service import IntakeDomain
from tests.unit.intake.corpus import RAW, Malformed, malformed_corpus

CORPUS = malformed_corpus()


def _outcome(domain: IntakeDomain, case: Malformed) -> tuple[Rejection | None, int]:
    if case.input == RAW:
        result = domain.validator.from_bytes(case.value)
        if isinstance(result, Rejection):
            return result, 0
        return None, 1
    mapped = domain.fhir.map_record(
        case.value, clinic_header=dict(case.headers).get(CLINIC_ID_HEADER)
    )
    return mapped.rejection, len(mapped.accepted)


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(CORPUS) >= 300
    prefixes = {c.name.split("-")[0] for c in CORPUS}
    assert {
        "json",
        "enc",
        "missing",
        "extra",
        "type",
        "date",
        "unit",
        "absurd",
        "oversized",
        "inject",
        "programme",
        "fhir",
    } <= prefixes


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_malformed_submission_is_rejected_with_its_reason(
    domain: IntakeDomain, case: Malformed
) -> None:
    rejection, accepted = _outcome(domain, case)
    assert rejection is not None, "a malformed submission was accepted"
    assert accepted == 0
    assert rejection.code.value == case.code, rejection.reason
    assert rejection.reason.startswith(f"{case.code}: ")
    assert case.fragment in rejection.reason
    for secret in case.secrets:
        assert secret not in rejection.reason, "the reason quotes the input"
        assert all(secret not in e.msg and secret not in e.loc for e in rejection.errors)
