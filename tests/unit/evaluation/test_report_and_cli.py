"""The HTML report's content (without a browser) and the ``peerlink`` sub-commands."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from schemas.events import Event
from schemas.vocabulary import SupportModel
from services.cli import evaluation_cmd
from services.evaluation.report import build_report, write_report
from services.evaluation.store import EvaluationStore
from tests.unit.evaluation.scenario import PERIOD


@pytest.fixture
def db(tmp_path: Path, events: list[Event]) -> Path:
    path = tmp_path / "eval.sqlite3"
    with EvaluationStore(path) as store:
        store.ingest(events)
    return path


def _data(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert match
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


def test_the_report_is_self_contained(db: Path) -> None:
    with EvaluationStore(db) as store:
        page = build_report(store, period=PERIOD, min_cell=1)
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    # No external resource of any kind: every link is an in-page anchor.
    assert not re.search(r"\ssrc=", page)
    assert all(href.startswith("#") for href in re.findall(r"href=['\"]([^'\"]*)", page))
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "Observational programme data" in page


def test_the_report_carries_the_figures_and_definitions(db: Path) -> None:
    with EvaluationStore(db) as store:
        page = build_report(store, period=PERIOD, min_cell=1)
    data = _data(page)
    assert data["min_cell"] == 1
    engagement = data["engagement"]
    assert isinstance(engagement, list)
    # Over both programmes: CHW (prog-a and prog-b) and the peer coach.
    assert [series["model"] for series in engagement] == ["community_health_worker", "peer_coach"]
    funnel = data["funnel"]
    assert isinstance(funnel, list)
    chw = next(row for row in funnel if row["model"] == "community_health_worker")
    # prog-a CHW care gaps g1 g2 g3 g5 g7 plus prog-b's g8; closed g1 g3 g7; within 90 days
    # of opening g1 (30) and g7 (5).
    assert (chw["opened"], chw["closed"], chw["closed_90"]) == (6, 3, 2)
    assert "prog-a" in page
    assert "prog-b" in page
    assert "participant-weeks" in page  # definitions section


def test_small_cells_never_reach_the_page(db: Path) -> None:
    with EvaluationStore(db) as store:
        page = build_report(store, period=PERIOD)  # default minimum 11
    data = _data(page)
    assert data["funnel"] == []
    assert data["closure"] == []
    assert "&lt;11" in page
    assert "n=7" not in page


def test_write_report_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing.sqlite3", tmp_path / "r.html")
    assert not (tmp_path / "missing.sqlite3").exists()


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="peerlink")
    evaluation_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def test_report_command(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "report.html"
    argv = ["report", "--db", str(db), "--out", str(out), "--from", "2026-01-01"]
    assert _cli([*argv, "--to", "2026-06-30"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "2026-01-01 to 2026-06-30" in capsys.readouterr().out
    assert _cli([*argv, "--to", "2025-12-01"]) == 1
    assert "after" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(["report", "--db", str(db), "--out", str(out), "--from", "soon"])


def test_metrics_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluation", "metrics", "--db", str(db), "--programme", "prog-a"]
    assert _cli([*argv, "--from", "2026-01-01", "--to", "2026-06-30", "--min-cell", "1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["overall"]["reach"]["enrolled"]["value"] == 7
    assert _cli(["evaluation", "metrics", "--db", str(db), "--programme", "nope"]) == 1
    assert "not in the store" in capsys.readouterr().err


def test_cli_model_choices_follow_the_vocabulary() -> None:
    assert set(evaluation_cmd._MODELS) == {m.value for m in SupportModel}


def test_commands_refuse_a_file_that_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    assert _cli(["report", "--db", str(junk), "--out", str(tmp_path / "r.html")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert _cli(["evaluation", "metrics", "--db", str(junk), "--programme", "prog-a"]) == 1
    assert "cannot open" in capsys.readouterr().err
