"""The self-contained HTML evaluation report: tables and four SVG charts, no network.

Everything the page needs is inline: the stylesheet, the figures as JSON and a small script
that draws the charts. A Content-Security-Policy forbids every fetch, so opening the file
offline (or from an e-mail attachment) shows exactly what was written. Small cells are
suppressed before anything reaches the page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.evaluation.headline import HEADLINES
from services.evaluation.metrics import DEFAULT_MIN_CELL, Period, compute_metrics, default_period
from services.evaluation.model import (
    OBSERVATIONAL_NOTE,
    ChangeStats,
    Dose,
    Figure,
    GapStats,
    Linkage,
    MetricsBlock,
    Outcomes,
    ProgrammeMetrics,
    Reach,
)
from services.evaluation.report_assets import CHARTS, ERROR_PROBE, STYLE
from services.evaluation.store import EvaluationStore

__all__ = ["build_report", "render_report", "write_report"]

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
_STRATA = ("<8", "8-9", ">9")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _format(figure: Figure, style: str, min_cell: int) -> tuple[str, str]:
    """(cell HTML, CSS class) of one figure."""
    if figure.suppressed:
        return f"&lt;{min_cell}<span class=n>suppressed</span>", "suppressed"
    if figure.value is None:
        return "&ndash;", ""
    value = figure.value
    text = {
        "count": f"{value:,.0f}",
        "share": f"{100 * value:.1f} %",
        "days": f"{value:.1f} d",
    }.get(style, f"{value:.2f}")
    return f"{text}<span class=n>n={figure.n}</span>", ""


def _headline_table(columns: list[tuple[str, MetricsBlock]], min_cell: int) -> str:
    """Headline figures (rows) for each block (columns)."""
    head = "".join(f"<th>{_esc(name)}</th>" for name, _ in columns)
    rows = []
    section = ""
    for headline in HEADLINES:
        if headline.section != section:
            section = headline.section
            rows.append(
                f"<tr class=section><td colspan={len(columns) + 1}>{_esc(section)}</td></tr>"
            )
        cells = []
        for _, block in columns:
            content, css = _format(headline.pick(block), headline.style, min_cell)
            cells.append(f"<td class='{css}'>{content}</td>")
        rows.append(f"<tr><td>{_esc(headline.label)}</td>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr><th>Figure</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _label(model: str) -> str:
    return model.replace("_", " ")


def _chart_data(everything: ProgrammeMetrics) -> dict[str, Any]:
    blocks = everything.by_model
    engagement = [
        {
            "model": model,
            "points": [
                [
                    point.month,
                    point.contacts_per_participant.value,
                    point.contacts_per_participant.n,
                ]
                for point in block.dose.engagement_by_month
            ],
        }
        for model, block in blocks.items()
    ]
    closure = [
        {"code": stats.code, "kind": stats.kind, "bins": stats.closure_time_bins}
        for stats in sorted(
            everything.overall.linkage.gaps_by_code, key=lambda s: (s.kind != "care_gap", s.code)
        )
        if stats.closure_time_bins is not None and stats.kind != "red_flag"
    ]
    funnel = []
    for model, block in blocks.items():
        care = block.linkage.gaps_by_kind["care_gap"]
        bins = care.closure_time_bins
        if bins is None or care.opened.value is None or not care.opened.value:
            continue
        funnel.append(
            {
                "model": model,
                "opened": int(care.opened.value),
                "closed": int(care.closed.value or 0),
                "closed_90": bins["0-30"] + bins["31-60"] + bins["61-90"],
            }
        )
    hba1c = {
        "strata": list(_STRATA),
        "series": [
            {
                "model": model,
                "values": [
                    [
                        block.outcomes.hba1c_by_baseline_stratum[s].mean_change.value,
                        block.outcomes.hba1c_by_baseline_stratum[s].mean_change.n,
                        block.outcomes.hba1c_by_baseline_stratum[s].mean_change.suppressed,
                    ]
                    for s in _STRATA
                ],
            }
            for model, block in blocks.items()
        ],
    }
    return {
        "min_cell": everything.min_cell,
        "engagement": engagement,
        "closure": closure,
        "funnel": funnel,
        "hba1c": hba1c,
    }


def _definitions() -> str:
    items = []
    models: Iterable[type[BaseModel]] = (Reach, Dose, Linkage, GapStats, Outcomes, ChangeStats)
    for model in models:
        for name, info in model.model_fields.items():
            if info.description:
                items.append(
                    f"<dt>{_esc(model.__name__)} · {_esc(name)}</dt>"
                    f"<dd>{_esc(' '.join(info.description.split()))}</dd>"
                )
    return f"<dl class=defs>{''.join(items)}</dl>"


def _figure(chart_id: str, title: str, how: str) -> str:
    return (
        f"<figure><figcaption>{_esc(title)}</figcaption><p class=how>{_esc(how)}</p>"
        f"<div id='{chart_id}' class=chart-host></div></figure>"
    )


def render_report(
    everything: ProgrammeMetrics,
    programmes: dict[str, ProgrammeMetrics],
    *,
    data_until: datetime | None = None,
) -> str:
    """The report page for figures already computed (all programmes, and each one)."""
    data = json.dumps(_chart_data(everything), separators=(",", ":"), allow_nan=False)
    # The JSON sits inside <script>: no "</script>" or "<!--" can end it early.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    period = f"{everything.period_from.isoformat()} to {everything.period_to.isoformat()}"
    until = f" · data up to {data_until:%Y-%m-%d %H:%M} UTC" if data_until else ""
    min_cell = everything.min_cell
    by_model = _headline_table(
        [("All", everything.overall)]
        + [(_label(m), block) for m, block in everything.by_model.items()],
        min_cell,
    )
    by_programme = _headline_table(
        [(p, metrics.overall) for p, metrics in programmes.items()], min_cell
    )
    splits = []
    for programme_id, metrics in programmes.items():
        if len(metrics.by_model) > 1:
            columns = [("All models", metrics.overall)]
            columns += [(_label(m), block) for m, block in metrics.by_model.items()]
            splits.append(
                f"<h3>{_esc(programme_id)} by model</h3>{_headline_table(columns, min_cell)}"
            )
    programme_list = ", ".join(_esc(p) for p in programmes) or "none"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PeerLink programme evaluation</title>
<script>{ERROR_PROBE}</script>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>PeerLink programme evaluation</h1>
<p class=meta>Period {_esc(period)}{_esc(until)} · figures resting on fewer than
{everything.min_cell} participants are suppressed (shown as &lt;{everything.min_cell}).</p>
<div class=note><strong>Read with care.</strong> {_esc(OBSERVATIONAL_NOTE)}</div>
<nav><a href="#charts">Charts</a> <a href="#models">By model</a>
<a href="#programmes">By programme</a> <a href="#definitions">Definitions</a></nav>
<p class=meta>Programmes: {programme_list}</p>

<h2 id=charts>All programmes, by peer-support model</h2>
<div class=grid>
{
        _figure(
            "chart-engagement",
            "Engagement over time per model",
            "Completed contacts per participant in each month since enrolment, among participants "
            "observed for the whole month. Engagement usually fades; the slope is the decline.",
        )
    }
{
        _figure(
            "chart-closure",
            "Time to closure per gap type",
            "Care and engagement gaps opened in the period, by how long they took to close; gaps "
            "still open at the end of the period are shown as such, not counted as closed.",
        )
    }
{
        _figure(
            "chart-funnel",
            "Care-gap funnel per model: opened → closed",
            "Care gaps opened in the period, those closed by its end and those closed within 90 "
            "days of opening.",
        )
    }
{
        _figure(
            "chart-hba1c",
            "HbA1c change by baseline stratum",
            "Mean change in HbA1c (percentage points) from baseline to follow-up, by baseline "
            "HbA1c. Negative means HbA1c fell. Observational, no control group.",
        )
    }
</div>

<h2 id=models>Headline figures by peer-support model (all programmes)</h2>
{by_model}

<h2 id=programmes>Headline figures by programme</h2>
{by_programme if programmes else "<p>No programme data.</p>"}
{"".join(splits)}

<h2 id=definitions>Definitions</h2>
{_definitions()}
</main>
<script type="application/json" id="report-data">{data}</script>
<script>{CHARTS}</script>
</body>
</html>
"""


def build_report(
    store: EvaluationStore,
    *,
    period: Period | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    evidence_window_days: int = 30,
) -> str:
    """The report of everything in ``store`` over ``period`` (default: all the data)."""
    extent = store.extent()
    chosen = period or default_period(extent)

    def metrics(programme_id: str | None) -> ProgrammeMetrics:
        return compute_metrics(
            store.load(programme_id),
            period=chosen,
            programme_id=programme_id,
            min_cell=min_cell,
            evidence_window_days=evidence_window_days,
        )

    programmes = {p: metrics(p) for p in store.programmes()}
    until = datetime.fromtimestamp(extent[1], UTC) if extent else None
    return render_report(metrics(None), programmes, data_until=until)


def write_report(
    db_path: Path | str,
    out_path: Path | str,
    *,
    period: Period | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    evidence_window_days: int = 30,
) -> Path:
    """Write the HTML report of the store at ``db_path`` to ``out_path``; returns the path."""
    source = Path(db_path)
    if not source.exists():
        raise FileNotFoundError(f"no evaluation store at {source}")
    with EvaluationStore(source) as store:
        page = build_report(
            store, period=period, min_cell=min_cell, evidence_window_days=evidence_window_days
        )
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)  # readers never see a half-written report
    return target
