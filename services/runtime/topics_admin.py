"""Creating the registry's topics on a cluster, idempotently, and waiting for a broker.

Used by ``peerlink kafka up`` (local broker), ``peerlink topics create`` (the docker-compose
topic bootstrapper) and the integration-test session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from schemas.topics import TOPICS, Topic
from services.runtime.settings import KafkaSettings

__all__ = [
    "BrokerUnreachable",
    "TopicAdminError",
    "admin_client",
    "broker_answers",
    "ensure_topics",
    "wait_for_broker",
]


class BrokerUnreachable(TimeoutError):
    """No broker answered within the allowed time."""


class TopicAdminError(RuntimeError):
    """A topic could not be created, or exists with a conflicting partition count."""


def admin_client(settings: KafkaSettings, **overrides: Any) -> AIOKafkaAdminClient:
    """An unstarted admin client for ``settings``; the caller owns ``start()``/``close()``."""
    kwargs: dict[str, Any] = {
        **settings.client_kwargs(),
        "client_id": f"{settings.client_id}-admin",
        **overrides,
    }
    return AIOKafkaAdminClient(**kwargs)


def _endpoints(bootstrap_servers: str) -> list[tuple[str, int]]:
    endpoints = []
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            endpoints.append((host.strip("[]"), int(port)))
    return endpoints


async def _tcp_open(bootstrap_servers: str, timeout_s: float) -> bool:
    """Whether any bootstrap endpoint accepts a TCP connection.

    Checked before the Kafka handshake because aiokafka logs an ERROR for every refused
    connection, which would flood the terminal while a broker is still starting.
    """
    for host, port in _endpoints(bootstrap_servers):
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=timeout_s
            )
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def broker_answers(settings: KafkaSettings, *, timeout_s: float = 5.0) -> bool:
    """Whether the cluster answers a metadata request within ``timeout_s``."""
    if not await _tcp_open(settings.bootstrap_servers, timeout_s):
        return False
    admin = admin_client(settings, request_timeout_ms=max(1_000, int(timeout_s * 1000)))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


async def wait_for_broker(
    settings: KafkaSettings,
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.5,
    abort: Callable[[], str | None] | None = None,
) -> float:
    """Poll until the cluster answers; return the seconds waited.

    ``abort`` is asked before each try and returns a reason to give up early (e.g. the local
    broker process exited). Raises ``BrokerUnreachable`` on timeout or abort.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        if abort is not None:
            reason = abort()
            if reason is not None:
                raise BrokerUnreachable(reason)
        remaining = deadline - time.monotonic()
        if await broker_answers(settings, timeout_s=max(1.0, min(5.0, remaining))):
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            raise BrokerUnreachable(
                f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:g} s"
            )
        await asyncio.sleep(interval_s)


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], *, timeout_s: float = 10.0
) -> dict[str, int]:
    """Partition count per topic, waiting briefly for topics that metadata does not show yet
    (a topic just created by someone else can lag behind in the broker's metadata)."""
    counts: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        pending = [name for name in names if name not in counts]
        for entry in await admin.describe_topics(pending):
            if entry.get("error_code", 0) == 0 and entry["partitions"]:
                counts[entry["topic"]] = len(entry["partitions"])
        if len(counts) == len(names) or time.monotonic() >= deadline:
            return counts
        await asyncio.sleep(0.1)


async def ensure_topics(
    settings: KafkaSettings,
    topics: Iterable[Topic] = TOPICS,
    *,
    replication_factor: int = 1,
    timeout_ms: int = 30_000,
) -> list[str]:
    """Create every missing topic (with the settings' prefix); return the names created.

    Topics that already exist are left alone, but one whose partition count differs from the
    registry is an error: all topics must stay co-partitioned by participant key.
    """
    wanted = {settings.topic_name(t.name): t for t in topics}
    admin = admin_client(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=t.partitions,
                replication_factor=replication_factor,
                topic_configs=t.topic_configs(),
            )
            for name, t in wanted.items()
            if name not in existing
        ]
        created: list[str] = []
        failures: list[str] = []
        # Topics that existed before, or that another bootstrapper created meanwhile.
        to_verify = [name for name in wanted if name in existing]
        if missing:
            response = await admin.create_topics(missing, timeout_ms=timeout_ms)
            for name, code, *rest in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif code == TopicAlreadyExistsError.errno:
                    to_verify.append(name)
                else:
                    message = rest[0] if rest and rest[0] else ""
                    failures.append(f"{name}: {for_code(code).__name__} {message}".strip())
        if to_verify:
            counts = await _partition_counts(admin, to_verify)
            for name in to_verify:
                if name not in counts:
                    failures.append(f"{name}: exists but its metadata is unavailable")
                elif counts[name] != wanted[name].partitions:
                    failures.append(
                        f"{name}: has {counts[name]} partitions, "
                        f"registry says {wanted[name].partitions}"
                    )
        if failures:
            raise TopicAdminError("topic set-up failed: " + "; ".join(failures))
        return created
    finally:
        await admin.close()
