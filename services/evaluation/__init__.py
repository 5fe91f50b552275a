"""Programme evaluation: reach, dose, linkage to care and outcomes per peer-support model.

Consumes ``peer.events.v1`` and ``caregaps.changes.v1`` into an embedded SQLite store and
serves the figures as JSON (``GET /v1/programmes/{id}/metrics``), Prometheus gauges and a
self-contained HTML report (:func:`write_report`).
"""

from services.evaluation.metrics import Period, compute_metrics, default_period
from services.evaluation.model import ProgrammeMetrics
from services.evaluation.report import build_report, write_report
from services.evaluation.settings import EvaluationSettings
from services.evaluation.store import EvaluationStore

__all__ = [
    "EvaluationSettings",
    "EvaluationStore",
    "Period",
    "ProgrammeMetrics",
    "build_report",
    "compute_metrics",
    "default_period",
    "write_report",
]
