"""Seeded generators of hostile intake inputs, and a real intake process to send them to."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from services.demo.processes import ServiceProcess, ServiceSpec
from services.devkafka.ports import free_port
from services.runtime.settings import KafkaSettings
from tests.unit.intake import examples as ex
from tests.unit.intake.corpus import RAW, malformed_corpus

__all__ = ["Hostile", "hostile_inputs", "intake_process", "proc_rss_kb"]

KINDS = (
    "random_bytes",
    "deep_json",
    "huge_string",
    "out_of_range",
    "unicode",
    "absurd",
    "replayed",
    "conflicting",
    "corpus",
    "valid",
)


@dataclass(frozen=True)
class Hostile:
    kind: str
    value: bytes
    key: bytes
    #: The event id when the input carries one that intake could accept.
    event_id: str | None = None


def _valid(rng: random.Random, n: int) -> dict[str, Any]:
    participant = f"p-h{rng.randrange(10_000):05d}"
    return ex.valid_submission(n, participant)


def _deep(depth: int, as_list: bool) -> bytes:
    return (b"[" * depth + b"]" * depth) if as_list else (b'{"a":' * depth + b"1" + b"}" * depth)


def _unicode(rng: random.Random) -> str:
    pieces = [
        "\u202e",  # right-to-left override
        "\u200b\u200d\ufeff",  # zero width and BOM
        "\x00",
        "\U0001f9ea" * 50,  # astral plane
        "e\u0301" * 30,  # combining marks
        "\ufffd",
        "\u0000\u0001\u001f",
        "A" * rng.randrange(1, 300),
    ]
    return "".join(rng.sample(pieces, k=rng.randrange(1, len(pieces))))


def _mutate(rng: random.Random, doc: dict[str, Any], kind: str) -> bytes:
    data = doc["data"]
    if kind == "out_of_range":
        value = rng.choice(
            [10**30, -(10**30), 2**63, -1, 1e308, -1e308, 0, 1e-320, 2**64 + 1, "NaN"]
        )
        field = rng.choice(["duration_min", "programme_id", "supporter_id", "channel"])
        data[field] = value
        raw = orjson.dumps(doc) if not isinstance(value, int) or abs(value) < 2**63 else None
        if raw is None:
            raw = json.dumps(doc).encode()
        if rng.random() < 0.3:  # literals JSON does not have
            raw = raw.replace(b'"sup-12"', rng.choice([b"NaN", b"Infinity", b"1e999", b"-0"]))
        return raw
    if kind == "unicode":
        target = rng.choice(["subject", "supporter_id", "programme_id", "note", "type", "id"])
        if target in ("supporter_id", "programme_id"):
            data[target] = _unicode(rng)
        elif target == "note":
            data["free_text"] = _unicode(rng)
        else:
            doc[target] = _unicode(rng)
        raw = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        if rng.random() < 0.2:
            raw = raw.replace(b"sup", b"\xed\xa0\x80")  # a lone surrogate, invalid UTF-8
        if rng.random() < 0.2:
            raw = raw.replace(b"sup", b"\\ud800")  # an escaped lone surrogate
        return raw
    if kind == "huge_string":
        size = rng.choice([70_000, 200_000, 900_000])
        data["supporter_id"] = "x" * size
        return orjson.dumps(doc)
    if kind == "absurd":
        choice = rng.randrange(5)
        if choice == 0:
            doc.update(ex.result(value=rng.choice([0.0, 99.9, 250.0, 1e6])))
        elif choice == 1:
            data["duration_min"] = rng.choice([0, 100_000, 10**6])
        elif choice == 2:
            doc["time"] = rng.choice(
                ["1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]
            )
        elif choice == 3:
            doc.update(ex.result(value=rng.choice([-5.0, 0.1]), unit="%"))
        else:
            doc["subject"] = "p-" + "9" * rng.randrange(1, 200)
        return orjson.dumps(doc)
    raise ValueError(kind)


def hostile_inputs(seed: int, count: int) -> Iterator[Hostile]:
    """``count`` inputs across every kind (each kind in turn), reproducible from ``seed``."""
    rng = random.Random(seed)
    corpus = [c for c in malformed_corpus() if c.input == RAW and c.value is not None]
    sent_valid: list[tuple[str, bytes, bytes]] = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        key = f"p-h{rng.randrange(10_000):05d}".encode()
        if kind == "random_bytes":
            yield Hostile(kind, rng.randbytes(rng.randrange(0, 4_000)), key)
        elif kind == "deep_json":
            yield Hostile(kind, _deep(rng.choice([50, 1_000, 20_000]), rng.random() < 0.5), key)
        elif kind == "corpus":
            case = corpus[n // len(KINDS) % len(corpus)]
            yield Hostile(kind, case.value or b"", key)
        elif kind in ("valid", "absurd", "out_of_range", "unicode", "huge_string"):
            doc = _valid(rng, n)
            doc["id"] = f"evt-hostile-{seed}-{n:06d}"
            key = str(doc["subject"]).encode()
            if kind == "valid":
                value = orjson.dumps(doc)
                sent_valid.append((doc["id"], value, key))
            else:
                value = _mutate(rng, doc, kind)
            yield Hostile(kind, value, key, event_id=doc["id"])
        elif kind == "replayed" and sent_valid:
            eid, value, key = rng.choice(sent_valid)
            yield Hostile(kind, value, key, event_id=eid)
        elif kind == "conflicting" and sent_valid:
            eid, value, key = rng.choice(sent_valid)
            doc = orjson.loads(value)
            doc["time"] = "2026-03-05T10:00:00Z"
            yield Hostile(kind, orjson.dumps(doc), key, event_id=eid)
        else:
            yield Hostile("random_bytes", rng.randbytes(16), key)


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def intake_process(
    settings: KafkaSettings, *, group: str, log_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[ServiceProcess, int]:
    """A real intake process for the example programmes; returns it and its HTTP port."""
    port = free_port()
    programmes = {ex.PROGRAMME: [m.value for m in ex.settings().programmes[ex.PROGRAMME]]}
    programmes[ex.OTHER_PROGRAMME] = ["telephone_peer_partner"]
    spec = ServiceSpec(
        name="intake",
        cli_module="services.cli.intake_cmd",
        argv=("intake", "run", "--port", str(port)),
        group_id=group,
        inputs=("peer.intake.raw", "clinic.fhir.inbound"),
        env={
            "PEERLINK_INTAKE_PROGRAMMES": orjson.dumps(programmes).decode(),
            "PEERLINK_INTAKE_TOKENS": orjson.dumps(ex.TOKEN_HASHES).decode(),
            "PEERLINK_INTAKE_GROUP_ID": group,
            "PEERLINK_INTAKE_HTTP_HOST": "127.0.0.1",
            **(extra_env or {}),
        },
    )
    import os

    env = {
        **os.environ,
        "PEERLINK_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "PEERLINK_KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "PYTHONUNBUFFERED": "1",
    }
    return ServiceProcess(spec, log_dir=log_dir, base_env=env), port
