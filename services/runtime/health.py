"""Liveness and readiness of a service.

Liveness comes from loop progress (the consume loop calls ``beat()`` every iteration; a loop
that stops beating is stuck, as in Arroyo's file heartbeat), readiness from the broker being
reachable and the service not having tripped a breaker or lost its output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Health", "HealthReport"]


@dataclass(frozen=True, kw_only=True)
class HealthReport:
    live: bool
    ready: bool
    reasons: tuple[str, ...]
    seconds_since_beat: float


@dataclass(kw_only=True)
class Health:
    """Mutable health state owned by one service process."""

    #: A loop that has not beaten for this long is reported dead.
    stall_after_s: float = 60.0
    _last_beat: float = field(default_factory=time.monotonic)
    _ready: bool = False
    _problems: dict[str, str] = field(default_factory=dict)

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    def set_unhealthy(self, component: str, reason: str) -> None:
        """Mark one component unhealthy with a coded reason (no payload content)."""
        self._problems[component] = reason

    def clear(self, component: str) -> None:
        self._problems.pop(component, None)

    def report(self) -> HealthReport:
        since = time.monotonic() - self._last_beat
        live = since <= self.stall_after_s
        reasons = tuple(f"{name}: {why}" for name, why in sorted(self._problems.items()))
        if not live:
            reasons = (*reasons, f"loop stalled for {since:.0f}s")
        return HealthReport(
            live=live,
            ready=self._ready and live and not self._problems,
            reasons=reasons,
            seconds_since_beat=round(since, 3),
        )
