"""Kafka settings from the environment and the safe producer factory."""

from __future__ import annotations

import pytest

from services.runtime.producer import create_producer
from services.runtime.settings import KafkaSettings


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERLINK_KAFKA_BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("PEERLINK_KAFKA_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("PEERLINK_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PEERLINK_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PEERLINK_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("PEERLINK_KAFKA_SASL_PASSWORD", "s3cret")
    settings = KafkaSettings()
    assert settings.topic_name("peer.events.v1") == "staging.peer.events.v1"
    kwargs = settings.client_kwargs()
    assert kwargs["bootstrap_servers"] == "k1:9093,k2:9093"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(settings)


def test_plaintext_has_no_ssl_context() -> None:
    assert KafkaSettings().ssl_context() is None
    assert "ssl_context" not in KafkaSettings().client_kwargs()


def test_invalid_protocol_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERLINK_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValueError, match="security_protocol"):
        KafkaSettings()


async def test_producer_is_acks_all_and_idempotent() -> None:
    producer = create_producer(KafkaSettings())
    try:
        # Idempotence in aiokafka means a transaction manager assigning producer ids.
        assert producer._txn_manager is not None
        assert producer._sender._acks == -1  # acks=all
        assert producer._compression_type == "snappy"
    finally:
        await producer.stop()


@pytest.mark.parametrize(("setting", "codec"), [("lz4", "lz4"), ("zstd", "zstd"), ("none", None)])
async def test_producer_compression_follows_the_setting(
    monkeypatch: pytest.MonkeyPatch, setting: str, codec: str | None
) -> None:
    monkeypatch.setenv("PEERLINK_KAFKA_COMPRESSION", setting)
    producer = create_producer(KafkaSettings())
    try:
        assert producer._compression_type == codec
    finally:
        await producer.stop()


def test_producer_safety_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="safety"):
        create_producer(KafkaSettings(), acks=1)
