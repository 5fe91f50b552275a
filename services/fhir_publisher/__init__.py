"""FHIR publisher: care-gap changes -> consent-gated FHIR R4 CarePlan, Communication and
(opt-in) DetectedIssue resources on the clinic topics.

The mapping (:mod:`.mapping`) is pure and tested without Kafka; :mod:`.service` wires it to
the shared runtime. Importing this package does not import the Kafka client.
"""

from services.fhir_publisher.config import ClinicProfile, PublisherSettings, ValidationMode
from services.fhir_publisher.mapping import (
    CONTENT_TYPE,
    FhirResource,
    Mapper,
    MappingError,
    MappingResult,
    Withheld,
)
from services.fhir_publisher.naming import Naming

__all__ = [
    "CONTENT_TYPE",
    "ClinicProfile",
    "FhirResource",
    "Mapper",
    "MappingError",
    "MappingResult",
    "Naming",
    "PublisherSettings",
    "ValidationMode",
    "Withheld",
]
