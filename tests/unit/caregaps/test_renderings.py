"""GapRenderings: the per-participant cache of serialised gap records."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import orjson
import pytest

from services.caregaps.engine import RENDERED
from services.caregaps.policy import PolicySet
from services.caregaps.renderings import GapRenderings
from services.caregaps.service import CareGapsProcessor
from services.caregaps.settings import EngineSettings
from services.caregaps.state import ENCODED_GAPS
from services.runtime.settings import KafkaSettings


class Gap(NamedTuple):
    code: str
    status: str


def _json(key: str, gap: Gap) -> bytes:
    return orjson.dumps({"participant": key, "code": gap.code, "status": gap.status})


@pytest.fixture
def make_cache() -> Callable[..., GapRenderings[Gap]]:
    def make(participants: int = 16) -> GapRenderings[Gap]:
        return GapRenderings(_json, participants=participants)

    return make


def _serialised(cache: GapRenderings[Gap], key: str, *gaps: Gap) -> bytes:
    return orjson.dumps(cache.fragments(key, gaps))


def test_an_unchanged_record_is_serialised_once_and_embedded_as_is(
    make_cache: Callable[..., GapRenderings[Gap]],
) -> None:
    cache = make_cache()
    a, b = Gap("A", "open"), Gap("B", "open")
    first = _serialised(cache, "p-1", a, b)
    # An equal record (a state decoded again) counts as unchanged too.
    again = _serialised(cache, "p-1", Gap("A", "open"), b)
    assert first == again == orjson.dumps([orjson.loads(_json("p-1", g)) for g in (a, b)])
    assert cache.rendered == 2


def test_a_changed_record_is_serialised_again(
    make_cache: Callable[..., GapRenderings[Gap]],
) -> None:
    cache = make_cache()
    _serialised(cache, "p-1", Gap("A", "open"))
    assert _serialised(cache, "p-1", Gap("A", "closed")) == orjson.dumps(
        [orjson.loads(_json("p-1", Gap("A", "closed")))]
    )
    assert cache.rendered == 2


def test_participants_do_not_share_renderings(
    make_cache: Callable[..., GapRenderings[Gap]],
) -> None:
    cache = make_cache()
    gap = Gap("A", "open")
    assert _serialised(cache, "p-1", gap) != _serialised(cache, "p-2", gap)
    assert cache.rendered == 2


def test_the_least_recently_used_participant_is_forgotten_first(
    make_cache: Callable[..., GapRenderings[Gap]],
) -> None:
    cache = make_cache(participants=3)
    for key in ("p-a", "p-b", "p-c", "p-a", "p-d"):
        _serialised(cache, key, Gap("A", "open"))
    assert cache.keys() == ["p-c", "p-a", "p-d"]
    assert len(cache) == 3
    _serialised(cache, "p-b", Gap("A", "open"))  # forgotten: serialised again
    assert cache.rendered == 5


def test_the_engine_sizes_both_process_wide_caches_from_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PEERLINK_CAREGAPS_RENDERING_CACHE_PARTICIPANTS", "50000")
    before = (RENDERED.participants, ENCODED_GAPS.participants)
    try:
        CareGapsProcessor(kafka=KafkaSettings(), settings=EngineSettings(), policy=PolicySet())
        assert (RENDERED.participants, ENCODED_GAPS.participants) == (50_000, 50_000)
    finally:
        RENDERED.participants, ENCODED_GAPS.participants = before
