"""Synthetic peer-support programme population: a seeded, reproducible event generator.

``simulate(SimulationConfig(participants=500))`` yields every record (peer submissions for
``peer.intake.raw``, clinic FHIR for ``clinic.fhir.inbound``, clock ticks for
``caregaps.clock.v1``) in emission order. The generator is pure: no Kafka, no clock, no I/O;
``sinks`` writes the records to a JSONL file or to Kafka. Parameters and their sources:
``params`` and docs/simulator.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.simulator.cohort import Cohort, Participant, build_cohort, rng_for
from services.simulator.fhir_inbound import PARTICIPANT_IDENTIFIER_SYSTEM
from services.simulator.junk import JUNK_KINDS, with_junk
from services.simulator.params import (
    DEFAULT_PROFILES,
    DEFAULT_START,
    ClinicParams,
    ModelProfile,
    ParticipantParams,
    RedFlagParams,
    SimulationConfig,
)
from services.simulator.progress import Progress
from services.simulator.records import CLINIC_TOPIC, CLOCK_TOPIC, PEER_TOPIC, SimRecord
from services.simulator.sinks import PlaceTicks, SimSummary, send_to_kafka, write_jsonl
from services.simulator.streams import a1c_true, merged_stream

__all__ = [
    "CLINIC_TOPIC",
    "CLOCK_TOPIC",
    "DEFAULT_PROFILES",
    "DEFAULT_START",
    "JUNK_KINDS",
    "PARTICIPANT_IDENTIFIER_SYSTEM",
    "PEER_TOPIC",
    "ClinicParams",
    "Cohort",
    "ModelProfile",
    "Participant",
    "ParticipantParams",
    "PlaceTicks",
    "Progress",
    "RedFlagParams",
    "SimRecord",
    "SimSummary",
    "SimulationConfig",
    "a1c_true",
    "build_cohort",
    "send_to_kafka",
    "simulate",
    "write_jsonl",
]


def simulate(config: SimulationConfig, cohort: Cohort | None = None) -> Iterator[SimRecord]:
    """Every record of the run, in emission order; identical for equal configs."""
    cohort = cohort or build_cohort(config)
    return with_junk(merged_stream(cohort), config.invalid_share, rng_for(config.seed, "junk"))
