"""Shared Kafka plumbing: settings, producers, the at-least-once processor, health, metrics.

Services import from here rather than building their own clients, so delivery guarantees,
PHI-safe logging and health reporting are implemented once.
"""

from services.runtime.connect import KafkaConnectFailed, start_client
from services.runtime.gc_tuning import tune_gc
from services.runtime.health import Health, HealthReport
from services.runtime.logging import configure_logging, get_logger, hash_key
from services.runtime.metrics import ServiceMetrics
from services.runtime.ops_http import OpsServer, ops_routes
from services.runtime.processor import (
    BatchHandler,
    PauseConsumption,
    Processor,
    create_consumer,
)
from services.runtime.producer import create_producer
from services.runtime.records import (
    ConsumerPolicy,
    OutRecord,
    PartitionBatch,
    RetryPolicy,
    dead_letter,
    header,
)
from services.runtime.sending import send_all
from services.runtime.settings import KafkaSettings

__all__ = [
    "BatchHandler",
    "ConsumerPolicy",
    "Health",
    "HealthReport",
    "KafkaConnectFailed",
    "KafkaSettings",
    "OpsServer",
    "OutRecord",
    "PartitionBatch",
    "PauseConsumption",
    "Processor",
    "RetryPolicy",
    "ServiceMetrics",
    "configure_logging",
    "create_consumer",
    "create_producer",
    "dead_letter",
    "get_logger",
    "hash_key",
    "header",
    "ops_routes",
    "send_all",
    "start_client",
    "tune_gc",
]
