"""The checked-in JSON Schema, examples and AsyncAPI document match the models."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import export
from schemas.topics import TOPICS


def test_checked_in_artefacts_match_the_models() -> None:
    problems = export.check()
    assert problems == [], "run `peerlink schemas export`: " + ", ".join(problems)


def test_drift_is_detected(tmp_path: Path) -> None:
    export.write(tmp_path)
    assert export.check(tmp_path) == []
    target = tmp_path / "jsonschema" / "peerlink.contact.logged.json"
    schema = json.loads(target.read_text())
    schema["properties"].pop("subject")
    target.write_text(json.dumps(schema))
    (tmp_path / "jsonschema" / "stale.json").write_text("{}")
    (tmp_path / "asyncapi.json").unlink()
    assert export.check(tmp_path) == [
        "missing asyncapi.json",
        "no longer generated jsonschema/stale.json",
        "out of date jsonschema/peerlink.contact.logged.json",
    ]


def test_asyncapi_documents_every_registry_topic() -> None:
    document = json.loads((export.GENERATED_DIR / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {t.name for t in TOPICS}
    for channel in document["channels"].values():
        for message in channel["messages"].values():
            name = message["$ref"].rsplit("/", 1)[-1]
            assert name in document["components"]["messages"]
    changes = document["channels"]["caregaps_changes_v1"]["bindings"]["kafka"]
    assert changes["partitions"] == 4
