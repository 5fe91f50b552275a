"""Fetching the Apache Kafka broker jars with Maven into a cache outside the git tree.

A fetch writes into a staging folder and renames it into place, then writes a marker file;
only a folder with the marker counts as cached, so an interrupted fetch is simply redone.
A file lock keeps two concurrent ``up`` calls from fetching into the same folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "LOG4J_VERSION",
    "SCALA_VERSION",
    "KafkaJarFetchError",
    "ensure_jars",
    "jars_cached",
    "libs_dir",
    "render_pom",
    "validate_version",
]

SCALA_VERSION = "2.13"
#: log4j2 backend for the broker's logging; Kafka 4.1 itself depends on slf4j-api 1.7, so the
#: binding must be the slf4j 1.x one (log4j-slf4j-impl), not log4j-slf4j2-impl.
LOG4J_VERSION = "2.24.3"

_MARKER = ".complete"
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:[.-][A-Za-z0-9]+)*$")
#: Generous: a cold Maven repository downloads ~45 MB.
_FETCH_TIMEOUT_S = 900


class KafkaJarFetchError(RuntimeError):
    """Maven could not fetch the broker jars."""


def validate_version(version: str) -> str:
    """Reject anything but a plain release version (it ends up in a POM and in paths)."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"not a Kafka release version: {version!r} (expected e.g. 4.1.1)")
    return version


def libs_dir(cache_root: Path, version: str) -> Path:
    return cache_root / validate_version(version) / "libs"


def jars_cached(cache_root: Path, version: str) -> bool:
    libs = libs_dir(cache_root, version)
    return (libs.parent / _MARKER).is_file() and libs.is_dir()


def render_pom(version: str, *, log4j_version: str = LOG4J_VERSION) -> str:
    """A throw-away POM whose runtime dependencies are exactly the broker's classpath."""
    validate_version(version)
    deps = [
        ("org.apache.kafka", f"kafka_{SCALA_VERSION}", version),
        ("org.apache.logging.log4j", "log4j-core", log4j_version),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j_version),
    ]
    dep_xml = "\n".join(
        "    <dependency>\n"
        f"      <groupId>{group}</groupId>\n"
        f"      <artifactId>{artifact}</artifactId>\n"
        f"      <version>{ver}</version>\n"
        "    </dependency>"
        for group, artifact, ver in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.peerlink.devkafka</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
</project>
"""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def ensure_jars(
    *,
    version: str,
    cache_root: Path,
    maven: Path | None,
    report: Callable[[str], None] = lambda _line: None,
) -> Path:
    """The folder of broker jars for ``version``, fetched with Maven unless already cached."""
    libs = libs_dir(cache_root, version)
    version_dir = libs.parent
    if jars_cached(cache_root, version):
        return libs
    if maven is None:
        raise KafkaJarFetchError(f"Kafka {version} jars are not cached and no Maven was given")
    version_dir.mkdir(parents=True, exist_ok=True)
    with _locked(version_dir / ".lock"):
        # Another process may have finished the fetch while this one waited for the lock.
        if jars_cached(cache_root, version):
            return libs
        report(f"fetching Kafka {version} jars with Maven into {libs} ...")
        started = time.monotonic()
        staging = version_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        pom = version_dir / "pom.xml"
        pom.write_text(render_pom(version))
        log = version_dir / "maven.log"
        with log.open("w") as out:
            try:
                completed = subprocess.run(
                    [
                        str(maven),
                        "-B",
                        "-q",
                        "-f",
                        str(pom),
                        "dependency:copy-dependencies",
                        f"-DoutputDirectory={staging}",
                        "-DincludeScope=runtime",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=version_dir,
                    timeout=_FETCH_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise KafkaJarFetchError(
                    f"Maven took over {_FETCH_TIMEOUT_S} s fetching Kafka {version}; see {log}"
                ) from exc
        broker_jar = staging / f"kafka_{SCALA_VERSION}-{version}.jar"
        if completed.returncode != 0 or not broker_jar.is_file():
            raise KafkaJarFetchError(
                f"Maven could not fetch Kafka {version} (exit {completed.returncode}); "
                f"see {log}\n{_tail(log)}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        jars = sorted(p.name for p in libs.glob("*.jar"))
        (version_dir / _MARKER).write_text(
            json.dumps({"version": version, "jars": jars, "fetched_at": time.time()}, indent=2)
        )
        report(f"fetched {len(jars)} jars in {time.monotonic() - started:.1f} s")
    return libs
