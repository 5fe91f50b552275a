"""Duplicate window (bounded, position-aware) and the invalid-share breaker."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.breaker import BreakerPolicy, InvalidShareBreaker
from services.intake.dedup import Admission, DuplicateFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_same_id_at_another_position_is_a_duplicate() -> None:
    dedup = DuplicateFilter(window_s=60, max_entries=10, clock=Clock())
    assert dedup.admit("e-1", ("raw", 0, 5), b"d") is Admission.NEW
    assert dedup.admit("e-1", ("raw", 0, 9), b"d") is Admission.DUPLICATE
    assert dedup.admit("e-1", ("raw", 1, 5), b"d") is Admission.DUPLICATE


def test_redelivery_of_the_same_record_is_not_a_duplicate() -> None:
    dedup = DuplicateFilter(window_s=60, max_entries=10, clock=Clock())
    assert dedup.admit("e-1", ("raw", 0, 5), b"d") is Admission.NEW
    # The processor rewound (failed send, breaker pause): the same occurrence again.
    assert dedup.admit("e-1", ("raw", 0, 5), b"d") is Admission.NEW


def test_ids_expire_after_the_window() -> None:
    clock = Clock()
    dedup = DuplicateFilter(window_s=60, max_entries=10, clock=clock)
    dedup.remember("e-1")
    clock.now += 59
    assert dedup.is_duplicate("e-1")
    clock.now += 2
    assert not dedup.is_duplicate("e-1")
    assert len(dedup) == 0


def test_memory_is_bounded_by_evicting_the_oldest() -> None:
    dedup = DuplicateFilter(window_s=3600, max_entries=3, clock=Clock())
    for i in range(5):
        dedup.remember(f"e-{i}")
    assert len(dedup) == 3
    assert dedup.evicted_early == 2
    assert not dedup.is_duplicate("e-0")
    assert dedup.is_duplicate("e-4")


def test_http_check_does_not_remember() -> None:
    dedup = DuplicateFilter(window_s=60, max_entries=10, clock=Clock())
    assert not dedup.is_duplicate("e-1")
    assert not dedup.is_duplicate("e-1")
    dedup.remember("e-1")
    assert dedup.is_duplicate("e-1")


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="window_s"):
        DuplicateFilter(window_s=0, max_entries=1)
    with pytest.raises(ValueError, match="min_samples"):
        BreakerPolicy(min_samples=10, window=5)
    with pytest.raises(ValueError, match="max_invalid_ratio"):
        BreakerPolicy(max_invalid_ratio=0)


def _breaker(clock: Clock | None = None, **policy: float) -> InvalidShareBreaker:
    values = {
        "window": 10,
        "min_samples": 5,
        "max_invalid_ratio": 0.5,
        "pause_s": 1.0,
        "window_s": 60.0,
        **policy,
    }
    return InvalidShareBreaker(BreakerPolicy(**values), clock=clock or Clock())  # type: ignore[arg-type]


def test_breaker_needs_min_samples_and_a_share_above_the_threshold() -> None:
    breaker = _breaker()
    for _ in range(4):
        breaker.record(True)
    assert not breaker.should_trip()  # too few samples
    breaker.record(False)
    assert breaker.should_trip()  # 4/5 = 80 %
    breaker = _breaker()
    for invalid in (True, False) * 5:
        breaker.record(invalid)
    assert breaker.invalid_share == 0.5
    assert not breaker.should_trip()  # exactly at the threshold is fine


def test_breaker_window_slides_by_count_and_age() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(10):
        breaker.record(True)
    for _ in range(10):
        breaker.record(False)
    assert breaker.samples == 10
    assert breaker.invalid_share == 0.0
    for _ in range(10):
        breaker.record(True)
    clock.now += 61
    assert breaker.samples == 0
    assert not breaker.should_trip()


def test_trip_reports_and_restarts_empty() -> None:
    breaker = _breaker()
    for _ in range(6):
        breaker.record(True)
    reason = breaker.trip()
    assert reason == "invalid share 100% of the last 6 records exceeds 50%"
    assert breaker.trips == 1
    assert breaker.samples == 0


def test_same_id_with_other_content_conflicts_and_same_content_does_not() -> None:
    """An id names one event: a resend with identical bytes is a duplicate; other bytes
    under the same id conflict (dead-lettered by the caller), until the window ends."""
    now = [0.0]
    dedup = DuplicateFilter(window_s=10, max_entries=10, clock=lambda: now[0])
    dedup.remember("evt-1", ("raw", 0, 1), b"digest-a")
    assert dedup.conflicts("evt-1", b"digest-a") is False
    assert dedup.conflicts("evt-1", b"digest-b") is True
    assert dedup.conflicts("evt-2", b"digest-b") is False
    now[0] = 11.0
    assert dedup.conflicts("evt-1", b"digest-b") is False


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["e-1", "e-2", "e-3"]),
        st.sampled_from([("raw", 0, 1), ("raw", 0, 2), ("raw", 1, 1)]),
        st.sampled_from([b"a", b"b"]),
        st.sampled_from([0.0, 0.5, 7.0]),  # clock advance before the call
    ),
    max_size=30,
)


def _window(dedup: DuplicateFilter) -> list[tuple[str, float, object, object]]:
    """Every remembered occurrence, oldest first: (id, time, position, digest)."""
    return [
        (event_id, when, dedup._positions[event_id], dedup._digests[event_id])
        for event_id, when in dedup._seen.items()
    ]


def _check_and_remember(
    dedup: DuplicateFilter, event_id: str, position: tuple[str, int, int], digest: bytes
) -> bool:
    """The reference: the window's primitives one call at a time."""
    if dedup.is_duplicate(event_id, position):
        return True
    if event_id not in dedup._seen:
        dedup.remember(event_id, position, digest)
    return False


@given(_OPS, st.integers(1, 3))
def test_admit_decides_like_conflicts_then_check_and_remember(
    ops: list[tuple[str, tuple[str, int, int], bytes, float]], max_entries: int
) -> None:
    clock = Clock()
    one = DuplicateFilter(window_s=10, max_entries=max_entries, clock=clock)
    two = DuplicateFilter(window_s=10, max_entries=max_entries, clock=clock)
    for event_id, position, digest, advance in ops:
        clock.now += advance
        if two.conflicts(event_id, digest):
            expected = Admission.CONFLICT
        elif _check_and_remember(two, event_id, position, digest):
            expected = Admission.DUPLICATE
        else:
            expected = Admission.NEW
        assert one.admit(event_id, position, digest) is expected
        assert _window(one) == _window(two)
        assert one.evicted_early == two.evicted_early


@given(st.lists(st.booleans(), max_size=40), st.lists(st.booleans(), max_size=40))
def test_record_all_counts_like_record(before: list[bool], batch: list[bool]) -> None:
    one, two = _breaker(), _breaker()
    for invalid in before:
        one.record(invalid)
        two.record(invalid)
    one.record_all(batch)
    for invalid in batch:
        two.record(invalid)
    assert (one.samples, one.invalid_share) == (two.samples, two.invalid_share)
    assert one.should_trip() == two.should_trip()


class _ReferenceWindow:
    """The breaker's count as a Python step per outcome (what record_all does in bulk)."""

    def __init__(self, size: int) -> None:
        self.outcomes: list[bool] = []
        self.invalid = 0
        self.size = size

    def record(self, invalid: bool) -> None:
        if len(self.outcomes) == self.size:
            self.invalid -= self.outcomes.pop(0)
        self.outcomes.append(invalid)
        self.invalid += invalid


@given(
    st.integers(1, 12),
    st.lists(st.lists(st.booleans(), max_size=30), max_size=6),
    st.booleans(),
)
def test_record_all_in_bulk_keeps_the_window_of_one_step_per_outcome(
    size: int, batches: list[list[bool]], as_generator: bool
) -> None:
    breaker = _breaker(window=size, min_samples=1)
    reference = _ReferenceWindow(size)
    for batch in batches:
        breaker.record_all((invalid for invalid in batch) if as_generator else batch)
        for invalid in batch:
            reference.record(invalid)
        assert [invalid for _, invalid in breaker._outcomes] == reference.outcomes
        assert breaker._invalid == reference.invalid


class _ReferenceAdmit:
    """admit() as one full sweep of the window's front per call (no remembered front time)."""

    def __init__(self, dedup: DuplicateFilter) -> None:
        self.dedup = dedup

    def admit(self, event_id: str, position: tuple[str, int, int], digest: bytes) -> Admission:
        dedup = self.dedup
        now = dedup._clock()
        dedup._expire(now)  # a full sweep: the test forgets the front time before each call
        entry = {row[0]: row[1:] for row in _window(dedup)}.get(event_id)
        if entry is None:
            dedup._seen[event_id] = now
            dedup._positions[event_id] = position
            dedup._digests[event_id] = digest
            if len(dedup._seen) > dedup.max_entries:
                dedup._evict_oldest()
                dedup.evicted_early += 1
            return Admission.NEW
        _, seen_position, seen_digest = entry
        if seen_digest is not None and seen_digest != digest:
            return Admission.CONFLICT
        if seen_position != position:
            return Admission.DUPLICATE
        return Admission.NEW


_MIXED_OPS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "admit", "admit", "remember", "is_duplicate", "conflicts"]),
        st.sampled_from(["e-1", "e-2", "e-3", "e-4"]),
        st.sampled_from([("raw", 0, 1), ("raw", 0, 2)]),
        st.sampled_from([b"a", b"b"]),
        st.sampled_from([0.0, 0.5, 4.0, 11.0, -3.0]),  # a clock that may even step back
    ),
    max_size=40,
)


@settings(max_examples=1000)
@given(_MIXED_OPS, st.integers(1, 3))
def test_admit_skips_the_front_only_when_a_sweep_would_find_nothing(
    ops: list[tuple[str, str, tuple[str, int, int], bytes, float]], max_entries: int
) -> None:
    clock = Clock()
    one = DuplicateFilter(window_s=10, max_entries=max_entries, clock=clock)
    two = DuplicateFilter(window_s=10, max_entries=max_entries, clock=clock)
    reference = _ReferenceAdmit(two)
    for op, event_id, position, digest, advance in ops:
        clock.now += advance
        two._front_floor = -math.inf  # the reference never skips a sweep
        if op == "admit":
            assert one.admit(event_id, position, digest) is reference.admit(
                event_id, position, digest
            )
        elif op == "remember":
            one.remember(event_id, position, digest)
            two.remember(event_id, position, digest)
        elif op == "is_duplicate":
            assert one.is_duplicate(event_id, position) == two.is_duplicate(event_id, position)
        else:
            assert one.conflicts(event_id, digest) == two.conflicts(event_id, digest)
        assert _window(one) == _window(two)
        assert one.evicted_early == two.evicted_early
