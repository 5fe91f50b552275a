"""The programme registry: which peer-support programmes may submit, and with which models.

A programme is named in two places: ``data.programme_id`` (enrolment, contacts, peer-measured
results) and, for programme systems, the event ``source`` ``peerlink://programme/<id>[/...]``.
Both must name a registered programme, must agree when both are present, and the event's
``support_model`` must be one the programme is registered for.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.vocabulary import SupportModel
from services.intake.rejection import ReasonCode, Rejection

__all__ = ["PROGRAMME_SOURCE_PREFIX", "ProgrammeRegistry", "programme_source"]

PROGRAMME_SOURCE_PREFIX: Final = "peerlink://programme/"


def programme_source(programme_id: str) -> str:
    """The event source of submissions made by a programme (the HTTP default)."""
    return f"{PROGRAMME_SOURCE_PREFIX}{programme_id}"


@functools.lru_cache(maxsize=1024)
def _source_programme(source: str) -> str | None:
    # Cached: a deployment has a handful of sources, and every event names one.
    if not source.startswith(PROGRAMME_SOURCE_PREFIX):
        return None
    return source[len(PROGRAMME_SOURCE_PREFIX) :].split("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class ProgrammeRegistry:
    programmes: Mapping[str, frozenset[SupportModel]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, programmes: Mapping[str, tuple[SupportModel, ...]]) -> ProgrammeRegistry:
        return cls(programmes={p: frozenset(models) for p, models in programmes.items()})

    def __contains__(self, programme_id: object) -> bool:
        return programme_id in self.programmes

    def programme_of(self, document: Mapping[str, Any]) -> str | None:
        """The programme an event document belongs to, if it names one."""
        named = document["data"].get("programme_id")
        return named if named is not None else _source_programme(document["source"])

    def check(self, document: Mapping[str, Any]) -> Rejection | None:
        """None when the programme and model of a validated event document are registered.

        Works on the document (``model_dump``) rather than the model: cheaper on the hot path,
        and payloads without a programme simply lack the key.
        """
        from_source = _source_programme(document["source"])
        if from_source is not None and from_source not in self.programmes:
            return Rejection(
                code=ReasonCode.UNKNOWN_PROGRAMME,
                detail="source: names a programme that is not registered",
            )
        data = document["data"]
        named: str | None = data.get("programme_id")
        if named is not None:
            if named not in self.programmes:
                return Rejection(
                    code=ReasonCode.UNKNOWN_PROGRAMME,
                    detail="data.programme_id: programme is not registered",
                )
            if from_source is not None and from_source != named:
                return Rejection(
                    code=ReasonCode.PROGRAMME_MISMATCH,
                    detail="data.programme_id: differs from the programme in source",
                )
        programme = named or from_source
        model: SupportModel | None = data.get("support_model")
        if model is not None and programme is not None and model not in self.programmes[programme]:
            # The model is a validated vocabulary value, so naming it leaks nothing.
            return Rejection(
                code=ReasonCode.MODEL_NOT_ALLOWED,
                detail=f"data.support_model: {model.value} is not registered for this programme",
            )
        return None
