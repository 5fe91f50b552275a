"""A tiny progress bar on stderr (no dependency): redraws at most ten times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress("simulate", total=365.0, unit="days")``; ``update(done, note)``; ``close()``.

    Draws only on a terminal; elsewhere (CI logs, pipes) it stays silent until ``close``,
    which always prints one summary line.
    """

    def __init__(
        self,
        label: str,
        *,
        total: float,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 30,
    ) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._done = 0.0
        self._note = ""

    def update(self, done: float, note: str = "") -> None:
        self._done, self._note = min(done, self.total), note
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(end="")

    def _draw(self, *, end: str) -> None:
        share = self._done / self.total
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.started
        line = f"\r{self.label} [{bar}] {share * 100:5.1f}% {self._note} ({elapsed:.1f} s)"
        self.stream.write(line + end)
        self.stream.flush()

    def close(self, note: str | None = None) -> float:
        """Finish the bar (or print the one summary line); returns the elapsed seconds."""
        if note is not None:
            self._note = note
        self._done = self.total
        if self.enabled:
            self._draw(end="\n")
        else:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"{self.label}: {self._note} ({elapsed:.1f} s)\n")
            self.stream.flush()
        return time.monotonic() - self.started
