"""The engine's processor driven over a log without Kafka (benchmarks, the build comparison).

One task (partition 0) takes the log in chunks of ``batch`` events, each followed by a clock
tick at ``tick_at(n)`` for chunk ``n``; every batch is acknowledged as committed before the
next, as the runner does after its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from services.caregaps.clock import tick_payload
from services.caregaps.policy import PolicySet
from services.caregaps.service import CLOCK_TOPIC, EVENTS_TOPIC, CareGapsProcessor
from services.caregaps.settings import EngineSettings
from services.caregaps.store import PartitionStore
from services.runtime.settings import KafkaSettings
from services.runtime.transactional import TaskBatch

__all__ = ["replay"]


class _Record:
    """The fields of a consumer record the processor reads."""

    __slots__ = ("headers", "key", "offset", "partition", "value")

    def __init__(self, offset: int, value: bytes) -> None:
        self.offset = offset
        self.key: bytes | None = None
        self.value = value
        self.headers: list[tuple[str, bytes]] = []
        self.partition = 0


def replay(
    payloads: Sequence[bytes], *, batch: int, tick_at: Callable[[int], datetime]
) -> Iterator[TaskBatch]:
    """Each chunk's batch (outputs and offsets), in order."""
    processor = CareGapsProcessor(
        kafka=KafkaSettings(), settings=EngineSettings(ops_port=None), policy=PolicySet()
    )
    processor.open_task(0, PartitionStore(0, processor.fingerprint), (0, 0), aligned=True)
    for n, start in enumerate(range(0, len(payloads), batch)):
        end = min(start + batch, len(payloads))
        events: list[Any] = [_Record(offset, payloads[offset]) for offset in range(start, end)]
        ticks: list[Any] = [_Record(n, orjson.dumps(tick_payload(tick_at(n), 0, end)))]
        result = processor.process(
            0, {EVENTS_TOPIC: events, CLOCK_TOPIC: ticks}, {EVENTS_TOPIC: end, CLOCK_TOPIC: n + 1}
        )
        assert result is not None  # every chunk moves the offsets
        yield result
        processor.committed(0)
