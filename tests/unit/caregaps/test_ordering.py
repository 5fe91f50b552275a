"""The deterministic merge of events and ticks (services.caregaps.ordering)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.caregaps.ordering import TickAligner


def labels(aligner: TickAligner[str], position: int, now: float = 0.0) -> list[str]:
    return [m.record for m in aligner.drain(position, now)]


def test_a_tick_goes_after_every_event_below_its_offset_and_before_the_rest() -> None:
    """Tick with events_end_offset 3: events 0-2, the tick, then 3-4 wait for the next tick."""
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0)
    a.add_tick(0, "T1", 3)
    a.add_events([(i, f"e{i}") for i in range(5)], now=0.0, position=5)
    assert labels(a, 5) == ["e0", "e1", "e2", "T1"]
    assert a.commit_offsets(5, 1) == (3, 1)  # e3 is held: commit stops before it
    a.add_tick(1, "T2", 5)
    assert labels(a, 5) == ["e3", "e4", "T2"]
    assert a.commit_offsets(5, 2) == (5, 2)


def test_a_tick_waits_for_events_below_its_offset_that_are_not_fetched_yet() -> None:
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0)
    a.add_tick(0, "T1", 2)
    a.add_events([(0, "e0")], now=0.0, position=1)
    assert labels(a, 1) == ["e0"]
    a.add_events([(1, "e1")], now=0.0, position=2)
    assert labels(a, 2) == ["e1", "T1"]


def test_transaction_markers_below_the_offset_do_not_block_the_tick() -> None:
    """Events at 0 and 2; offset 1 is a commit marker. The consumer position (3) is past it."""
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0)
    a.add_tick(0, "T1", 3)
    a.add_events([(0, "e0"), (2, "e2")], now=0.0, position=3)
    assert labels(a, 3) == ["e0", "e2", "T1"]
    a.add_tick(1, "T2", 4)  # a marker at 3; nothing buffered, position 4 after the next fetch
    assert labels(a, 3) == []
    assert labels(a, 4) == ["T2"]


def test_events_are_held_only_once_ticks_carry_offsets_and_released_when_the_clock_stops() -> None:
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0, max_hold_s=30)
    a.add_events([(0, "e0")], now=0.0, position=1)
    assert labels(a, 1) == ["e0"]  # no aligned tick seen yet: arrival order
    a.add_tick(0, "T1", 1)
    a.add_events([(1, "e1")], now=10.0, position=2)
    assert labels(a, 2, now=10.0) == ["T1"]
    assert labels(a, 2, now=39.0) == []  # held for the next tick
    assert labels(a, 2, now=40.0) == ["e1"]  # the clock stopped: released after 30 s
    assert a.released_unaligned == 1


def test_a_tick_without_offset_goes_after_everything_fetched_with_it() -> None:
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0)
    a.add_events([(0, "e0"), (1, "e1")], now=0.0, position=2)
    a.add_tick(0, "T1", None)
    assert labels(a, 2) == ["e0", "e1", "T1"]
    assert a.aligned is False


@settings(max_examples=200, deadline=None)
@given(
    events=st.integers(0, 30),
    tick_offsets=st.lists(st.integers(0, 30), max_size=6).map(sorted),
    seed=st.integers(0, 10_000),
)
def test_the_merged_order_does_not_depend_on_how_fetches_split_the_logs(
    events: int, tick_offsets: list[int], seed: int
) -> None:
    """Whatever the fetch sizes and interleaving of the two partitions, the output order is
    the same: each tick after the events below its offset (the replay guarantee)."""
    tick_offsets = [min(o, events) for o in tick_offsets]
    expected: list[str] = []
    e = 0
    for i, end in enumerate(tick_offsets):
        while e < end:
            expected.append(f"e{e}")
            e += 1
        expected.append(f"T{i}")
    rng = random.Random(seed)
    # Aligned from the start, as after a restart that restored the partition's marker.
    a: TickAligner[str] = TickAligner(events_next=0, clock_next=0, aligned=True)
    got: list[str] = []
    next_event, next_tick, position = 0, 0, 0
    while next_event < events or next_tick < len(tick_offsets):
        if next_event < events and (next_tick == len(tick_offsets) or rng.random() < 0.5):
            n = rng.randint(1, 4)
            batch = [(i, f"e{i}") for i in range(next_event, min(events, next_event + n))]
            next_event += len(batch)
            position = next_event
            a.add_events(batch, now=0.0, position=position)
        else:
            a.add_tick(next_tick, f"T{next_tick}", tick_offsets[next_tick])
            next_tick += 1
        got.extend(labels(a, position))
    assert got == expected[: len(got)]
    assert got == expected  # events after the last tick stay held
