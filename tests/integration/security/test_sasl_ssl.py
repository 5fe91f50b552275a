"""Services connect with SASL/SCRAM over TLS when configured.

Scenario: a local broker gets a second listener, SASL_SSL with SCRAM-SHA-256, whose server
certificate is signed by a CA made here. A producer and a consumer built by the runtime from
``KafkaSettings`` round-trip a record over it. A wrong password fails fast with an
authentication error, and a client that does not trust the CA fails on the handshake; neither
hangs.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

from services.devkafka.broker import LocalKafka, LocalKafkaConfig
from services.devkafka.config import Listener
from services.runtime.connect import KafkaConnectFailed, start_client
from services.runtime.processor import create_consumer
from services.runtime.producer import create_producer
from services.runtime.records import ConsumerPolicy
from services.runtime.settings import KafkaSettings
from tests.support.kafka import free_port_pair

pytestmark = pytest.mark.kafka

USER = "peerlink-intake"
PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    keystore: Path  # PEM: PKCS#8 key followed by the certificate


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path) -> Pki:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=PeerLink Test CA",
        cwd=directory,
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
        cwd=directory,
    )  # fmt: skip
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.p8", cwd=directory)
    keystore = directory / "keystore.pem"
    keystore.write_text(
        (directory / "server.p8").read_text() + (directory / "server.pem").read_text()
    )
    return Pki(ca_cert=directory / "ca.pem", keystore=keystore)


@dataclass(frozen=True)
class SecureBroker:
    secure: KafkaSettings
    plaintext: KafkaSettings


@pytest.fixture(scope="module")
async def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureBroker]:
    root = tmp_path_factory.mktemp("sasl-ssl")
    pki = make_pki(root)
    port = free_port_pair()
    sasl_port = free_port_pair()
    config = LocalKafkaConfig.from_env(
        port=port,
        state_dir=root / "broker",
        extra_listeners=(Listener(name="SASL_SSL", port=sasl_port, security_protocol="SASL_SSL"),),
        extra_properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(pki.keystore),
        },
        scram_users=(("SCRAM-SHA-256", USER, PASSWORD),),
    )
    broker = LocalKafka(config)
    plaintext = await broker.up(topics=None)
    secure = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{sasl_port}",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password=SecretStr(PASSWORD),
        ssl_cafile=str(pki.ca_cert),
        request_timeout_ms=5_000,
    )
    try:
        yield SecureBroker(secure=secure, plaintext=plaintext)
    finally:
        broker.down()


async def _create_topic(settings: KafkaSettings) -> str:
    name = f"sasl-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def test_round_trip_over_sasl_ssl(secure_broker: SecureBroker) -> None:
    topic = await _create_topic(secure_broker.secure)
    producer = create_producer(secure_broker.secure)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello over tls", key=b"p-000123")
    finally:
        await producer.stop()
    consumer = create_consumer(
        secure_broker.secure, ConsumerPolicy(group_id=f"g-{topic}", topics=(topic,))
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value == b"hello over tls"
    assert record.key == b"p-000123"


async def test_wrong_password_fails_fast_with_an_authentication_error(
    secure_broker: SecureBroker,
) -> None:
    wrong = secure_broker.secure.model_copy(update={"sasl_password": SecretStr("guess")})
    producer = create_producer(wrong)
    with pytest.raises(KafkaConnectFailed) as caught:
        await asyncio.wait_for(
            start_client(producer.start, servers=wrong.bootstrap_servers, what="producer"),
            timeout=30,
        )
    await producer.stop()
    assert caught.value.permanent
    assert "Authentication failed" in str(caught.value)
    assert "guess" not in str(caught.value)


async def test_untrusted_server_certificate_is_refused(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    other_ca = make_pki(tmp_path).ca_cert
    untrusting = secure_broker.secure.model_copy(update={"ssl_cafile": str(other_ca)})
    producer = create_producer(untrusting)
    with pytest.raises(KafkaConnectFailed) as caught:
        await asyncio.wait_for(
            start_client(producer.start, servers=untrusting.bootstrap_servers, what="producer"),
            timeout=30,
        )
    await producer.stop()
    assert caught.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
