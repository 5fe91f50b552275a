"""Bearer tokens per programme (stored as SHA-256 hashes) and a per-token rate limit."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["TokenAuthenticator", "TokenBucketLimiter", "hash_token"]


def hash_token(token: str) -> str:
    """The SHA-256 hex digest configured in ``PEERLINK_INTAKE_TOKENS`` for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Maps an ``Authorization: Bearer`` header to the programme that owns the token."""

    def __init__(self, hashes: Mapping[str, tuple[str, ...]]) -> None:
        self._entries = tuple(
            (programme, bytes.fromhex(digest))
            for programme, digests in hashes.items()
            for digest in digests
        )

    def programme_for(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 4096:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        # Compare against every entry (no early exit), each in constant time, so the timing
        # reveals neither the token nor which programme it belongs to.
        for programme, expected in self._entries:
            if hmac.compare_digest(digest, expected):
                found = programme
        return found


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """``rate_per_s`` sustained, ``burst`` at once, per key (one key per programme token).

    Keys are programmes from configuration, so the table is bounded by the config.
    """

    def __init__(
        self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """0.0 when allowed (and charged), else the seconds until it would be allowed."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate_per_s
