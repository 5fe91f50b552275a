"""Generate the checked-in contract artefacts from the pydantic models and topic registry.

``peerlink schemas export`` writes them; ``peerlink schemas export --check`` (and a test) fails
when the files on disk differ from what the models produce, so they never drift.

Artefacts under ``schemas/generated/``:
- ``jsonschema/<event type>.json``: one JSON Schema (2020-12) per event type;
- ``examples/<event type>.json``: the model's examples, each valid by construction;
- ``asyncapi.json``: AsyncAPI 3.0 document of every topic in the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.events import EVENT_MODELS, SCHEMA_VERSION, event_type
from schemas.topics import TOPICS, Topic

__all__ = ["GENERATED_DIR", "check", "render", "write"]

GENERATED_DIR = Path(__file__).parent / "generated"

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCHEMA_ID_BASE = "https://peerlink.example/schemas/v1/"


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _event_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for model in EVENT_MODELS:
        type_ = event_type(model)
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = _JSON_SCHEMA_DIALECT
        schema["$id"] = f"{_SCHEMA_ID_BASE}{type_}.json"
        schemas[type_] = schema
    return schemas


def _event_examples() -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for model in EVENT_MODELS:
        extra = model.model_config.get("json_schema_extra")
        items = extra.get("examples", []) if isinstance(extra, dict) else []
        result[event_type(model)] = list(items) if isinstance(items, list) else []
    return result


def _channel_id(topic: Topic) -> str:
    return topic.name.replace(".", "_")


def _topic_messages(topic: Topic, event_types: list[str]) -> dict[str, Any]:
    if topic.payload == "schemas.events.Event":
        if topic.name == "caregaps.changes.v1":
            names = ["peerlink.caregaps.changed"]
        elif topic.name == "caregaps.clock.v1":
            names = ["peerlink.clock.tick"]
        else:
            internal = ("peerlink.caregaps.changed", "peerlink.clock.tick")
            names = [t for t in event_types if t not in internal]
        return {
            name.replace(".", "_"): {"$ref": f"#/components/messages/{name.replace('.', '_')}"}
            for name in names
        }
    opaque = _channel_id(topic) + "_record"
    return {opaque: {"$ref": f"#/components/messages/{opaque}"}}


def _asyncapi(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    event_types = list(schemas)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    components_schemas: dict[str, Any] = {}
    for type_, schema in schemas.items():
        key = type_.replace(".", "_")
        components_schemas[key] = {k: v for k, v in schema.items() if k != "$schema"}
        messages[key] = {
            "name": type_,
            "title": schema.get("title", type_),
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{key}"},
            "bindings": {"kafka": {"key": {"type": "string"}, "bindingVersion": "0.5.0"}},
        }
    for topic in TOPICS:
        channel = _channel_id(topic)
        topic_messages = _topic_messages(topic, event_types)
        for ref_name in topic_messages:
            if ref_name not in messages:
                messages[ref_name] = {
                    "name": ref_name,
                    "contentType": topic.content_type,
                    "payload": {"description": f"{topic.payload} ({topic.content_type})"},
                }
        channels[channel] = {
            "address": topic.name,
            "description": topic.description,
            "messages": topic_messages,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": topic.cleanup_policy.value.split(","),
                        **(
                            {"retention.ms": topic.retention_ms}
                            if topic.retention_ms is not None
                            else {}
                        ),
                    },
                    "bindingVersion": "0.5.0",
                }
            },
            "x-record-key": topic.key.value,
        }
        for producer in topic.producers:
            if not producer.startswith("["):
                operations[f"{producer}_sends_{channel}"] = {
                    "action": "send",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": f"{producer} writes {topic.name}",
                }
        for consumer in topic.consumers:
            if not consumer.startswith("["):
                operations[f"{consumer}_receives_{channel}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": f"{consumer} reads {topic.name}",
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PeerLink",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": "Diabetes peer-support events, care-gap changes and FHIR R4 "
            "resources on Kafka. Every keyed topic is keyed by the pseudonymous participant "
            "key and co-partitioned.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "Local broker started by `peerlink kafka up`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components_schemas},
    }


def render() -> dict[Path, str]:
    """Every generated file (path relative to ``GENERATED_DIR``) with its exact content."""
    schemas = _event_schemas()
    files: dict[Path, str] = {}
    for type_, schema in schemas.items():
        files[Path("jsonschema") / f"{type_}.json"] = _dump(schema)
    for type_, items in _event_examples().items():
        files[Path("examples") / f"{type_}.json"] = _dump(items)
    files[Path("asyncapi.json")] = _dump(_asyncapi(schemas))
    return files


def write(target: Path = GENERATED_DIR) -> list[Path]:
    """Write the artefacts, removing generated files that no model produces any more."""
    files = render()
    for old in target.rglob("*.json"):
        if old.relative_to(target) not in files:
            old.unlink()
    written = []
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def check(target: Path = GENERATED_DIR) -> list[str]:
    """Describe every drift between the models and the files on disk (empty when in sync)."""
    files = render()
    problems = []
    for relative, content in files.items():
        path = target / relative
        if not path.exists():
            problems.append(f"missing {relative}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"out of date {relative}")
    for existing in target.rglob("*.json"):
        if existing.relative_to(target) not in files:
            problems.append(f"no longer generated {existing.relative_to(target)}")
    return sorted(problems)
