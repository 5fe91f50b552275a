"""Kafka plumbing of the engine that needs no broker: co-partitioned assignment, ids, CLI."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from schemas.events import ClockTickEvent, parse_event
from services.caregaps.clock import tick_payload
from services.caregaps.service import CLOCK_TOPIC, EVENTS_TOPIC, CaregapsSettings
from services.cli import caregaps_cmd
from services.runtime.records import ConsumerPolicy
from services.runtime.settings import KafkaSettings
from services.runtime.transactional import TransactionalRunner, transactional_id


class _Cluster:
    """Just what the range assignor reads: the partitions of each topic."""

    def __init__(self, partitions: int) -> None:
        self._partitions = set(range(partitions))

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


@pytest.mark.parametrize("members", [1, 2, 3, 4, 5])
def test_the_range_assignor_gives_partition_n_of_both_inputs_to_the_same_member(
    members: int,
) -> None:
    """The engine's task n needs partition n of the events and of the clock topic. The
    round-robin default would split them (e.g. with 3 members); range never does."""
    metadata = {
        f"member-{i}": ConsumerProtocolMemberMetadata(0, [EVENTS_TOPIC, CLOCK_TOPIC], b"")
        for i in range(members)
    }
    assignment = RangePartitionAssignor.assign(_Cluster(4), metadata)
    owners: dict[tuple[str, int], str] = {}
    for member, member_assignment in assignment.items():
        for topic, partitions in member_assignment.assignment:
            for p in partitions:
                owners[(topic, p)] = member
    assert len(owners) == 8
    for p in range(4):
        assert owners[(EVENTS_TOPIC, p)] == owners[(CLOCK_TOPIC, p)]


def test_transactional_ids_are_stable_per_group_topic_and_partition() -> None:
    assert transactional_id("peerlink-caregaps", "peer.events.v1", 3) == (
        "peerlink-caregaps.peer.events.v1.3"
    )


def test_the_runner_refuses_to_read_uncommitted_records() -> None:
    policy = ConsumerPolicy(
        group_id="g", topics=(EVENTS_TOPIC,), isolation_level="read_uncommitted"
    )
    with pytest.raises(ValueError, match="read committed"):
        TransactionalRunner(settings=KafkaSettings(), policy=policy, processor=None)  # type: ignore[arg-type]


def test_engine_consumer_policy_reads_both_inputs_with_static_membership_when_asked() -> None:
    policy = CaregapsSettings(instance_id="engine-a", ops_port=None).consumer_policy()
    assert policy.topics == (EVENTS_TOPIC, CLOCK_TOPIC)
    assert policy.group_instance_id == "engine-a"
    assert policy.isolation_level == "read_committed"


def test_a_tick_payload_is_a_valid_clock_tick_event() -> None:
    at = datetime(2026, 9, 3, 0, 0, 0, 250_000, tzinfo=UTC)
    tick = parse_event(orjson.dumps(tick_payload(at, 2, 1200)))
    assert isinstance(tick, ClockTickEvent)
    assert tick.id == "tick-20260903T000000250Z-p2"
    assert tick.time == at
    assert tick.data.partition == 2
    assert tick.data.events_end_offset == 1200


def test_cli_registers_the_engine_and_the_clock_commands() -> None:
    parser = argparse.ArgumentParser()
    caregaps_cmd.register(parser.add_subparsers(dest="command"))
    run = parser.parse_args(["caregaps", "run", "--instance-id", "a", "--ops-port", "0"])
    assert (run.instance_id, run.ops_port) == ("a", 0)
    tick = parser.parse_args(["clock", "tick", "--at", "2026-09-03T00:00:00Z"])
    assert tick.at == datetime(2026, 9, 3, tzinfo=UTC)
    loop = parser.parse_args(["clock", "run", "--interval", "2"])
    assert loop.interval == 2.0
    with pytest.raises(SystemExit):
        parser.parse_args(["clock", "tick", "--at", "2026-09-03T00:00:00"])  # no zone
