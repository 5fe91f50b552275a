"""Deterministic identifiers: the same input log always yields the same gap and change ids.

UUIDv5 under a PeerLink namespace, of the participant key and what makes the object unique
(gap code and episode; change sequence). A replay therefore reproduces ids byte for byte
and downstream deduplication by id is trivial (streaming_anchors.md section 6, item 13).
"""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache

__all__ = ["NAMESPACE", "change_id", "gap_id"]

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://peerlink.example/caregaps")
_NS = NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` without building UUID objects (hot path)."""
    digest = bytearray(hashlib.sha1(_NS + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=65_536)
def gap_id(participant_key: str, code: str, episode: int) -> str:
    """Id of one episode of one gap of one participant."""
    return _uuid5(f"gap/{participant_key}/{code}/{episode}")


def change_id(participant_key: str, sequence: int) -> str:
    """Id of the participant's ``sequence``-th change record."""
    return _uuid5(f"change/{participant_key}/{sequence}")
