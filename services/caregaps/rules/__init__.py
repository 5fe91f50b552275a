"""Pure care-gap rules: facts, derived gaps, red flags, engagement and the gap lifecycle."""

from services.caregaps.rules.catalogue import SPECS, GapSpec, spec
from services.caregaps.rules.model import Clearance, Finding, Trigger

__all__ = ["SPECS", "Clearance", "Finding", "GapSpec", "Trigger", "spec"]
