"""``peerlink demo``: the whole pipeline on a local broker with a simulated cohort.

``run_demo(DemoConfig())`` starts a broker and every service as its own process, runs the
simulator, waits until the pipeline has drained, prints a summary, writes the output folder
and stops everything it started. ``run_pipeline`` is the same without the broker, for an
existing cluster (the end-to-end test uses it).
"""

from services.demo.outputs import DemoSummary, FhirOutput, analyse, write_outputs
from services.demo.processes import ServiceProcess, ServiceSpec
from services.demo.run import (
    DemoConfig,
    DemoFailure,
    ServiceStack,
    render_summary,
    run_demo,
    run_pipeline,
    service_specs,
)
from services.demo.watch import PipelineWatch, StalledError, TopicRecord

__all__ = [
    "DemoConfig",
    "DemoFailure",
    "DemoSummary",
    "FhirOutput",
    "PipelineWatch",
    "ServiceProcess",
    "ServiceSpec",
    "ServiceStack",
    "StalledError",
    "TopicRecord",
    "analyse",
    "render_summary",
    "run_demo",
    "run_pipeline",
    "service_specs",
    "write_outputs",
]
