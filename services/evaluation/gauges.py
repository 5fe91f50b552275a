"""Prometheus gauges of the headline figures, labelled by programme and model only.

Programme ids and model names are not personal data; no participant key ever becomes a label.
A suppressed or empty figure has no sample at all (rather than a misleading zero).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge

from services.evaluation.headline import HEADLINES
from services.evaluation.metrics import compute_metrics, default_period
from services.evaluation.model import ProgrammeMetrics
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore

__all__ = ["ALL_MODELS", "HeadlineGauges", "refresh_gauges"]

#: The ``model`` label value of a programme's figures over all its models.
ALL_MODELS = "all"


class HeadlineGauges:
    """One gauge per headline figure, registered in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._gauges = {
            h.key: Gauge(
                f"peerlink_evaluation_{h.key}",
                f"{h.section}: {h.label} (whole store period; suppressed cells absent)",
                ["programme", "model"],
                registry=registry,
            )
            for h in HEADLINES
        }
        self.refreshes = Gauge(
            "peerlink_evaluation_last_refresh_timestamp_seconds",
            "When the headline gauges were last recomputed",
            registry=registry,
        )

    def update(self, results: Mapping[str, ProgrammeMetrics]) -> None:
        """Replace every sample with the figures in ``results`` (programme id -> metrics)."""
        samples: list[tuple[str, str, str, float]] = []
        for programme, metrics in results.items():
            blocks = {ALL_MODELS: metrics.overall, **metrics.by_model}
            for model, block in blocks.items():
                for headline in HEADLINES:
                    figure = headline.pick(block)
                    if figure.value is not None:
                        samples.append((headline.key, programme, model, figure.value))
        # Clear then set, so that a figure that became suppressed disappears.
        for gauge in self._gauges.values():
            gauge.clear()
        for key, programme, model, value in samples:
            self._gauges[key].labels(programme=programme, model=model).set(value)
        self.refreshes.set_to_current_time()


def refresh_gauges(
    store: EvaluationStore, gauges: HeadlineGauges, settings: EvaluationSettings
) -> int:
    """Recompute every programme's headline figures over all stored data; returns programmes."""
    period = default_period(store.extent())
    results = {
        programme: compute_metrics(
            store.load(programme),
            period=period,
            programme_id=programme,
            min_cell=settings.min_cell,
            evidence_window_days=settings.evidence_window_days,
        )
        for programme in store.programmes()
    }
    gauges.update(results)
    return len(results)
