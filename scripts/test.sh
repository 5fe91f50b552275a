#!/usr/bin/env bash
# The full check behind `make test` and CI: lint, then every test against a real Kafka broker.
# Starts a fresh broker on a test port (never the operator's 9092) and always stops it.
# Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port="${PEERLINK_TEST_KAFKA_PORT:-19092}"
bin=".venv/bin"
export PEERLINK_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:${port}"

stop_kafka() { "$bin/peerlink" kafka down --port "$port" || true; }
trap stop_kafka EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The report render test drives headless Chromium (Debian package); install it when missing.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${PEERLINK_CHROMIUM:-}" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium (Debian package) for the report render test"
        apt-get update -qq >/dev/null && \
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test: chromium is missing; install the Debian package 'chromium'" >&2
    fi
fi

# A broker left over from an interrupted run is replaced, so every run starts from empty data.
stop_kafka
"$bin/peerlink" kafka up --port "$port" || exit 1

status=0
make --no-print-directory lint || status=1
"$bin/python" -m pytest "$@" || status=1
exit "$status"
