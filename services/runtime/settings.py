"""Settings shared by every service, read from the environment (12-factor).

Each service adds its own settings class with its own prefix; the Kafka connection below is
common and read from ``PEERLINK_KAFKA_*`` variables.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KafkaSettings"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Compression = Literal["snappy", "lz4", "zstd", "gzip", "none"]


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster."""

    model_config = SettingsConfigDict(env_prefix="PEERLINK_KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "peerlink"
    #: Prepended to every registry topic name, so several stacks can share one cluster.
    topic_prefix: str = ""
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    request_timeout_ms: int = Field(default=30_000, ge=1_000)
    #: Producer compression. snappy by default: aiokafka compresses lz4 at level 9 (high
    #: compression): 40.5 CPU µs per 4.5 KB change record here against 12.5 for snappy, all
    #: else equal (bench/README.md, "Send path"); on a CPU-bound service that decides.
    compression: Compression = "snappy"

    def topic_name(self, logical_name: str) -> str:
        """The physical topic name of a registry topic."""
        return f"{self.topic_prefix}{logical_name}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        context.check_hostname = self.ssl_check_hostname
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments shared by aiokafka producers, consumers and admins."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return kwargs
