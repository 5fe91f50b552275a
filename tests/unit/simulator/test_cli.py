"""``peerlink simulate`` and ``peerlink demo`` command lines (no broker)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from services.demo.launch import main


def test_simulate_writes_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cohort.jsonl"
    code = main(
        [
            "services.cli.simulate_cmd",
            "simulate",
            "--participants",
            "8",
            "--months",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    lines = out.read_bytes().splitlines()
    assert lines
    assert {orjson.loads(line)["topic"] for line in lines} >= {"peer.intake.raw"}
    assert "simulate: " in capsys.readouterr().err


def test_simulate_prints_the_programme_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services.cli.simulate_cmd", "simulate", "--programmes"]) == 0
    registry = orjson.loads(capsys.readouterr().out)
    assert len(registry) == 6
    assert all(len(models) == 1 for models in registry.values())


def test_simulate_needs_a_destination(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services.cli.simulate_cmd", "simulate", "--participants", "2"]) == 1
    assert "--out" in capsys.readouterr().err


def test_simulate_rejects_bad_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["services.cli.simulate_cmd", "simulate", "--months", "0", "--out", "-"])
    assert code == 1
    assert "months" in capsys.readouterr().err


def test_demo_flags_are_parsed() -> None:
    with pytest.raises(SystemExit):
        main(["services.cli.demo_cmd", "demo", "--participants", "0"])
