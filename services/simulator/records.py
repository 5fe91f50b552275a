"""What the simulator emits: one record for one topic, in emission order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

__all__ = [
    "CLINIC_TOPIC",
    "CLOCK_TOPIC",
    "FHIR_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "PEER_TOPIC",
    "SimRecord",
]

PEER_TOPIC: Final = "peer.intake.raw"
CLINIC_TOPIC: Final = "clinic.fhir.inbound"
CLOCK_TOPIC: Final = "caregaps.clock.v1"

JSON_CONTENT_TYPE: Final = "application/json"
FHIR_CONTENT_TYPE: Final = "application/fhir+json; fhirVersion=4.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRecord:
    """One record for one topic (logical registry name; a sink adds any topic prefix)."""

    topic: str
    value: bytes
    #: When the record is sent, in simulated time. Records come out sorted by this.
    emit_at: datetime
    key: bytes | None = None
    #: Explicit partition (clock ticks only).
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    #: Event type (``peerlink.contact.logged``), ``fhir:<ResourceType>`` or ``junk:<why>``.
    kind: str = ""
    participant: str | None = None
    #: The envelope id (peer events, ticks) or FHIR resource id (clinic results).
    record_id: str | None = None
    #: False for deliberately broken submissions that intake must dead-letter.
    valid: bool = True

    @property
    def is_tick(self) -> bool:
        return self.topic == CLOCK_TOPIC

    def to_json_line(self) -> bytes:
        """One JSONL line: routing fields plus the value (JSON when it parses, else text)."""
        try:
            value: Any = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            value = self.value.decode("utf-8", errors="replace")
        line: dict[str, Any] = {
            "topic": self.topic,
            "key": self.key.decode() if self.key is not None else None,
            "partition": self.partition,
            "emit_at": self.emit_at.isoformat(),
            "kind": self.kind,
            "valid": self.valid,
            "headers": {k: v.decode(errors="replace") for k, v in self.headers},
            "value": value,
        }
        if not isinstance(value, str):
            return orjson.dumps(line) + b"\n"
        # Keep the exact broken bytes too, so a replay from the file is faithful.
        line["raw"] = True
        return orjson.dumps(line) + b"\n"
