"""Duplicate suppression by event id within a time window, in bounded memory.

Entries live in insertion order; those older than ``window_s`` are evicted from the front and,
past ``max_entries``, so is the oldest. Each entry remembers *where* the event was first seen
(topic, partition, offset): when the processor re-delivers the same record (a produce failed,
or the breaker rewound the batch) it is the same occurrence, not a duplicate, and must be
produced again, otherwise a retry would lose it. A different position with the same id is a
duplicate and is dropped, unless its content differs: then it *conflicts* with the first
(same id, other event) and the caller dead-letters it instead of hiding it.

The window is per process: after a restart or a rebalance an earlier id may pass again, which
is safe because downstream consumers de-duplicate by the same deterministic id.

The window holds up to ``max_entries`` occurrences for minutes, so it keeps no container per
occurrence: time, position and fingerprint live in three dicts keyed by the id. A tuple per
entry is an object the cyclic collector must examine, and the window's growth was what set
off the intake's young collections (two tuples per event: about 1 µs per record under load,
one 0.1 s pause per 100 000 events). Positions and fingerprints should be atoms for the same
reason; the Kafka path passes ints.
"""

from __future__ import annotations

import enum
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["Admission", "DuplicateFilter", "Fingerprint", "Position"]

#: Where an occurrence came from, compared for equality only: one int per Kafka record
#: (``IntakeHandler`` packs its partition and offset), any token elsewhere.
Position = Hashable
#: The content of an occurrence, compared for equality only (intake's content_digest).
Fingerprint = Hashable


class Admission(enum.Enum):
    """What :meth:`DuplicateFilter.admit` decided about one occurrence of an event."""

    NEW = "new"  # first occurrence (now remembered), or a re-delivery of that same record
    DUPLICATE = "duplicate"  # the same event seen at another position: drop it
    CONFLICT = "conflict"  # the id was seen with other content: dead-letter it


_NEW, _DUPLICATE, _CONFLICT = Admission.NEW, Admission.DUPLICATE, Admission.CONFLICT


class DuplicateFilter:
    def __init__(
        self,
        *,
        window_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or max_entries < 1:
            raise ValueError("window_s must be > 0 and max_entries >= 1")
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        # The occurrence each id was first seen at: when (oldest first), where, and its content.
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._positions: dict[str, Position | None] = {}
        self._digests: dict[str, Fingerprint | None] = {}
        # At most the time of the first entry while there is one: _expire() skips reading the
        # front (an iterator per event) while the horizon has not passed it. Set from the
        # front after each sweep, to the time of an entry admitted into an empty window, and
        # to -inf whenever the front may have changed otherwise.
        self._front_floor = -math.inf
        self.evicted_early = 0  # evicted by size before their window ended

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        if self._front_floor >= horizon:  # nothing can have expired (a NaN time sweeps)
            return
        seen = self._seen
        while seen:
            first = next(iter(seen.values()))
            if first >= horizon:
                self._front_floor = first
                break
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        event_id, _ = self._seen.popitem(last=False)
        del self._positions[event_id]
        del self._digests[event_id]

    def is_duplicate(self, event_id: str, position: Position | None = None) -> bool:
        """Whether ``event_id`` was seen at another position within the window (no update)."""
        now = self._clock()
        self._expire(now)
        if event_id not in self._seen:
            return False
        return position is None or self._positions[event_id] != position

    def conflicts(self, event_id: str, digest: Fingerprint) -> bool:
        """Whether ``event_id`` was seen within the window with other content."""
        self._expire(self._clock())
        if event_id not in self._seen:
            return False
        seen_digest = self._digests[event_id]
        return seen_digest is not None and seen_digest != digest

    def remember(
        self, event_id: str, position: Position | None = None, digest: Fingerprint | None = None
    ) -> None:
        now = self._clock()
        self._front_floor = -math.inf  # the front may be this entry, moved or re-stamped
        self._seen[event_id] = now
        self._seen.move_to_end(event_id)
        self._positions[event_id] = position
        self._digests[event_id] = digest
        if len(self._seen) > self.max_entries:
            self._evict_oldest()
            self.evicted_early += 1

    def admit(self, event_id: str, position: Position, digest: Fingerprint) -> Admission:
        """Decide on one occurrence of an event, and remember a new one, in one pass over the
        window: :meth:`conflicts`, then :meth:`is_duplicate`, then :meth:`remember`.

        The Kafka hot path: one clock read, one expiry sweep and one lookup per event (the
        outcomes are module constants).
        """
        now = self._clock()
        if not self._front_floor >= now - self.window_s:  # _expire()'s own test, inlined
            self._expire(now)
        seen = self._seen
        if event_id not in seen:
            seen[event_id] = now  # a new key is already the newest
            self._positions[event_id] = position
            self._digests[event_id] = digest
            size = len(seen)
            if size == 1:
                self._front_floor = now
            elif size > self.max_entries:
                self._evict_oldest()
                self._front_floor = -math.inf
                self.evicted_early += 1
            return _NEW
        seen_digest = self._digests[event_id]
        if seen_digest is not None and seen_digest != digest:
            return _CONFLICT
        if position is None or self._positions[event_id] != position:
            return _DUPLICATE
        return _NEW
