"""The intake service: every submission validated, normalised and published, or dead-lettered.

Pure domain (no I/O): :mod:`~services.intake.submission` (raw submissions),
:mod:`~services.intake.fhir_inbound` (clinic FHIR), :mod:`~services.intake.normalise`,
:mod:`~services.intake.programmes`, :mod:`~services.intake.dedup`,
:mod:`~services.intake.breaker`. Wiring: :mod:`~services.intake.service` (Kafka) and
:mod:`~services.intake.http_api` (HTTP).
"""

# Submodules are imported directly (``from services.intake.service import ...``) so that the
# pure domain can be used without pulling in FastAPI or aiokafka.
__all__: list[str] = []
