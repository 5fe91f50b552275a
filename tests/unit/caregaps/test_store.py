"""Per-partition state store: lazy restore, pending changes, rollback, tick index."""

from __future__ import annotations

from services.caregaps.state import ParticipantState
from services.caregaps.store import HEADER_NEXT_DUE, HEADER_POLICY, PartitionStore


def state(key: str, next_due: int) -> ParticipantState:
    return ParticipantState.new(key).evolve(next_due=next_due, clock=1)


def headers(next_due: int, policy: str = "pf1") -> list[tuple[str, bytes]]:
    return [(HEADER_NEXT_DUE, str(next_due).encode()), (HEADER_POLICY, policy.encode())]


def test_restore_keeps_the_last_record_per_key_and_honours_tombstones() -> None:
    store = PartitionStore(0, "pf1")
    store.load("p-1", state("p-1", 10).to_bytes(), headers(10))
    store.load("p-1", state("p-1", 20).to_bytes(), headers(20))
    store.load("p-2", state("p-2", 5).to_bytes(), headers(5))
    store.load("p-2", None, [])
    assert len(store) == 1
    assert store.get("p-1") == state("p-1", 20)
    assert store.get("p-2") is None
    assert store.due(15) == []
    assert store.due(20) == ["p-1"]


def test_pending_changes_commit_or_roll_back() -> None:
    store = PartitionStore(0, "pf1")
    store.load("p-1", state("p-1", 10).to_bytes(), headers(10))
    store.put("p-1", state("p-1", 99))
    store.put("p-2", state("p-2", 7))
    assert [k for k, _ in store.dirty()] == ["p-1", "p-2"]
    assert store.due(10) == ["p-2"]
    store.rollback()
    assert store.get("p-1") == state("p-1", 10)
    assert store.get("p-2") is None
    assert store.due(10) == ["p-1"]
    store.put("p-2", state("p-2", 7))
    store.commit({"p-2": state("p-2", 7).to_bytes()})
    assert list(store.dirty()) == []
    assert set(store.snapshot()) == {"p-1", "p-2"}


def test_a_state_restored_under_another_policy_is_re_evaluated() -> None:
    store = PartitionStore(0, "pf2")
    store.load("p-1", state("p-1", 10_000).to_bytes(), headers(10_000, policy="pf1"))
    assert store.due(0) == ["p-1"]
    restored = store.get("p-1")
    assert restored is not None
    assert restored.next_due == 0
    assert restored.due == ()


def test_decoded_states_are_bounded_and_fall_back_to_bytes() -> None:
    store = PartitionStore(0, "pf1", max_decoded=100)
    for i in range(300):
        key = f"p-{i:03d}"
        store.load(key, state(key, i).to_bytes(), headers(i))
        assert store.get(key) is not None
    assert len(store._decoded) <= 100
    assert store.get("p-000") == state("p-000", 0)
