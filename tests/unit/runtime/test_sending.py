"""Key placement of the batched send path equals the default partitioner's."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.runtime.sending import key_partition


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 12])
def test_key_placement_matches_the_default_partitioner(count: int) -> None:
    partitions = list(range(count))
    keys = [f"participant-{i}".encode() for i in range(500)] + [b"", b"\x00\xff", "é".encode()]
    for key in keys:
        assert key_partition(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_keys_spread_over_partitions() -> None:
    placed = {key_partition(f"p-{i}".encode(), [0, 1, 2, 3]) for i in range(200)}
    assert placed == {0, 1, 2, 3}
