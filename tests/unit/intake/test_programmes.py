"""The programme registry: registered programmes, allowed models, consistent naming."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.events import EVENT_ADAPTER
from schemas.vocabulary import SupportModel
from services.intake.programmes import ProgrammeRegistry, programme_source
from services.intake.rejection import ReasonCode
from tests.unit.intake import examples as ex

REGISTRY = ProgrammeRegistry.from_settings(
    {
        ex.PROGRAMME: (SupportModel.COMMUNITY_HEALTH_WORKER,),
        ex.OTHER_PROGRAMME: (SupportModel.TELEPHONE_PEER_PARTNER,),
    }
)


def _event(submission: dict[str, Any]) -> dict[str, Any]:
    """The document of a validated event (what the registry checks)."""
    return EVENT_ADAPTER.validate_python({**submission, "id": "e-1"}).model_dump(exclude_none=True)


def test_registered_programme_and_model_pass() -> None:
    assert REGISTRY.check(_event(ex.contact())) is None
    assert REGISTRY.programme_of(_event(ex.contact())) == ex.PROGRAMME


def test_events_without_a_programme_are_attributed_by_source() -> None:
    consent = _event(ex.consent(source=programme_source(ex.OTHER_PROGRAMME) + "/app-ios"))
    assert REGISTRY.check(consent) is None
    assert REGISTRY.programme_of(consent) == ex.OTHER_PROGRAMME
    platform = _event(ex.consent(source="peerlink://chw-platform/east"))
    assert REGISTRY.check(platform) is None
    assert REGISTRY.programme_of(platform) is None


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ({"data.programme_id": "prog-x"}, ReasonCode.UNKNOWN_PROGRAMME, "data.programme_id"),
        ({"source": "peerlink://programme/prog-x"}, ReasonCode.UNKNOWN_PROGRAMME, "source"),
        (
            {"source": programme_source(ex.OTHER_PROGRAMME)},
            ReasonCode.PROGRAMME_MISMATCH,
            "data.programme_id",
        ),
        ({"data.support_model": "peer_coach"}, ReasonCode.MODEL_NOT_ALLOWED, "data.support_model"),
    ],
)
def test_registry_rejections(change: dict[str, str], code: ReasonCode, where: str) -> None:
    submission = ex.contact()
    submission["data"]["detail"] = None
    for path, value in change.items():
        target = submission
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    rejection = REGISTRY.check(_event(submission))
    assert rejection is not None
    assert rejection.code is code
    assert rejection.detail.startswith(where)
    assert "prog-x" not in rejection.reason


def test_peer_measured_result_model_is_checked_against_the_source_programme() -> None:
    result = ex.result(source=programme_source(ex.OTHER_PROGRAMME))
    del result["data"]["programme_id"]
    rejection = REGISTRY.check(_event(result))
    assert rejection is not None
    assert rejection.code is ReasonCode.MODEL_NOT_ALLOWED


def test_empty_registry_rejects_every_programme() -> None:
    rejection = ProgrammeRegistry().check(_event(ex.contact()))
    assert rejection is not None
    assert rejection.code is ReasonCode.UNKNOWN_PROGRAMME
