"""The consent gate: nothing reaches a clinic without consent to share with that clinic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.vocabulary import GapCode
from services.fhir_publisher import ClinicProfile, Mapper, Withheld
from services.fhir_publisher.examples import T0, make_change, make_gap, opened


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"clinic_id": None, "consent_clinic": None}, Withheld.NO_CLINIC),
        ({"consent": False, "consent_since": None}, Withheld.NO_CONSENT),
        ({"consent": False}, Withheld.CONSENT_WITHDRAWN),
        ({"consent_clinic": "clinic-south"}, Withheld.CONSENT_OTHER_CLINIC),
        ({"consent_clinic": None}, Withheld.CONSENT_OTHER_CLINIC),
    ],
)
def test_withheld_reasons(mapper: Mapper, kwargs: dict[str, object], reason: Withheld) -> None:
    flag = make_gap(GapCode.REDFLAG_RF11)
    change = make_change(open_gaps=[flag], delta=[opened(flag)], **kwargs)  # type: ignore[arg-type]
    result = mapper.map_change(change, "p-1", ClinicProfile(detected_issue=True))
    assert result.withheld is reason
    assert result.resources == ()


def test_granted_withdrawn_regranted_follows_the_log(mapper: Mapper) -> None:
    """Publication follows the consent state at each position of the participant's log."""
    a1c = make_gap(GapCode.A1C_DUE)
    flag = make_gap(GapCode.REDFLAG_RF2, opened_at=T0 + timedelta(days=2))
    log = [
        make_change(sequence=1, open_gaps=[a1c], delta=[opened(a1c)]),
        make_change(sequence=2, open_gaps=[a1c], consent=False, as_of=T0 + timedelta(days=1)),
        # A red flag while withdrawn: stays on the peer side.
        make_change(
            sequence=3,
            open_gaps=[a1c, flag],
            delta=[opened(flag)],
            consent=False,
            as_of=T0 + timedelta(days=2),
        ),
        make_change(sequence=4, open_gaps=[a1c, flag], as_of=T0 + timedelta(days=3)),
    ]
    results = [mapper.map_change(change, "p-1", ClinicProfile()) for change in log]
    assert [r.withheld for r in results] == [
        None,
        Withheld.CONSENT_WITHDRAWN,
        Withheld.CONSENT_WITHDRAWN,
        None,
    ]
    published = [[(x.resource_type, x.version_id) for x in r.resources] for r in results]
    assert published == [
        [("CarePlan", "1"), ("Communication", "1")],
        [],
        [],
        [("CarePlan", "4")],  # resumes with the current plan, no back-filled alerts
    ]
    # The plan after re-grant shows the red flag that opened while withdrawn.
    assert "below 54" in results[3].resources[0].body["text"]["div"]
