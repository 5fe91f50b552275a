"""Settings from the environment and the ``peerlink intake`` sub-commands."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from schemas.vocabulary import SupportModel
from services.cli import intake_cmd
from services.intake.auth import hash_token
from services.intake.settings import IntakeSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerlink")
    intake_cmd.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PEERLINK_INTAKE_PROGRAMMES",
        json.dumps({"prog-a": ["peer_coach", "online_community"]}),
    )
    monkeypatch.setenv("PEERLINK_INTAKE_TOKENS", json.dumps({"prog-a": hash_token("t")}))
    monkeypatch.setenv("PEERLINK_INTAKE_HTTP_MAX_BATCH", "25")
    monkeypatch.setenv("PEERLINK_INTAKE_BREAKER_MAX_INVALID_RATIO", "0.8")
    settings = IntakeSettings()
    assert settings.programmes == {
        "prog-a": (SupportModel.PEER_COACH, SupportModel.ONLINE_COMMUNITY)
    }
    assert settings.token_hashes() == {"prog-a": (hash_token("t"),)}
    assert settings.http_max_batch == 25
    assert settings.breaker_policy().max_invalid_ratio == 0.8


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"programmes": {"bad id!": ["peer_coach"]}}, "ProgrammeId"),
        ({"programmes": {"prog-a": []}}, "at least one"),
        ({"programmes": {"prog-a": ["bowling"]}}, "peer_coach"),
        ({"breaker_min_samples": 600, "breaker_window": 500}, "breaker_min_samples"),
    ],
)
def test_invalid_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IntakeSettings(**values)  # type: ignore[arg-type]


def test_hash_token_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    args = _parser().parse_args(["intake", "hash-token"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out.strip() == hash_token("s3cret")


def test_openapi_command_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    args = _parser().parse_args(["intake", "openapi", "--output", str(target)])
    assert args.handler(args) == 0
    document = json.loads(target.read_text())
    assert document["info"]["title"] == "PeerLink intake"
    assert "/v1/events:batch" in document["paths"]


def test_run_refuses_to_run_nothing() -> None:
    args = _parser().parse_args(["intake", "run", "--no-http", "--no-kafka"])
    assert args.handler(args) == 1
