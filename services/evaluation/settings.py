"""Settings of the evaluation service, read from ``PEERLINK_EVALUATION_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EvaluationSettings"]


class EvaluationSettings(BaseSettings):
    """Where the store lives, how the HTTP API listens and how figures are protected."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_EVALUATION_", extra="ignore")

    #: SQLite file of the embedded analytical store (created on first start).
    db_path: Path = Path("var/evaluation.sqlite3")
    group_id: str = "peerlink-evaluation"
    #: The API serves aggregate, small-cell-suppressed figures only; a container listens on
    #: all interfaces so that the published port reaches it.
    http_host: str = "0.0.0.0"  # noqa: S104
    http_port: int = Field(default=8084, ge=1, le=65535)
    #: A separate port for /healthz, /readyz and /metrics (as the other services have);
    #: None serves them on the API port only.
    ops_host: str = "127.0.0.1"
    ops_port: int | None = Field(default=None, ge=1, le=65535)
    #: Figures resting on fewer participants than this are suppressed (small-cell rule).
    min_cell: int = Field(default=11, ge=1, le=1000)
    #: A red flag counts as followed by clinic evidence when the evidence arrives within this.
    evidence_window_days: int = Field(default=30, ge=1, le=365)
    #: How often the Prometheus headline gauges are recomputed from the store.
    gauge_refresh_s: float = Field(default=60.0, gt=0)
    #: Records per poll; each poll is written to the store in one transaction.
    max_records: int = Field(default=1_000, ge=1, le=50_000)
