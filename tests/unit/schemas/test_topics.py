"""Invariants of the topic registry that the architecture relies on."""

from __future__ import annotations

import importlib

from schemas.topics import TOPICS, CleanupPolicy, TopicKey, topic


def test_names_are_unique() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))


def test_participant_keyed_topics_are_co_partitioned() -> None:
    counts = {t.partitions for t in TOPICS if t.key is TopicKey.PARTICIPANT}
    counts.add(topic("caregaps.clock.v1").partitions)
    assert len(counts) == 1


def test_state_changelog_is_compacted_and_never_time_deleted() -> None:
    changelog = topic("caregaps.state.changelog")
    assert changelog.cleanup_policy is CleanupPolicy.COMPACT
    assert "retention.ms" not in changelog.topic_configs()


def test_event_payload_paths_resolve() -> None:
    for t in TOPICS:
        if t.payload.startswith("schemas."):
            module, _, name = t.payload.rpartition(".")
            assert hasattr(importlib.import_module(module), name), t.payload


def test_every_topic_has_a_producer_and_a_consumer() -> None:
    for t in TOPICS:
        assert t.producers, t.name
        assert t.consumers, t.name
