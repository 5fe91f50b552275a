"""Identifier systems and deterministic logical ids of the published resources.

Every resource carries a business identifier under a system PeerLink owns, and its logical
id is the UUIDv5 of that identifier, so the same business key always yields the same id on
any replica and after any replay. Ids and identifier values are built from pseudonymous keys
(participant key, clinic id, gap id, change sequence) only: never an MRN or a name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from schemas.ids import Uuid5Namespace

__all__ = ["DEFAULT_BASE", "Naming"]

#: Base URI of the identifier systems and code systems PeerLink defines.
DEFAULT_BASE = "https://peerlink.example/fhir"

#: Namespace of all logical ids; fixed so that ids never change across versions.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://peerlink.example/fhir/logical-id")
_IDS = Uuid5Namespace(_ID_NAMESPACE)


@dataclass(frozen=True, kw_only=True)
class Naming:
    """The URIs under one base, and the id derivation."""

    base: str = DEFAULT_BASE
    careplan_system: str = field(init=False)
    alert_system: str = field(init=False)
    care_gap_system: str = field(init=False)
    programme_system: str = field(init=False)
    peer_team_system: str = field(init=False)
    clinic_team_system: str = field(init=False)
    gap_code_system: str = field(init=False)
    gap_reason_system: str = field(init=False)
    gap_id_extension: str = field(init=False)

    def __post_init__(self) -> None:
        base = self.base.rstrip("/")
        values = {
            "careplan_system": f"{base}/NamingSystem/peer-careplan",
            "alert_system": f"{base}/NamingSystem/care-gap-alert",
            "care_gap_system": f"{base}/NamingSystem/care-gap",
            "programme_system": f"{base}/NamingSystem/peer-programme",
            "peer_team_system": f"{base}/NamingSystem/peer-support-team",
            "clinic_team_system": f"{base}/NamingSystem/clinic-care-team",
            "gap_code_system": f"{base}/CodeSystem/care-gap",
            "gap_reason_system": f"{base}/CodeSystem/care-gap-reason",
            "gap_id_extension": f"{base}/StructureDefinition/care-gap-identifier",
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @staticmethod
    def logical_id(resource_type: str, system: str, value: str) -> str:
        """UUIDv5 of the business identifier: 36 characters, a valid FHIR id."""
        return _IDS.id(f"{resource_type}|{system}|{value}")

    @staticmethod
    def careplan_key(clinic_id: str, participant_key: str) -> str:
        """One CarePlan per participant and clinic."""
        return f"{clinic_id}/{participant_key}"

    @staticmethod
    def alert_key(clinic_id: str, gap_id: str, sequence: int) -> str:
        """One Communication per alert: the gap episode and the change that raised it."""
        return f"{clinic_id}/{gap_id}/{sequence}"

    @staticmethod
    def issue_key(clinic_id: str, gap_id: str) -> str:
        """One DetectedIssue per gap episode and clinic."""
        return f"{clinic_id}/{gap_id}"
