"""Prints the engine build and a digest of every record the processor emits for a seeded log.

Run as ``python -m tests.unit.caregaps.engine_digest`` (with ``PEERLINK_INTERPRETED=1`` for the
interpreted source): the compiled and the interpreted engine must print the same digest.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

from services.caregaps import native
from services.caregaps.replay import replay
from services.caregaps.synthetic import synthetic_log


def _monthly(n: int) -> datetime:
    # A tick after every chunk, a month apart: time-driven gaps open between events too.
    return datetime(2027 + n // 12, 1 + n % 12, 1, tzinfo=UTC)


def digest(participants: int = 300, events_per_participant: int = 30, chunk: int = 700) -> str:
    log = synthetic_log(participants=participants, events_per_participant=events_per_participant)
    raw = [orjson.dumps(e) for e in log]
    h = hashlib.sha256()
    outputs = 0
    for batch in replay(raw, batch=chunk, tick_at=_monthly):
        for out in batch.outputs:
            h.update(repr((out.topic, out.key, out.value, out.headers, out.partition)).encode())
            outputs += 1
    return f"{outputs} {h.hexdigest()}"


if __name__ == "__main__":
    print(native.build(), digest())
