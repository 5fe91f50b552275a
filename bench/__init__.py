"""PeerLink benchmarks (run with ``python -m bench.run_all``)."""
