"""The HTML report renders in a real browser: charts drawn, no script errors, no network.

Headless Chromium (Debian package ``chromium``) loads the report from a file, once to dump the
DOM after the scripts ran and once to take a screenshot. The page records script errors and
``console.error`` calls into ``data-report-errors`` on ``<html>`` and the number of charts
that drew data marks into ``data-charts-drawn``. A missing browser fails the test: the render
check must not silently disappear from CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from services.evaluation.report import write_report
from services.evaluation.sample import sample_events
from services.evaluation.store import EvaluationStore
from tests.unit.evaluation.scenario import scenario_events

INSTALL_HINT = "apt-get update && apt-get install -y chromium"
_CONSOLE = re.compile(r"CONSOLE\(\d+\)\]|:CONSOLE:")


def _chromium() -> str:
    for candidate in (os.environ.get("PEERLINK_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail(
        "headless Chromium is needed for the report render test but was not found; "
        f"install it with: {INSTALL_HINT} (or set PEERLINK_CHROMIUM to the binary)",
        pytrace=False,
    )


def _browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _render(tmp_path: Path, events_db: Path) -> tuple[str, str, Path]:
    page = write_report(events_db, tmp_path / "report.html")
    dom = _browse(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp_path / "report.png"
    screenshot = _browse(
        page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,2400"
    )
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    return dom.stdout, dom.stderr + screenshot.stderr, shot


def _root_attribute(dom: str, name: str) -> str:
    match = re.search(rf"<html[^>]*\s{name}=\"([^\"]*)\"", dom)
    assert match, f"<html> has no {name} attribute: the report scripts did not run"
    return match.group(1).replace("&quot;", '"')


def test_report_charts_draw_in_headless_chromium(tmp_path: Path) -> None:
    db = tmp_path / "eval.sqlite3"
    with EvaluationStore(db) as store:
        store.ingest(sample_events(600, seed=11))
    dom, logs, shot = _render(tmp_path, db)

    assert json.loads(_root_attribute(dom, "data-report-errors")) == []
    assert _root_attribute(dom, "data-render") == "done"
    assert _root_attribute(dom, "data-charts-drawn") == "4"
    for chart in ("chart-engagement", "chart-closure", "chart-funnel", "chart-hba1c"):
        match = re.search(rf'id="{chart}"[^>]*data-marks="(\d+)"', dom)
        assert match, f"{chart} was not drawn"
        assert int(match.group(1)) > 0, f"{chart} drew no data"
    assert dom.count('<svg class="chart"') == 4
    assert dom.count("<circle") >= 20  # engagement points
    assert dom.count("<rect") >= 40  # bars
    assert dom.count("<polyline") >= 6  # one line per model
    console = [line for line in logs.splitlines() if _CONSOLE.search(line)]
    assert console == [], f"the page wrote to the console: {console}"

    width, height = _png_size(shot)
    assert (width, height) == (1200, 2400)
    # A blank page compresses to a few kB; four charts and tables do not.
    assert shot.stat().st_size > 30_000


def test_a_report_with_every_cell_suppressed_still_renders(tmp_path: Path) -> None:
    db = tmp_path / "eval.sqlite3"
    with EvaluationStore(db) as store:
        store.ingest(scenario_events())  # 7 participants: below the default minimum of 11
    dom, logs, _shot = _render(tmp_path, db)
    assert json.loads(_root_attribute(dom, "data-report-errors")) == []
    assert _root_attribute(dom, "data-render") == "done"
    assert _root_attribute(dom, "data-charts-drawn") == "0"
    assert len(re.findall(r'class="empty"[^>]*>No figure to show', dom)) == 4
    assert "&lt;11" in dom
    assert not [line for line in logs.splitlines() if _CONSOLE.search(line)]
