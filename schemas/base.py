"""Building blocks shared by every contract model."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

__all__ = [
    "ClinicId",
    "ContractModel",
    "EventId",
    "ParticipantKey",
    "ProgrammeId",
    "ShortCode",
    "SupporterId",
    "examples",
]


class ContractModel(BaseModel):
    """Base of every wire model: unknown fields are rejected and instances are immutable.

    ``extra="forbid"`` is what keeps free text (and PHI) from riding along in fields we do not
    know about; ``frozen`` lets the engine share instances safely. ``allow_inf_nan=False``:
    NaN and infinities are not JSON numbers (RFC 8259), though pydantic's own JSON parser reads
    them; a NaN would be published as null. Defaults are not validated on every message (a
    tenth of the cost of validating an event): a unit test validates each one once and
    requires it to come out unchanged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def examples(*items: dict[str, Any]) -> ConfigDict:
    """Model config carrying JSON-schema examples (every contract model has some).

    The rest of the config is :class:`ContractModel`'s: pydantic merges a subclass's
    ``model_config`` into its parent's.
    """
    return ConfigDict(json_schema_extra={"examples": list(items)})


_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"

#: Globally unique event id; deterministic when the source gives none (intake derives it).
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ID)]
#: Pseudonymous participant key: never a name, MRN or phone number.
ParticipantKey = Annotated[str, StringConstraints(min_length=3, max_length=64, pattern=_ID)]
ProgrammeId = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=_ID)]
ClinicId = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=_ID)]
SupporterId = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=_ID)]
ShortCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_ID)]
