"""Participant states of one partition, backed by the compacted changelog.

States restored from the changelog stay as bytes until first used (restoring 100 000
participants is a dictionary fill, not 100 000 decodes). Changes of the batch in flight are
kept apart until its transaction commits, so an aborted batch rolls back by forgetting them.
A side index of ``next_due`` per participant, restored from a record header, lets a clock
tick find the few participants it can affect without decoding the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from services.caregaps.state import ParticipantState

__all__ = ["HEADER_NEXT_DUE", "HEADER_POLICY", "PartitionStore"]

#: Changelog record headers: the state's next_due and the policy fingerprint it was made with.
HEADER_NEXT_DUE = "nd"
HEADER_POLICY = "pf"


class PartitionStore:
    def __init__(
        self, partition: int, policy_fingerprint: str, *, max_decoded: int = 50_000
    ) -> None:
        self.partition = partition
        self.policy_fingerprint = policy_fingerprint
        #: Decoded states kept in memory; older ones fall back to their bytes.
        self.max_decoded = max_decoded
        #: Committed states as bytes (restored, or written to the changelog).
        self._raw: dict[str, bytes] = {}
        self._decoded: dict[str, ParticipantState] = {}
        self._pending: dict[str, ParticipantState] = {}
        self._due: dict[str, int] = {}
        self._due_before: dict[str, int | None] = {}
        #: Restored under another policy: re-evaluate everything on first use.
        self._stale: set[str] = set()

    def participants(self) -> list[str]:
        """Every participant of the partition (committed and pending), in key order."""
        return sorted(self._raw.keys() | self._decoded.keys() | self._pending.keys())

    def __len__(self) -> int:
        return len(self._raw.keys() | self._decoded.keys() | self._pending.keys())

    # ---------------------------------------------------------------------- restore

    def load(self, key: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        """One changelog record, in log order (a later record replaces an earlier one)."""
        self._decoded.pop(key, None)
        if value is None:  # tombstone
            self._raw.pop(key, None)
            self._due.pop(key, None)
            self._stale.discard(key)
            return
        self._raw[key] = value
        fingerprint, next_due = None, 0
        for name, raw in headers:
            if name == HEADER_POLICY:
                fingerprint = raw.decode()
            elif name == HEADER_NEXT_DUE:
                next_due = int(raw)
        if fingerprint == self.policy_fingerprint:
            self._due[key] = next_due
            self._stale.discard(key)
        else:
            self._due[key] = 0  # the next tick re-evaluates it under the current policy
            self._stale.add(key)

    # ------------------------------------------------------------------------ access

    def get(self, key: str) -> ParticipantState | None:
        state = self._pending.get(key) or self._decoded.get(key)
        if state is not None:
            return state
        raw = self._raw.get(key)
        if raw is None:
            return None
        state = ParticipantState.from_bytes(raw)
        if key in self._stale:
            state = state.evolve(due=(), next_due=0)
        self._remember(key, state)
        return state

    def _remember(self, key: str, state: ParticipantState) -> None:
        if len(self._decoded) >= self.max_decoded:
            # Forget the oldest half (insertion order); their bytes are still in _raw.
            for old in list(self._decoded)[: self.max_decoded // 2]:
                if old not in self._stale:
                    del self._decoded[old]
        self._decoded[key] = state

    def put(self, key: str, state: ParticipantState) -> None:
        if key not in self._due_before:
            self._due_before[key] = self._due.get(key)
        self._pending[key] = state
        self._due[key] = state.next_due

    def due(self, at: int) -> list[str]:
        """Participants a tick at ``at`` may change, in key order (deterministic output)."""
        return sorted(key for key, next_due in self._due.items() if next_due <= at)

    def dirty(self) -> Iterator[tuple[str, ParticipantState]]:
        """Changed states of the batch in flight, in key order."""
        for key in sorted(self._pending):
            yield key, self._pending[key]

    # ------------------------------------------------------------------ transactions

    def commit(self, encoded: dict[str, bytes]) -> None:
        """The batch is durable; ``encoded`` holds the bytes written for each dirty state."""
        for key, state in self._pending.items():
            self._raw[key] = encoded[key]
            self._stale.discard(key)
            self._remember(key, state)
        self._pending.clear()
        self._due_before.clear()

    def rollback(self) -> None:
        self._pending.clear()
        for key, before in self._due_before.items():
            if before is None:
                self._due.pop(key, None)
            else:
                self._due[key] = before
        self._due_before.clear()

    def snapshot(self) -> dict[str, bytes]:
        """Every committed state as bytes, by key (for tests and benchmarks)."""
        return dict(sorted(self._raw.items()))
