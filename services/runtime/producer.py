"""The one way PeerLink services create Kafka producers.

aiokafka defaults to ``acks=1`` without idempotence (streaming_anchors.md, section 2.2), which
can lose or duplicate records on broker failover; every producer here is ``acks=all`` and
idempotent, batches for a few milliseconds and compresses (``KafkaSettings.compression``).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from services.runtime.settings import KafkaSettings

__all__ = ["PRODUCER_DEFAULTS", "create_producer"]

#: Safety and batching defaults; callers may override batching, never the safety settings.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
}

_SAFETY_KEYS = frozenset({"acks", "enable_idempotence"})


def create_producer(
    settings: KafkaSettings,
    *,
    transactional_id: str | None = None,
    client_suffix: str = "producer",
    **overrides: Any,
) -> AIOKafkaProducer:
    """Build an unstarted producer; the caller owns ``start()`` and ``stop()``.

    ``transactional_id`` makes it a transactional producer (idempotence is implied).
    """
    unsafe = _SAFETY_KEYS.intersection(overrides)
    if unsafe:
        raise ValueError(f"producer safety settings cannot be overridden: {sorted(unsafe)}")
    compression = None if settings.compression == "none" else settings.compression
    options: dict[str, Any] = {
        **PRODUCER_DEFAULTS,
        "compression_type": compression,
        **overrides,
    }
    return AIOKafkaProducer(
        **settings.client_kwargs(),
        client_id=f"{settings.client_id}-{client_suffix}",
        transactional_id=transactional_id,
        **options,
    )
