"""``peerlink fhir-publisher`` sub-commands (registered by services.cli)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from services.cli import publisher_cmd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerlink")
    publisher_cmd.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_run_options_parse() -> None:
    args = _parser().parse_args(
        ["fhir-publisher", "run", "--ops-port", "9100", "--validation", "model"]
    )
    assert (args.ops_port, args.validation) == (9100, "model")
    with pytest.raises(SystemExit):
        _parser().parse_args(["fhir-publisher", "run", "--validation", "none"])


def test_golden_check_passes_and_write_regenerates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parser().parse_args(["fhir-publisher", "golden"])
    assert args.handler(args) == 0
    assert "match" in capsys.readouterr().out

    folder = ["--dir", str(tmp_path)]
    args = _parser().parse_args(["fhir-publisher", "golden", *folder])
    assert args.handler(args) == 1  # empty folder: everything missing
    assert "--write" in capsys.readouterr().err
    args = _parser().parse_args(["fhir-publisher", "golden", "--write", *folder])
    assert args.handler(args) == 0
    args = _parser().parse_args(["fhir-publisher", "golden", *folder])
    assert args.handler(args) == 0
