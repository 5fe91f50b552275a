"""What rules return: a gap that should be open, a gap that should not, or a red-flag trigger."""

from __future__ import annotations

from typing import NamedTuple

from schemas.vocabulary import GapCode, Priority

__all__ = ["DAY_S", "EPOCH_ORDINAL", "Clearance", "Finding", "Outcome", "Trigger"]

DAY_S = 86_400
#: ``date(1970, 1, 1).toordinal()``: converts epoch days to day ordinals without datetimes.
EPOCH_ORDINAL = 719_163


class Finding(NamedTuple):
    """The gap ``code`` should be open now, for ``reason`` (a coded ShortCode)."""

    code: GapCode
    reason: str
    priority: Priority
    evidence: tuple[str, ...] = ()
    #: Result business ids the finding rests on (for cancellation when entered in error).
    rids: tuple[str, ...] = ()
    #: Catalogue coding key when it differs from the gap's default.
    coding: str | None = None


class Clearance(NamedTuple):
    """The gap ``code`` should not be open; ``reason`` says why if it was."""

    code: GapCode
    reason: str


class Trigger(NamedTuple):
    """An event that raises (or escalates) an episodic red-flag gap."""

    code: GapCode
    priority: Priority
    reason: str
    event_id: str
    rid: str = ""


Outcome = tuple[list[Finding | Clearance], int]
"""Findings/clearances of one rule and the earliest log time at which time alone changes them."""
