"""The session's broker has every registry topic, shaped as the registry says."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import TOPICS, Topic
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import TopicAdminError, ensure_topics

pytestmark = pytest.mark.kafka


async def _topic_configs(
    admin: AIOKafkaAdminClient, names: list[str], keys: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys)) for name in names
    ]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0, resource
            found[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return found


async def test_registry_topics_exist_with_registry_shape(
    kafka_settings: KafkaSettings, kafka_admin: AIOKafkaAdminClient
) -> None:
    names = {kafka_settings.topic_name(t.name): t for t in TOPICS}
    described = {d["topic"]: d for d in await kafka_admin.describe_topics(list(names))}
    for name, topic in names.items():
        assert described[name]["error_code"] == 0, f"{name} missing"
        assert len(described[name]["partitions"]) == topic.partitions, name

    configs = await _topic_configs(kafka_admin, list(names), ("cleanup.policy", "retention.ms"))
    for name, topic in names.items():
        assert configs[name]["cleanup.policy"] == topic.cleanup_policy.value, name
        if topic.retention_ms is not None:
            assert configs[name]["retention.ms"] == str(topic.retention_ms), name


async def test_ensure_topics_is_idempotent(kafka_settings: KafkaSettings) -> None:
    assert await ensure_topics(kafka_settings) == []


async def test_ensure_topics_applies_prefix_and_rejects_partition_drift(
    kafka_settings: KafkaSettings, kafka_admin: AIOKafkaAdminClient
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    prefixed = kafka_settings.model_copy(update={"topic_prefix": prefix})
    topics: tuple[Topic, ...] = TOPICS[:2]
    try:
        created = await ensure_topics(prefixed, topics)
        assert sorted(created) == sorted(prefix + t.name for t in topics)

        drifted = (dataclasses.replace(topics[0], partitions=topics[0].partitions + 1),)
        with pytest.raises(TopicAdminError, match="partitions"):
            await ensure_topics(prefixed, drifted)
    finally:
        await kafka_admin.delete_topics([prefix + t.name for t in topics])
