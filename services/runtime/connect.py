"""Start aiokafka clients with errors that say what went wrong.

aiokafka reports a refused SASL login or a failed TLS handshake only as "Unable to
bootstrap", logging the real cause. ``start_client`` captures that cause and raises
:class:`KafkaConnectFailed` naming it, and marks credential and certificate problems as
permanent so services fail fast instead of retrying forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaConnectionError, KafkaError

__all__ = ["KafkaConnectFailed", "start_client"]

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
