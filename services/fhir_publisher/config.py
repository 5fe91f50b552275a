"""Publisher settings (``PEERLINK_PUBLISHER_*``) and the per-clinic capability profile.

Clinics differ in what their EHR accepts (fhir_anchors.md section 7, item 6): how the Patient
is referenced, who receives alerts, and whether DEQM-style DetectedIssues are wanted (they
carry a modifier extension, so they are opt-in). Unknown clinics get ``default_clinic``.

Example::

    PEERLINK_PUBLISHER_CLINICS='{"clinic-north": {"patient_reference": "identifier",
        "patient_identifier_system": "urn:oid:2.16.840.1.113883.19.5",
        "detected_issue": true}}'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.base import ClinicId
from schemas.vocabulary import GapKind, Priority
from services.fhir_publisher.naming import DEFAULT_BASE

__all__ = ["ClinicProfile", "PublisherSettings", "ValidationMode"]

#: Per-resource check before publishing (nothing invalid is ever produced; a failure sends the
#: change to the dead-letter topic):
#: ``quick`` (default, ~15 us): whole-document JSON checks, required bindings, narrative shape;
#: ``rules``: the full rule layer (tree walk, reference targets, XHTML parse; ~100+ us);
#: ``model``: rules plus fhir.resources R4B validation (~0.4 ms per CarePlan: the naive path).
#: Every variable value is guarded when inserted, and the test suite validates the mapping's
#: whole output space with the rule layer, R4B and FHIR.js, whatever the mode.
ValidationMode = Literal["quick", "rules", "model"]

_URI = r"^\S+$"


class ClinicProfile(BaseModel):
    """What one clinic's EHR integration expects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``literal``: ``Patient/<id>`` when the clinic's id is known, else by identifier;
    #: ``identifier``: a logical reference by identifier when known, else the literal id.
    patient_reference: Literal["literal", "identifier"] = "literal"
    #: Identifier system for patient links that carry a value but no system (e.g. the MRN OID).
    patient_identifier_system: str | None = Field(default=None, max_length=256, pattern=_URI)
    #: Literal reference of the clinic's care team (``CareTeam/<id>``) receiving alerts; when
    #: unset, a logical reference by identifier (``clinic-care-team`` system, clinic id).
    care_team_reference: str | None = Field(
        default=None, max_length=128, pattern=r"^CareTeam/[A-Za-z0-9\-.]{1,64}$"
    )
    #: Publish DEQM-style DetectedIssues to ``fhir.r4.detectedissue``.
    detected_issue: bool = False
    #: Gap kinds that raise a Communication when they open or escalate.
    alert_kinds: frozenset[GapKind] = frozenset(GapKind)
    #: Gaps below this priority appear in the CarePlan only, without a Communication.
    alert_min_priority: Priority = Priority.ROUTINE

    @field_serializer("alert_kinds")
    def _sorted_kinds(self, kinds: frozenset[GapKind]) -> list[str]:
        # Sets iterate in hash order, which varies per process; dumps must be stable.
        return sorted(kind.value for kind in kinds)


class PublisherSettings(BaseSettings):
    """Settings of the fhir-publisher service."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_PUBLISHER_", extra="ignore")

    group_id: str = "fhir-publisher"
    #: Static membership id (e.g. the pod name) to avoid rebalances on rolling restarts.
    group_instance_id: str | None = None
    input_topic: str = "caregaps.changes.v1"
    careplan_topic: str = "fhir.r4.careplan"
    communication_topic: str = "fhir.r4.communication"
    detectedissue_topic: str = "fhir.r4.detectedissue"
    #: Undecodable or unmappable change records go here with x-dlq-* reason headers.
    dlq_topic: str = "fhir.publisher.dlq"
    identifier_base: str = Field(default=DEFAULT_BASE, pattern=r"^https?://\S+$")
    clinics: dict[ClinicId, ClinicProfile] = Field(default_factory=dict)
    default_clinic: ClinicProfile = Field(default_factory=ClinicProfile)
    validation: ValidationMode = "quick"
    #: Records per poll; larger batches mean fewer ack and commit round trips per record.
    max_records: int = Field(default=1_000, ge=1, le=10_000)
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=8083, ge=0, le=65_535)
    log_level: str = "INFO"

    def clinic(self, clinic_id: str) -> ClinicProfile:
        return self.clinics.get(clinic_id, self.default_clinic)
