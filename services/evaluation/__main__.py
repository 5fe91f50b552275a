"""``python -m services.evaluation``: run the evaluation service (settings from the environment)."""

from __future__ import annotations

import asyncio

from services.evaluation.service import run_service
from services.runtime import configure_logging

configure_logging("evaluation")
asyncio.run(run_service())
