"""Deterministic identifiers: the same input log always yields the same gap and change ids.

UUIDv5 under a PeerLink namespace, of the participant key and what makes the object unique
(gap code and episode; change sequence). A replay therefore reproduces ids byte for byte
and downstream deduplication by id is trivial (streaming_anchors.md section 6, item 13).
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from schemas.ids import Uuid5Namespace

__all__ = ["NAMESPACE", "change_id", "gap_id"]

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://peerlink.example/caregaps")
_IDS = Uuid5Namespace(NAMESPACE)


@lru_cache(maxsize=65_536)
def gap_id(participant_key: str, code: str, episode: int) -> str:
    """Id of one episode of one gap of one participant."""
    return _IDS.id(f"gap/{participant_key}/{code}/{episode}")


def change_id(participant_key: str, sequence: int) -> str:
    """Id of the participant's ``sequence``-th change record."""
    return _IDS.id(f"change/{participant_key}/{sequence}")
