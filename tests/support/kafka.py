"""pytest plugin: a real Kafka broker for the test session, and factories on top of it.

``kafka_settings`` uses ``$PEERLINK_KAFKA_BOOTSTRAP_SERVERS`` when it answers (``make test``
starts one broker for lint + tests), otherwise starts a ``LocalKafka`` on a free port for
this session and stops it at the end. Either way the registry topics exist afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import TOPICS
from services.devkafka import LocalKafka, LocalKafkaConfig
from services.devkafka.ports import free_port_pair
from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import admin_client, broker_answers, ensure_topics

__all__ = [
    "ConsumerFactory",
    "ProducerFactory",
    "TopicFactory",
    "consumer_factory",
    "free_port_pair",
    "kafka_admin",
    "kafka_settings",
    "producer_factory",
    "pytest_collection_modifyitems",
    "unique_topic_factory",
]


class TopicFactory(Protocol):
    async def __call__(
        self, partitions: int = 1, *, prefix: str = "test", configs: Mapping[str, str] | None = None
    ) -> str: ...


class ProducerFactory(Protocol):
    async def __call__(
        self, *, transactional_id: str | None = None, **overrides: Any
    ) -> AIOKafkaProducer: ...


class ConsumerFactory(Protocol):
    async def __call__(
        self, *topics: str, group_id: str | None = None, **overrides: Any
    ) -> AIOKafkaConsumer: ...


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Whatever test needs the broker is a `kafka` test, wherever it lives.
    for item in items:
        if "kafka_settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
async def kafka_settings(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[KafkaSettings]:
    if os.environ.get("PEERLINK_KAFKA_BOOTSTRAP_SERVERS"):
        settings = KafkaSettings()
        if await broker_answers(settings, timeout_s=10.0):
            await ensure_topics(settings)
            yield settings
            return
        warnings.warn(
            f"PEERLINK_KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers} does not answer; "
            "starting a local broker for this session",
            stacklevel=1,
        )
    config = LocalKafkaConfig.from_env(
        port=free_port_pair(), state_dir=tmp_path_factory.mktemp("kafka")
    )
    kafka = LocalKafka(config)
    settings = await kafka.up(topics=TOPICS)
    try:
        yield settings
    finally:
        await asyncio.to_thread(kafka.down)


@pytest.fixture(scope="session")
async def kafka_admin(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = admin_client(kafka_settings)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, name: str, partitions: int, timeout_s: float = 15.0
) -> None:
    # Creation returns before every partition has a leader in metadata; clients that start
    # right away would otherwise see a short-lived "unknown topic".
    async with asyncio.timeout(timeout_s):
        while True:
            (described,) = await admin.describe_topics([name])
            ready = [p for p in described["partitions"] if p["leader"] >= 0]
            if described["error_code"] == 0 and len(ready) == partitions:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def unique_topic_factory(
    kafka_settings: KafkaSettings, kafka_admin: AIOKafkaAdminClient
) -> AsyncIterator[TopicFactory]:
    """Creates fresh, uniquely named topics; deletes them after the test."""
    created: list[str] = []

    async def make(
        partitions: int = 1, *, prefix: str = "test", configs: Mapping[str, str] | None = None
    ) -> str:
        name = kafka_settings.topic_name(f"{prefix}.{uuid.uuid4().hex}")
        response = await kafka_admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=dict(configs or {}))]
        )
        for topic_name, code, *rest in response.topic_errors:
            if code != 0:
                raise RuntimeError(f"creating {topic_name} failed: error {code} {rest}")
        created.append(name)
        await _wait_for_leaders(kafka_admin, name, partitions)
        return name

    yield make
    if created:
        with contextlib.suppress(Exception):
            await kafka_admin.delete_topics(created)


@pytest.fixture
async def producer_factory(kafka_settings: KafkaSettings) -> AsyncIterator[ProducerFactory]:
    """Started producers from ``services.runtime.producer.create_producer``; stopped after."""
    producers: list[AIOKafkaProducer] = []

    async def make(*, transactional_id: str | None = None, **overrides: Any) -> AIOKafkaProducer:
        producer = create_producer(kafka_settings, transactional_id=transactional_id, **overrides)
        await producer.start()
        producers.append(producer)
        return producer

    yield make
    for producer in reversed(producers):
        with contextlib.suppress(Exception):
            await producer.stop()


@pytest.fixture
async def consumer_factory(kafka_settings: KafkaSettings) -> AsyncIterator[ConsumerFactory]:
    """Started consumers: earliest offset, manual commits, read_committed; stopped after.

    Without ``topics`` the consumer is unsubscribed and the test assigns partitions itself.
    """
    consumers: list[AIOKafkaConsumer] = []

    async def make(*topics: str, group_id: str | None = None, **overrides: Any) -> AIOKafkaConsumer:
        options: dict[str, Any] = {
            **kafka_settings.client_kwargs(),
            "client_id": f"{kafka_settings.client_id}-test-consumer",
            "group_id": group_id,
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "isolation_level": "read_committed",
            **overrides,
        }
        consumer = AIOKafkaConsumer(*topics, **options)
        await consumer.start()
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in reversed(consumers):
        with contextlib.suppress(Exception):
            await consumer.stop()
