"""A local Apache Kafka 4.x broker for development and tests, run from the official jars.

Java 17+ runs it; Maven fetches its jars once into a cache outside the git tree.
"""

from services.devkafka.broker import (
    DEFAULT_PORT,
    DEFAULT_VERSION,
    BrokerStatus,
    KafkaStartError,
    LocalKafka,
    LocalKafkaConfig,
    default_cache_root,
    default_state_dir,
)
from services.devkafka.config import Listener, server_properties
from services.devkafka.jars import KafkaJarFetchError
from services.devkafka.tools import KafkaToolMissing

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "BrokerStatus",
    "KafkaJarFetchError",
    "KafkaStartError",
    "KafkaToolMissing",
    "Listener",
    "LocalKafka",
    "LocalKafkaConfig",
    "default_cache_root",
    "default_state_dir",
    "server_properties",
]
