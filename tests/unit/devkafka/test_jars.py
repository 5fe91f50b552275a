"""The jar cache: fetched once with Maven, reused after, never half-filled."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.devkafka.jars import KafkaJarFetchError, ensure_jars, jars_cached

# Stands in for `mvn`: records each call and writes the broker jar where Maven would.
FAKE_MVN = """#!/usr/bin/env bash
echo call >> "{calls}"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
[ -n "{fail}" ] && {{ echo "could not resolve dependencies" >&2; exit 1; }}
mkdir -p "$out" && touch "$out/kafka_2.13-4.1.1.jar" "$out/kafka-clients-4.1.1.jar"
"""


def _fake_mvn(tmp_path: Path, *, fail: bool = False) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    script = tmp_path / "mvn"
    script.write_text(FAKE_MVN.format(calls=calls, fail="yes" if fail else ""))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


def test_fetches_once_then_reuses_the_cache(tmp_path: Path) -> None:
    mvn, calls = _fake_mvn(tmp_path)
    cache = tmp_path / "cache"
    lines: list[str] = []
    libs = ensure_jars(version="4.1.1", cache_root=cache, maven=mvn, report=lines.append)
    assert libs == cache / "4.1.1" / "libs"
    assert (libs / "kafka_2.13-4.1.1.jar").is_file()
    assert jars_cached(cache, "4.1.1")
    assert "log4j-slf4j-impl" in (cache / "4.1.1" / "pom.xml").read_text()
    assert any("fetched 2 jars" in line for line in lines)

    # Cached: no Maven needed at all.
    assert ensure_jars(version="4.1.1", cache_root=cache, maven=None) == libs
    assert calls.read_text().count("call") == 1


def test_failed_fetch_leaves_no_cache_and_points_at_the_log(tmp_path: Path) -> None:
    mvn, _calls = _fake_mvn(tmp_path, fail=True)
    cache = tmp_path / "cache"
    with pytest.raises(KafkaJarFetchError, match=r"maven\.log") as info:
        ensure_jars(version="4.1.1", cache_root=cache, maven=mvn)
    assert "could not resolve dependencies" in str(info.value)
    assert not jars_cached(cache, "4.1.1")
    assert not (cache / "4.1.1" / "libs").exists()


def test_uncached_without_maven_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KafkaJarFetchError, match="not cached"):
        ensure_jars(version="4.1.1", cache_root=tmp_path, maven=None)
