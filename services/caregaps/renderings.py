"""The latest serialised form of each gap of the most recently changed participants.

A participant's gaps change a few at a time: reconcile keeps every unchanged record as it
was, and an open gap repeats in every change record and every state write of its participant
until it changes. Serialising each record once per version instead of once per use is what
this cache is for; the change records and the state codec each keep one.

Bounded by participants (least recently used forgotten first): beyond the limit a gap is
serialised again, which gives the same bytes at the cost of the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

import orjson

__all__ = ["GapRenderings", "ParticipantRenderings"]


class _Coded(Protocol):
    """A gap record: immutable, compared by value, one per gap code of a participant."""

    @property
    def code(self) -> str: ...


Record = TypeVar("Record", bound=_Coded)

ParticipantRenderings = dict[str, tuple[Record, orjson.Fragment]]
"""One participant's renderings by gap code: the record and its serialised form."""


class GapRenderings(Generic[Record]):
    def __init__(
        self, render: Callable[[str, Record], bytes], *, participants: int = 16_384
    ) -> None:
        self._render = render
        self.participants = participants
        #: Serialisations made (a miss each): what the cache could not spare.
        self.rendered = 0
        self._by_participant: dict[str, ParticipantRenderings[Record]] = {}

    def __len__(self) -> int:
        return len(self._by_participant)

    def keys(self) -> list[str]:
        """Participants held, least recently used first."""
        return list(self._by_participant)

    def clear(self) -> None:
        self._by_participant.clear()

    def fragments(self, key: str, records: Iterable[Record]) -> list[orjson.Fragment]:
        """The participant's records serialised, each rendered again only if it changed
        since the last time; the participant becomes the most recently used."""
        held = self._by_participant
        renderings = held.pop(key, None)
        if renderings is None:
            renderings = {}
            if held and len(held) >= self.participants:
                del held[next(iter(held))]
        held[key] = renderings  # (re)inserted last
        out: list[orjson.Fragment] = []
        for g in records:
            hit = renderings.get(g.code)
            # Usually the very same record; an equal one after a state is decoded again.
            if hit is not None and (hit[0] is g or hit[0] == g):
                out.append(hit[1])
                continue
            fragment = orjson.Fragment(self._render(key, g))
            self.rendered += 1
            renderings[g.code] = (g, fragment)
            out.append(fragment)
        return out
