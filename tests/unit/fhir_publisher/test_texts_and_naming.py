"""Wording tables are total; identifiers and ids are stable."""

from __future__ import annotations

import uuid

from schemas.vocabulary import GapCode, Priority, SupportModel
from services.fhir_publisher import Naming
from services.fhir_publisher.examples import CANONICAL
from services.fhir_publisher.texts import GAP_TEXTS, PRIORITY_NOTES, SUPPORT_MODEL_LABELS


def test_every_gap_code_has_reviewed_wording() -> None:
    assert set(GAP_TEXTS) == set(GapCode)
    for text in GAP_TEXTS.values():
        for value in (text.label, text.observed, text.recommended):
            assert value.strip() == value
            assert value
            assert "<" not in value  # plain text; the narrative escapes anyway
        assert text.observed.endswith(".")


def test_every_priority_and_model_is_worded() -> None:
    assert set(PRIORITY_NOTES) == set(Priority)
    assert set(SUPPORT_MODEL_LABELS) == set(SupportModel)


def test_examples_cover_every_gap_code() -> None:
    assert set(CANONICAL) == set(GapCode)


def test_logical_ids_are_uuid5_of_the_business_identifier() -> None:
    naming = Naming()
    first = naming.logical_id("CarePlan", naming.careplan_system, "clinic-north/p-1")
    assert first == naming.logical_id("CarePlan", naming.careplan_system, "clinic-north/p-1")
    assert uuid.UUID(first).version == 5
    assert first != naming.logical_id("CarePlan", naming.careplan_system, "clinic-north/p-2")
    assert first != naming.logical_id("Communication", naming.careplan_system, "clinic-north/p-1")


def test_systems_live_under_the_configured_base() -> None:
    naming = Naming(base="https://fhir.example.org/peer/")
    assert naming.careplan_system == "https://fhir.example.org/peer/NamingSystem/peer-careplan"
    assert naming.gap_code_system == "https://fhir.example.org/peer/CodeSystem/care-gap"
    # The pinned namespace keeps ids stable across releases for the default base.
    assert (
        Naming().logical_id("CarePlan", Naming().careplan_system, "clinic-north/p-000123")
        == "0693d9bc-f76f-530b-b29d-5b6fc90c775d"
    )


def test_fast_uuid5_equals_the_standard_library() -> None:
    from services.fhir_publisher.naming import _ID_NAMESPACE

    for rtype, system, value in [("CarePlan", "s", "v"), ("Communication", "x", "clinic/ü/3")]:
        expected = str(uuid.uuid5(_ID_NAMESPACE, f"{rtype}|{system}|{value}"))
        assert Naming.logical_id(rtype, system, value) == expected
