"""Prints the engine build and a digest of every record the processor emits for a seeded log.

Run as ``python -m tests.unit.caregaps.engine_digest`` (with ``PEERLINK_INTERPRETED=1`` for the
interpreted source): the compiled and the interpreted engine must print the same digest.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from services.caregaps import PolicySet, native
from services.caregaps.clock import tick_payload
from services.caregaps.service import CLOCK_TOPIC, EVENTS_TOPIC, CareGapsProcessor
from services.caregaps.settings import EngineSettings
from services.caregaps.store import PartitionStore
from services.caregaps.synthetic import synthetic_log
from services.runtime.settings import KafkaSettings


class _Record:
    """The fields of a consumer record the processor reads."""

    def __init__(self, offset: int, value: bytes) -> None:
        self.offset = offset
        self.key = None
        self.value = value
        self.headers: list[tuple[str, bytes]] = []
        self.partition = 0


def digest(participants: int = 300, events_per_participant: int = 30, chunk: int = 700) -> str:
    raw = [
        orjson.dumps(e)
        for e in synthetic_log(
            participants=participants, events_per_participant=events_per_participant
        )
    ]
    processor = CareGapsProcessor(
        kafka=KafkaSettings(), settings=EngineSettings(ops_port=None), policy=PolicySet()
    )
    processor.open_task(0, PartitionStore(0, processor.fingerprint), (0, 0), aligned=True)
    h = hashlib.sha256()
    outputs = 0
    for i, start in enumerate(range(0, len(raw), chunk)):
        end = min(start + chunk, len(raw))
        events: list[Any] = [_Record(start + j, v) for j, v in enumerate(raw[start:end])]
        # A monthly tick after every chunk: time-driven gaps open between events too.
        at = datetime(2027 + i // 12, 1 + i % 12, 1, tzinfo=UTC)
        ticks: list[Any] = [_Record(i, orjson.dumps(tick_payload(at, 0, end)))]
        batch = processor.process(
            0, {EVENTS_TOPIC: events, CLOCK_TOPIC: ticks}, {EVENTS_TOPIC: end, CLOCK_TOPIC: i + 1}
        )
        assert batch is not None
        for out in batch.outputs:
            h.update(repr((out.topic, out.key, out.value, out.headers, out.partition)).encode())
            outputs += 1
        processor.committed(0)
    return f"{outputs} {h.hexdigest()}"


if __name__ == "__main__":
    print(native.build(), digest())
