"""The invalid-share breaker: a flood of bad input pauses consumption instead of filling the DLQ.

A bad deploy upstream can turn every submission invalid. Dead-lettering all of it would bury
the DLQ and hide the cause, so once the share of invalid records among the last ``window``
records (younger than ``window_s``) exceeds ``max_invalid_ratio``, with at least
``min_samples`` seen, the breaker trips: the service pauses for ``pause_s`` and reports
unhealthy. After the pause the window starts empty (half-open); a persisting flood trips it
again after another ``min_samples`` records, so dead-lettering is throttled, never a loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice, repeat
from operator import itemgetter

__all__ = ["BreakerPolicy", "InvalidShareBreaker"]

_second = itemgetter(1)


@dataclass(frozen=True, kw_only=True)
class BreakerPolicy:
    window: int = 500
    min_samples: int = 100
    max_invalid_ratio: float = 0.5
    pause_s: float = 30.0
    #: Outcomes older than this no longer count (a trickle of errors over hours is no flood).
    window_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.max_invalid_ratio <= 1:
            raise ValueError("max_invalid_ratio must be in (0, 1]")
        if not 1 <= self.min_samples <= self.window:
            raise ValueError("min_samples must be between 1 and window")


class InvalidShareBreaker:
    """Counts valid/invalid outcomes in a sliding window (by count and by age)."""

    def __init__(
        self, policy: BreakerPolicy, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._outcomes: deque[tuple[float, bool]] = deque(maxlen=policy.window)
        self._invalid = 0
        self.trips = 0

    def record(self, invalid: bool) -> None:
        self.record_all((invalid,))

    def record_all(self, outcomes: Iterable[bool]) -> None:
        """:meth:`record` each outcome in order, all stamped with one clock reading.

        For the outcomes of one batch: they are microseconds apart, the age window minutes.
        Appending them one by one evicts exactly the first ``len(window) + n - maxlen`` of
        window-then-batch, so the invalid count is adjusted by those in bulk (C-level sums
        and ``extend`` instead of a Python step per record of every batch).
        """
        now = self._clock()
        batch = outcomes if isinstance(outcomes, list | tuple) else list(outcomes)
        window = self._outcomes
        held = len(window)
        evicted = held + len(batch) - self.policy.window
        invalid = self._invalid + sum(batch)
        if evicted > 0:
            invalid -= sum(map(_second, islice(window, min(evicted, held))))
            if evicted > held:
                invalid -= sum(batch[: evicted - held])
        size = self.policy.window
        # Only the last ``size`` can stay: stamping the rest would only have them evicted.
        window.extend(zip(repeat(now), batch[-size:] if len(batch) > size else batch))
        self._invalid = invalid

    def _expire(self) -> None:
        horizon = self._clock() - self.policy.window_s
        while self._outcomes and self._outcomes[0][0] < horizon:
            _, invalid = self._outcomes.popleft()
            self._invalid -= invalid

    @property
    def samples(self) -> int:
        self._expire()
        return len(self._outcomes)

    @property
    def invalid_share(self) -> float:
        self._expire()
        return self._invalid / len(self._outcomes) if self._outcomes else 0.0

    def should_trip(self) -> bool:
        self._expire()
        return (
            len(self._outcomes) >= self.policy.min_samples
            and self._invalid / len(self._outcomes) > self.policy.max_invalid_ratio
        )

    def trip(self) -> str:
        """Open the breaker: returns the coded reason and starts the next window empty."""
        share, samples = self.invalid_share, len(self._outcomes)
        self.trips += 1
        self._outcomes.clear()
        self._invalid = 0
        return (
            f"invalid share {share:.0%} of the last {samples} records exceeds "
            f"{self.policy.max_invalid_ratio:.0%}"
        )
