"""server.properties generation, local-broker config and clear errors for missing tools."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.devkafka import (
    KafkaToolMissing,
    Listener,
    LocalKafka,
    LocalKafkaConfig,
    server_properties,
)
from services.devkafka.config import new_cluster_id, render_log4j2, render_properties
from services.devkafka.jars import libs_dir, render_pom
from services.devkafka.tools import Which, find_toolchain, parse_java_major
from tests.support.kafka import free_port_pair

DATA = Path("/srv/kafka/data")


def _props(
    *, extra_listeners: tuple[Listener, ...] = (), extra: dict[str, str] | None = None
) -> dict[str, str]:
    return server_properties(
        host="127.0.0.1",
        port=19092,
        controller_port=19093,
        data_dir=DATA,
        extra_listeners=extra_listeners,
        extra=extra,
    )


def test_base_properties_single_kraft_node() -> None:
    props = _props()
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(DATA)
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    # Static voters and --standalone exclude each other; the static form is used.
    assert "controller.quorum.bootstrap.servers" not in props


def test_extra_listener_and_properties_layer_on_top() -> None:
    props = _props(
        extra_listeners=(Listener(name="SASL_SSL", port=19094, security_protocol="SASL_SSL"),),
        extra={"sasl.enabled.mechanisms": "PLAIN", "group.initial.rebalance.delay.ms": "100"},
    )
    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:19094")
    assert props["advertised.listeners"].endswith(",SASL_SSL://127.0.0.1:19094")
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"].split(",")
    assert props["sasl.enabled.mechanisms"] == "PLAIN"
    assert props["group.initial.rebalance.delay.ms"] == "100", "extra overrides the base"


def test_extra_listener_cannot_reuse_a_port_or_base_name() -> None:
    with pytest.raises(ValueError, match="reuses port"):
        _props(extra_listeners=(Listener(name="EXTERNAL", port=19093),))
    with pytest.raises(ValueError, match="taken"):
        Listener(name="CONTROLLER", port=1)
    with pytest.raises(ValueError, match="upper-case"):
        Listener(name="sasl ssl", port=1)


def test_render_properties_escapes_and_rejects_line_breaks() -> None:
    text = render_properties({"a.b": "x", "path": "C:\\dir"})
    assert "a.b=x\n" in text
    assert "path=C:\\\\dir\n" in text
    with pytest.raises(ValueError, match="line breaks"):
        render_properties({"k": "one\ntwo"})
    with pytest.raises(ValueError, match="invalid property key"):
        render_properties({"bad key": "v"})


def test_log4j2_writes_to_the_log_file_only(tmp_path: Path) -> None:
    text = render_log4j2(tmp_path / "server.log")
    assert f"appender.file.fileName = {tmp_path / 'server.log'}" in text
    assert "Console" not in text


def test_cluster_id_has_kafka_uuid_format() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_pom_uses_the_slf4j_1_binding() -> None:
    pom = render_pom("4.1.1")
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert "slf4j2" not in pom


@pytest.mark.parametrize("version", ["4.1.1; rm -rf /", "../4.1.1", "latest", ""])
def test_version_is_validated(version: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="version"):
        libs_dir(tmp_path, version)


def test_config_from_env(tmp_path: Path) -> None:
    env = {
        "PEERLINK_KAFKA_PORT": "29092",
        "PEERLINK_KAFKA_VERSION": "4.0.0",
        "PEERLINK_KAFKA_CACHE": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }
    config = LocalKafkaConfig.from_env(env)
    assert config.port == 29092
    assert config.ctrl_port == 29093
    assert config.version == "4.0.0"
    assert config.cache_root == tmp_path / "cache"
    assert config.state_dir.parts[-3:] == ("peerlink", "run", "29092")
    assert config.bootstrap_servers == "127.0.0.1:29092"

    flagged = LocalKafkaConfig.from_env(env, port=39092, version=None, controller_port=40000)
    assert (flagged.port, flagged.ctrl_port, flagged.version) == (39092, 40000, "4.0.0")

    env["PEERLINK_KAFKA_STATE_DIR"] = str(tmp_path / "state")
    assert LocalKafkaConfig.from_env(env).state_dir == tmp_path / "state"


def test_defaults_stay_outside_the_repository() -> None:
    config = LocalKafkaConfig.from_env({})
    assert config.port == 9092
    assert config.version == "4.1.1"
    assert config.cache_root == Path.home() / ".cache" / "peerlink" / "kafka"
    assert config.state_dir == Path.home() / ".cache" / "peerlink" / "run" / "9092"


def test_local_kafka_properties_point_into_the_state_dir(tmp_path: Path) -> None:
    kafka = LocalKafka(LocalKafkaConfig(cache_root=tmp_path, state_dir=tmp_path, port=19092))
    props = kafka.server_properties()
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert kafka.libs_dir == tmp_path / "4.1.1" / "libs"


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def _which(*present: str) -> Which:
    def which(name: str) -> str | None:
        return f"/usr/bin/{name}" if name in present else None

    return which


def test_missing_java_names_it_and_how_to_install() -> None:
    with pytest.raises(KafkaToolMissing) as info:
        find_toolchain(which=_which("mvn"), env={}, check_version=False)
    message = str(info.value)
    assert message.startswith("Java not found")
    assert "install" in message
    assert "\n" not in message


def test_broken_java_home_is_reported() -> None:
    with pytest.raises(KafkaToolMissing, match="JAVA_HOME=/nowhere"):
        find_toolchain(which=_which("java", "mvn"), env={"JAVA_HOME": "/nowhere"})


def test_missing_maven_names_it_and_how_to_install() -> None:
    with pytest.raises(KafkaToolMissing) as info:
        find_toolchain(which=_which("java"), env={}, check_version=False)
    message = str(info.value)
    assert message.startswith("Maven (mvn) not found")
    assert "apt-get install maven" in message
    assert "\n" not in message


def test_maven_not_needed_when_jars_are_cached() -> None:
    tools = find_toolchain(which=_which("java"), env={}, need_maven=False, check_version=False)
    assert tools.maven is None
    assert tools.java == Path("/usr/bin/java")


async def test_up_without_tools_fails_before_starting_anything(tmp_path: Path) -> None:
    config = LocalKafkaConfig(
        cache_root=tmp_path / "cache", state_dir=tmp_path / "state", port=free_port_pair()
    )
    kafka = LocalKafka(config, which=lambda _name: None, env={})
    with pytest.raises(KafkaToolMissing, match="Java not found"):
        await kafka.up()
    assert not (tmp_path / "state").exists()


def test_cli_reports_missing_java_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PEERLINK_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PEERLINK_KAFKA_STATE_DIR", str(tmp_path / "state"))
    from services.cli import main

    assert main(["kafka", "up", "--port", str(free_port_pair())]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("peerlink: error: Java not found on PATH")
    assert len(err.splitlines()) == 1
