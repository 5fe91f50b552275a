"""Deterministic UUIDv5 identifiers, computed without building ``uuid.UUID`` objects.

Every PeerLink id that must come out the same on every replay (derived event ids, gap and
change ids, FHIR logical ids) is ``uuid.uuid5(namespace, name)``. These are hot paths, so the
namespace is hashed once and each id continues from a copy of that hash state.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

__all__ = ["Uuid5Namespace", "format_uuid5"]

#: The RFC 4122 variant bits (10xx) set in the high hex digit of the ninth byte.
_VARIANT_DIGIT: Final = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def format_uuid5(digest: bytes) -> str:
    """``str(uuid.UUID(bytes=digest[:16], version=5))`` without building a UUID object."""
    h = digest[:16].hex()
    # Version 5 replaces the 13th hex digit; the variant, the high bits of the 17th.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"


class Uuid5Namespace:
    """``str(uuid.uuid5(namespace, name))`` for many names under one namespace."""

    __slots__ = ("_prefix", "namespace")

    def __init__(self, namespace: uuid.UUID) -> None:
        self.namespace = namespace
        # SHA-1 is what RFC 4122 prescribes for version-5 UUIDs: an identifier, not a MAC.
        self._prefix = hashlib.sha1(namespace.bytes, usedforsecurity=False)

    def id(self, name: str | bytes) -> str:
        digest = self._prefix.copy()
        digest.update(name.encode() if isinstance(name, str) else name)
        return format_uuid5(digest.digest())
