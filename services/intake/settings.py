"""Intake settings, read from ``PEERLINK_INTAKE_*`` environment variables.

Programmes and their bearer tokens are configuration, not code: ``PEERLINK_INTAKE_PROGRAMMES``
is a JSON object ``{programme_id: [allowed support models]}`` and ``PEERLINK_INTAKE_TOKENS`` a
JSON object ``{programme_id: sha256hex | [sha256hex, ...]}`` (a list allows rotation). Only
hashes are configured, so a leaked config file does not leak a token.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.vocabulary import SupportModel
from services.intake.breaker import BreakerPolicy

__all__ = ["DEFAULT_PARTICIPANT_KEY_SYSTEM", "IntakeSettings", "service_version"]

#: Identifier system under which clinics send the PeerLink participant key (FHIR inbound).
DEFAULT_PARTICIPANT_KEY_SYSTEM = "urn:peerlink:participant-key"

_PROGRAMME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{1,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

PositiveFloat = Annotated[float, Field(gt=0)]


def service_version() -> str:
    try:
        return importlib.metadata.version("peerlink")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


class IntakeSettings(BaseSettings):
    """Everything the intake service can be told from the environment."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_INTAKE_", extra="ignore", frozen=True)

    service: str = "intake"
    group_id: str = "peerlink-intake"
    #: Programme registry: events naming any other programme are rejected.
    programmes: dict[str, tuple[SupportModel, ...]] = Field(default_factory=dict)
    #: SHA-256 hex digests of each programme's bearer token(s).
    tokens: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)

    # ---- validation
    max_message_bytes: int = Field(default=64 * 1024, ge=1_024)
    max_fhir_message_bytes: int = Field(default=1024 * 1024, ge=1_024)
    participant_key_system: str = Field(default=DEFAULT_PARTICIPANT_KEY_SYSTEM, min_length=3)
    #: Date-only FHIR times (a lab that reports a day) are read as midnight in this zone.
    fhir_date_zone: str = "UTC"

    # ---- duplicates
    dedup_window_s: PositiveFloat = 6 * 3600.0
    dedup_max_entries: int = Field(default=200_000, ge=1)

    # ---- breaker
    breaker_window: int = Field(default=500, ge=1)
    breaker_min_samples: int = Field(default=100, ge=1)
    breaker_max_invalid_ratio: float = Field(default=0.5, gt=0, le=1.0)
    breaker_pause_s: PositiveFloat = 30.0
    breaker_window_s: PositiveFloat = 300.0

    # ---- Kafka consumer
    max_poll_records: int = Field(default=1_000, ge=1)

    # ---- HTTP
    http_host: str = "0.0.0.0"  # noqa: S104 - a container service listens on all interfaces
    http_port: int = Field(default=8080, ge=0, le=65_535)
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1_024)
    http_max_batch: int = Field(default=100, ge=1, le=10_000)
    #: Per-token token bucket: sustained requests per second and burst size.
    http_rate_per_s: PositiveFloat = 20.0
    http_rate_burst: int = Field(default=40, ge=1)
    http_publish_timeout_s: PositiveFloat = 15.0

    service_version: str = Field(default_factory=service_version)

    @field_validator("programmes")
    @classmethod
    def _programme_ids(
        cls, value: dict[str, tuple[SupportModel, ...]]
    ) -> dict[str, tuple[SupportModel, ...]]:
        for programme, models in value.items():
            if not _PROGRAMME_ID.fullmatch(programme):
                raise ValueError("programme ids must match the ProgrammeId format")
            if not models:
                raise ValueError("every programme needs at least one allowed support model")
        return value

    @field_validator("tokens")
    @classmethod
    def _token_hashes(
        cls, value: dict[str, str | tuple[str, ...]]
    ) -> dict[str, str | tuple[str, ...]]:
        for digests in value.values():
            for digest in (digests,) if isinstance(digests, str) else digests:
                if not _SHA256_HEX.fullmatch(digest):
                    # Never echo the value: someone may have pasted a plain token here.
                    raise ValueError("token entries must be lower-case SHA-256 hex digests")
        return value

    @field_validator("fhir_date_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("fhir_date_zone must be an IANA time zone name") from exc
        return value

    @model_validator(mode="after")
    def _breaker_sizes(self) -> Self:
        if self.breaker_min_samples > self.breaker_window:
            raise ValueError("breaker_min_samples cannot exceed breaker_window")
        return self

    def token_hashes(self) -> dict[str, tuple[str, ...]]:
        return {
            programme: (digests,) if isinstance(digests, str) else tuple(digests)
            for programme, digests in self.tokens.items()
        }

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            window=self.breaker_window,
            min_samples=self.breaker_min_samples,
            max_invalid_ratio=self.breaker_max_invalid_ratio,
            pause_s=self.breaker_pause_s,
            window_s=self.breaker_window_s,
        )
