"""PeerLink contracts: event models, topic registry and the generated artefacts beside them."""
