"""PeerLink services: intake, care-gap engine, FHIR publisher, evaluation, and their runtime."""
