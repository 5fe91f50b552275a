"""Settings of the engine (``PEERLINK_CAREGAPS_*``) and of the clock (``PEERLINK_CLOCK_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.records import ConsumerPolicy

__all__ = ["CLOCK_TOPIC", "EVENTS_TOPIC", "ClockSettings", "EngineSettings"]

EVENTS_TOPIC = "peer.events.v1"
CLOCK_TOPIC = "caregaps.clock.v1"


class EngineSettings(BaseSettings):
    """Engine settings from ``PEERLINK_CAREGAPS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_CAREGAPS_", extra="ignore")

    group_id: str = "peerlink-caregaps"
    #: Static membership: a restarted instance with the same id keeps its partitions
    #: without waiting for a session timeout (aiokafka >= 0.10).
    instance_id: str | None = None
    #: YAML/JSON file with ``default`` and ``programmes`` threshold overrides.
    policy_file: Path | None = None
    #: Records per poll. Under a backlog a bigger poll means fewer transactions and fewer
    #: changelog writes (a participant seen twice in one poll is written once): 2 000 gave
    #: 6,935 events/s, 10 000 gave 8,520 (bench/results). At low rates polls stay small.
    max_records: int = Field(default=10_000, ge=1)
    poll_timeout_ms: int = Field(default=100, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    transaction_timeout_ms: int = Field(default=60_000, ge=1_000)
    #: Wait for the tick that places events in the merged order (see ordering.py).
    hold_for_clock: bool = True
    #: Release held events after this long without a tick (the clock is down).
    clock_max_hold_s: float = Field(default=30.0, gt=0)
    #: Pause the events partition while this many events are held.
    max_held_events: int = Field(default=50_000, ge=1)
    #: Decoded states kept in memory per partition; others stay as bytes.
    max_decoded_states: int = Field(default=50_000, ge=100)
    #: Participants whose serialised gaps this process keeps for reuse, in each of its two
    #: caches (change records, state writes: renderings.py). Beyond it the least recently
    #: changed are serialised again: same bytes, more CPU. About 2 KB per participant each.
    rendering_cache_participants: int = Field(default=16_384, ge=1)
    ops_host: str = "0.0.0.0"  # noqa: S104 - health and metrics for the orchestrator
    #: Port of /healthz, /readyz, /metrics; None or 0 disables the endpoint.
    ops_port: int | None = Field(default=8082, ge=0, le=65_535)

    def consumer_policy(self) -> ConsumerPolicy:
        return ConsumerPolicy(
            group_id=self.group_id,
            topics=(EVENTS_TOPIC, CLOCK_TOPIC),
            max_records=self.max_records,
            poll_timeout_ms=self.poll_timeout_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            group_instance_id=self.instance_id,
        )


class ClockSettings(BaseSettings):
    """Clock settings from ``PEERLINK_CLOCK_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_CLOCK_", extra="ignore")

    #: Seconds between ticks. Held events wait for the next tick, so this bounds the
    #: engine's added latency; time-driven gaps are day-granular, so any value works.
    interval_s: float = Field(default=5.0, gt=0)
    ops_host: str = "0.0.0.0"  # noqa: S104 - health and metrics for the orchestrator
    #: Port of /healthz, /readyz, /metrics; None or 0 disables the endpoint.
    ops_port: int | None = Field(default=8085, ge=0, le=65_535)
