"""A deterministic merge of one partition of events with the same partition of clock ticks.

Two topics are consumed together, and what a consumer fetches first from each depends on
timing, so "process in arrival order" would make the output depend on timing too: a tick
that opens an overdue gap before or after the result that makes it unnecessary. Each tick
therefore names its place in the events partition (``ClockTick.events_end_offset``, the end
offset when the tick was cut): it is applied after every event below that offset and before
any event at or above it. Events past the last tick wait for the next one (ticks come every
few seconds), so the merged order is a function of the two logs alone and a replay, a
restart after a crash or a rebalance reproduces it exactly.

Holding starts with the first tick that carries an offset (``aligned``); on assignment the
service looks at the latest tick of the partition, so a clock that places its ticks is known
before the first event is processed, after a restart or a rebalance too. A tick without an
offset (written by hand, or by a clock that does not place ticks) goes after every event
fetched so far, and then events are processed as they arrive. If the clock stops, held
events are released after ``max_hold_s`` so the pipeline keeps flowing; order is then
arrival order until ticks resume (counted in ``released_unaligned``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Merged", "TickAligner"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Merged(Generic[R]):
    """One input in merged order: an event record, or a tick with its parsed payload."""

    is_tick: bool
    record: R
    offset: int


class TickAligner(Generic[R]):
    """Buffers records of one task and yields them in the deterministic merged order."""

    def __init__(
        self,
        *,
        events_next: int,
        clock_next: int,
        hold_for_clock: bool = True,
        max_hold_s: float = 30.0,
        aligned: bool = False,
    ) -> None:
        self._events: deque[tuple[int, R, float]] = deque()
        self._ticks: deque[tuple[int, R, int]] = deque()
        #: Next offsets not yet handed out (the commit point when nothing is buffered).
        self.events_next = events_next
        self.clock_next = clock_next
        self.hold_for_clock = hold_for_clock
        self.max_hold_s = max_hold_s
        #: Ticks of this partition carry offsets: events wait for the tick that places them.
        self.aligned = aligned
        self.released_unaligned = 0
        self._fetched = events_next

    # ------------------------------------------------------------------------- input

    def add_events(self, records: list[tuple[int, R]], now: float, position: int) -> None:
        """Events fetched by one poll; ``position`` is the consumer's next fetch offset."""
        for offset, record in records:
            self._events.append((offset, record, now))
        self._fetched = max(self._fetched, position)

    def add_tick(self, offset: int, record: R, events_end_offset: int | None) -> None:
        """A tick; without an offset it goes after every event fetched so far."""
        if events_end_offset is None:
            events_end_offset = self._fetched
        else:
            self.aligned = True
        self._ticks.append((offset, record, events_end_offset))

    # ------------------------------------------------------------------------ output

    @property
    def buffered_events(self) -> int:
        return len(self._events)

    @property
    def pending(self) -> bool:
        """Whether anything is buffered (a later call may release it)."""
        return bool(self._events or self._ticks)

    def commit_offsets(self, events_position: int, clock_position: int) -> tuple[int, int]:
        """Offsets safe to commit: the first record not yet handed out, per topic.

        ``*_position`` are the consumer positions, used when nothing is buffered (they may be
        past the last record because of transaction markers).
        """
        events = self._events[0][0] if self._events else max(self.events_next, events_position)
        clock = self._ticks[0][0] if self._ticks else max(self.clock_next, clock_position)
        return events, clock

    def drain(self, events_position: int, now: float) -> Iterator[Merged[R]]:
        """Yield every input whose place in the merged order is known.

        ``events_position`` is the consumer's next fetch offset of the events partition: an
        empty buffer at or past a tick's offset means every event below it was handed out
        (records in between were transaction markers or aborted).
        """
        while True:
            position = (
                self._events[0][0] if self._events else max(self.events_next, events_position)
            )
            if self._ticks:
                offset, record, end = self._ticks[0]
                if position >= end:
                    self._ticks.popleft()
                    self.clock_next = offset + 1
                    yield Merged(True, record, offset)
                    continue
                if self._events:  # the head is below the tick's offset
                    yield self._pop_event()
                    continue
                return  # events below the tick's offset have not been fetched yet
            if not self._events:
                return
            if self.hold_for_clock and self.aligned:
                if now - self._events[0][2] < self.max_hold_s:
                    return  # wait for the tick that places these events
                self.released_unaligned += 1
            yield self._pop_event()

    def _pop_event(self) -> Merged[R]:
        offset, record, _ = self._events.popleft()
        self.events_next = offset + 1
        return Merged(False, record, offset)
