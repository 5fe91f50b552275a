"""Start aiokafka clients with errors that say what went wrong.

aiokafka reports a refused SASL login or a failed TLS handshake only as "Unable to
bootstrap", logging the real cause. ``start_client`` captures that cause and raises
:class:`KafkaConnectFailed` naming it, and marks credential and certificate problems as
permanent so services fail fast instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaConnectionError, KafkaError

from services.runtime.health import Health
from services.runtime.metrics import ServiceMetrics
from services.runtime.records import RetryPolicy

__all__ = ["KafkaConnectFailed", "start_client", "start_with_retry"]

_log = logging.getLogger("peerlink.runtime.connect")

_PERMANENT_MARKERS = (
    "SaslAuthenticationFailed",
    "Authentication failed",
    "CERTIFICATE_VERIFY_FAILED",
    "SSLError",
    "UnsupportedSaslMechanism",
    "IllegalSaslState",
)


class KafkaConnectFailed(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """A client could not connect; ``permanent`` when retrying cannot help."""

    retriable = False

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class _LastError(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


async def start_client(start: Callable[[], Awaitable[None]], *, servers: str, what: str) -> None:
    """Await ``start()``; on a connection failure raise ``KafkaConnectFailed`` with the cause.

    The cause is aiokafka's own message (broker address and error class, never payloads).
    """
    capture = _LastError()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(capture)
    try:
        await start()
    except KafkaConnectionError as exc:
        cause = capture.message or str(exc)
        permanent = any(marker in cause for marker in _PERMANENT_MARKERS)
        raise KafkaConnectFailed(
            f"{what} cannot connect to Kafka at {servers}: {cause}", permanent=permanent
        ) from exc
    finally:
        logger.removeHandler(capture)


async def start_with_retry(
    start: Callable[[], Awaitable[None]],
    *,
    servers: str,
    what: str,
    health: Health,
    retry: RetryPolicy,
    metrics: ServiceMetrics | None = None,
) -> None:
    """Start a client, backing off while the broker is unreachable (never a tight loop).

    Rejected credentials or certificates are permanent: reported unhealthy and raised.
    """
    attempt = 0
    while True:
        try:
            await start_client(start, servers=servers, what=what)
            health.clear("kafka")
            return
        except KafkaConnectFailed as exc:
            if exc.permanent:
                health.set_unhealthy("kafka", f"{what} rejected by the broker")
                raise
            error: KafkaError = exc
        except KafkaError as exc:
            error = exc
        attempt += 1
        delay = retry.delay(attempt)
        health.set_unhealthy("kafka", f"{what} cannot connect")
        _log.warning(
            "kafka not reachable, retrying",
            extra={"error_class": type(error).__name__, "attempt": attempt, "delay_s": delay},
        )
        if metrics is not None:
            metrics.retries.inc()
        await asyncio.sleep(delay)
