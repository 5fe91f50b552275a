"""The files a local single-node KRaft broker runs from: server.properties and log4j2 config.

``server_properties`` is the single place the broker configuration is built. Extra listeners
(e.g. a SASL_SSL one) and extra properties (JAAS, keystores, ...) are layered on top of the
PLAINTEXT + CONTROLLER base, so a later TLS set-up does not fork this function.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "Listener",
    "SecurityProtocol",
    "new_cluster_id",
    "render_log4j2",
    "render_properties",
    "server_properties",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]

NODE_ID = 1


@dataclass(frozen=True, kw_only=True)
class Listener:
    """An additional client listener, e.g. ``Listener(name="SASL_SSL", port=19094)``."""

    name: str
    port: int
    security_protocol: SecurityProtocol = "PLAINTEXT"
    host: str = "127.0.0.1"
    #: Host clients are told to connect to; defaults to ``host``.
    advertised_host: str | None = None

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").isalnum() or not self.name.isupper():
            raise ValueError(f"listener name must be upper-case letters/digits/_: {self.name!r}")
        if self.name in ("PLAINTEXT", "CONTROLLER"):
            raise ValueError(f"listener name {self.name} is taken by the base configuration")


def server_properties(
    *,
    host: str,
    port: int,
    controller_port: int,
    data_dir: Path,
    extra_listeners: Iterable[Listener] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The broker configuration: a combined broker+controller node with one PLAINTEXT listener.

    ``extra`` is applied last, so it may override any base value.
    """
    listeners = [f"PLAINTEXT://{host}:{port}", f"CONTROLLER://{host}:{controller_port}"]
    advertised = [f"PLAINTEXT://{host}:{port}"]
    protocol_map = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    used_ports = {port, controller_port}
    for listener in extra_listeners:
        if listener.port in used_ports:
            raise ValueError(f"listener {listener.name} reuses port {listener.port}")
        used_ports.add(listener.port)
        listeners.append(f"{listener.name}://{listener.host}:{listener.port}")
        advertised.append(
            f"{listener.name}://{listener.advertised_host or listener.host}:{listener.port}"
        )
        protocol_map.append(f"{listener.name}:{listener.security_protocol}")

    props: dict[str, str] = {
        # KRaft, one node that is both broker and controller.
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(protocol_map),
        "log.dirs": str(data_dir),
        # A single broker: every internal topic must accept one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # Fewer internal partitions than the default 50: faster first group/transaction use.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.num.partitions": "4",
        # Tests start consumer groups constantly; don't wait 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # Topics come from the registry (or a test's explicit admin call), never by accident.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "log.retention.check.interval.ms": "300000",
    }
    if extra:
        props.update(extra)
    return props


def _escape(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("property values cannot contain line breaks")
    # Java properties treat a backslash as an escape character.
    return value.replace("\\", "\\\\")


def render_properties(props: Mapping[str, str]) -> str:
    """Java ``.properties`` text, one ``key=value`` per line in the given order."""
    lines = ["# Written by `peerlink kafka up`; regenerated on every start."]
    for key, value in props.items():
        if not key or any(c in key for c in " =:\\\n\r"):
            raise ValueError(f"invalid property key: {key!r}")
        lines.append(f"{key}={_escape(value)}")
    return "\n".join(lines) + "\n"


def render_log4j2(log_file: Path) -> str:
    """log4j2 configuration (properties syntax, no YAML parser needed) writing to one file."""
    path = _escape(str(log_file))
    return f"""# Written by `peerlink kafka up`: broker logs go to a file, not the terminal.
status = warn
name = peerlink-devkafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {path}
appender.file.filePattern = {path}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request and state-change chatter is only useful when debugging the broker itself.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
"""


def new_cluster_id() -> str:
    """A KRaft cluster id in Kafka's format: url-safe base64 of 16 random bytes, unpadded.

    Generated here rather than with ``StorageTool random-uuid`` to save a JVM start. Like
    Kafka's ``Uuid.randomUuid`` it avoids a leading ``-``, which command lines mistake for
    an option.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
