"""The evaluation service as a real process: configured from the environment, healthy on its
ops port, answering its API, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.topics import topic
from services.evaluation.service import INPUT_TOPICS
from services.runtime import KafkaSettings
from services.runtime.topics_admin import ensure_topics
from tests.support.kafka import free_port_pair

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]


async def _get(url: str, timeout_s: float = 60.0) -> httpx.Response:
    async with asyncio.timeout(timeout_s), httpx.AsyncClient(timeout=2) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def test_service_process_serves_health_and_api_and_stops_on_sigterm(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    prefix = f"evp{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        kafka_settings.model_copy(update={"topic_prefix": prefix}),
        [topic(name) for name in INPUT_TOPICS],
    )
    api_port, ops_port = free_port_pair(), free_port_pair()
    env = {
        **os.environ,
        "PEERLINK_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "PEERLINK_KAFKA_TOPIC_PREFIX": prefix,
        "PEERLINK_EVALUATION_DB_PATH": str(tmp_path / "eval.sqlite3"),
        "PEERLINK_EVALUATION_HTTP_HOST": "127.0.0.1",
        "PEERLINK_EVALUATION_HTTP_PORT": str(api_port),
        "PEERLINK_EVALUATION_OPS_PORT": str(ops_port),
        "PEERLINK_EVALUATION_GROUP_ID": f"evp-{uuid.uuid4().hex[:8]}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.evaluation",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await _get(f"http://127.0.0.1:{ops_port}/readyz")
        assert ready.json()["ready"] is True
        programmes = await _get(f"http://127.0.0.1:{api_port}/v1/programmes")
        assert programmes.json() == {"programmes": []}
        metrics = await _get(f"http://127.0.0.1:{ops_port}/metrics")
        assert "peerlink_evaluation_last_refresh_timestamp_seconds" in metrics.text
        process.send_signal(signal.SIGTERM)
        _, raw = await asyncio.wait_for(process.communicate(), 30)
        stderr = raw.decode(errors="replace")
        assert process.returncode == 0, stderr[-2000:]
        assert "Traceback" not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
