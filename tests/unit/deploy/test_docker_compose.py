"""docker-compose.yml checked statically against the code (there is no Docker engine here).

Images are pinned, the Kafka image runs the same major version the tests run, every command
resolves to a real ``peerlink`` sub-command, every PEERLINK_* variable a container sets is
read by that service's settings (no typos), every required setting is set, every long-running
service has a health check on the port its settings serve, and volumes are named.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.cli import build_parser
from services.devkafka import DEFAULT_VERSION
from services.runtime.settings import KafkaSettings

COMPOSE = Path(__file__).parents[3] / "docker-compose.yml"

#: The settings classes each service command reads (besides KafkaSettings).
SERVICE_SETTINGS: dict[str, tuple[str, ...]] = {
    "topics": (),
    "intake": ("services.intake.settings:IntakeSettings",),
    "caregaps": ("services.caregaps.settings:EngineSettings",),
    "clock": ("services.caregaps.settings:ClockSettings",),
    "fhir-publisher": ("services.fhir_publisher.config:PublisherSettings",),
    "evaluation": ("services.evaluation.settings:EvaluationSettings",),
}
#: Read by the runtime in every service (logging).
COMMON_VARIABLES = {"PEERLINK_LOG_LEVEL", "PEERLINK_LOG_KEY_SALT"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _peerlink_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in compose["services"].items()
        if str(spec.get("image", "")).startswith("peerlink:")
    }


def _settings_classes(service: str) -> list[type[BaseSettings]]:
    classes: list[type[BaseSettings]] = [KafkaSettings]
    for dotted in SERVICE_SETTINGS[service]:
        module, _, name = dotted.partition(":")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, BaseSettings)
        classes.append(cls)
    return classes


def _env_name(cls: type[BaseSettings], field: str) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        image = spec["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image} has no tag"
        assert tag not in ("", "latest"), f"{name}: image {image} is not pinned"


def test_kafka_is_the_official_image_in_kraft_mode_on_the_tested_major_version(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    repository, _, tag = kafka["image"].partition(":")
    assert repository == "apache/kafka"
    assert tag.split(".")[0] == DEFAULT_VERSION.split(".")[0]
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka" in kafka["healthcheck"]["test"][-1]


def test_every_service_command_is_a_real_peerlink_subcommand(compose: dict[str, Any]) -> None:
    parser = build_parser()
    services = _peerlink_services(compose)
    assert set(services) == set(SERVICE_SETTINGS)
    for name, spec in services.items():
        args = parser.parse_args(spec["command"])  # exits (fails the test) when unknown
        assert callable(args.handler), name


def test_every_variable_set_is_read_and_every_required_setting_is_set(
    compose: dict[str, Any],
) -> None:
    for name, spec in _peerlink_services(compose).items():
        env = spec.get("environment", {})
        classes = _settings_classes(name)
        known = set(COMMON_VARIABLES)
        for cls in classes:
            known |= {_env_name(cls, field) for field in cls.model_fields}
        unknown = {var for var in env if var.startswith("PEERLINK_")} - known
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"
        for cls in classes:
            for field, info in cls.model_fields.items():
                if info.is_required():
                    assert _env_name(cls, field) in env, f"{name} misses {field}"


def test_long_running_services_have_health_checks_on_their_ops_port(
    compose: dict[str, Any],
) -> None:
    for name, spec in _peerlink_services(compose).items():
        if spec.get("restart") == "no":
            continue  # the one-shot topic bootstrapper
        check = spec.get("healthcheck")
        assert check, f"{name} has no health check"
        probe = " ".join(check["test"])
        env = spec["environment"]
        ports = [env[var] for var in env if var.endswith("_OPS_PORT")] or [
            env[var] for var in env if var.endswith("_HTTP_PORT")
        ]
        assert ports, f"{name} sets no port its health routes are served on"
        assert f":{ports[0]}/readyz" in probe, f"{name} health check is not on its ops port"


def test_the_bootstrapper_runs_before_the_services(compose: dict[str, Any]) -> None:
    for name, spec in _peerlink_services(compose).items():
        if name == "topics":
            assert spec["depends_on"]["kafka"]["condition"] == "service_healthy"
        else:
            assert spec["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_volumes_are_named_and_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    for name, spec in compose["services"].items():
        for mount in spec.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert not source.startswith(("/", ".")), f"{name} uses a bind mount {source}"
            assert source in declared, f"{name} uses undeclared volume {source}"
