"""Locating the Java and Maven executables the local broker needs.

Both lookups take an injectable ``which`` and environment so tests can simulate a machine
without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIN_JAVA_MAJOR",
    "KafkaToolMissing",
    "Toolchain",
    "Which",
    "find_java",
    "find_maven",
    "find_toolchain",
    "java_major_version",
    "parse_java_major",
]

#: Kafka 4.x brokers need Java 17 or newer.
MIN_JAVA_MAJOR = 17

Which = Callable[[str], str | None]

_JAVA_HINT = "install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
_MAVEN_HINT = "install Maven 3 (e.g. `apt-get install maven`)"


class KafkaToolMissing(RuntimeError):
    """Java or Maven is absent or unusable; the message says what and how to install it."""


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    java: Path
    #: None when the jars are already cached and Maven is not needed.
    maven: Path | None


def find_java(*, which: Which = shutil.which, env: Mapping[str, str] | None = None) -> Path:
    """The ``java`` executable: ``$JAVA_HOME/bin/java`` when set, else the one on PATH."""
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return candidate
        raise KafkaToolMissing(
            f"Java not found: JAVA_HOME={java_home} has no bin/java; fix JAVA_HOME or {_JAVA_HINT}"
        )
    found = which("java")
    if not found:
        raise KafkaToolMissing(f"Java not found on PATH (needed to run Kafka): {_JAVA_HINT}")
    return Path(found)


def find_maven(*, which: Which = shutil.which) -> Path:
    """The ``mvn`` executable on PATH."""
    found = which("mvn")
    if not found:
        raise KafkaToolMissing(
            f"Maven (mvn) not found on PATH (needed to fetch the Kafka jars): {_MAVEN_HINT}"
        )
    return Path(found)


_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def parse_java_major(version_output: str) -> int | None:
    """The major version in ``java -version`` output (``1.8`` counts as 8)."""
    match = _VERSION_RE.search(version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def java_major_version(java: Path) -> int | None:
    try:
        completed = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # `java -version` writes to stderr.
    return parse_java_major(completed.stderr + completed.stdout)


def find_toolchain(
    *,
    which: Which = shutil.which,
    env: Mapping[str, str] | None = None,
    need_maven: bool = True,
    check_version: bool = True,
) -> Toolchain:
    """Java (17+) and, unless the jars are already cached, Maven."""
    java = find_java(which=which, env=env)
    if check_version:
        major = java_major_version(java)
        if major is None:
            raise KafkaToolMissing(f"{java} does not run or report a version: {_JAVA_HINT}")
        if major < MIN_JAVA_MAJOR:
            raise KafkaToolMissing(
                f"{java} is Java {major} but Kafka 4 needs Java {MIN_JAVA_MAJOR}+: {_JAVA_HINT}"
            )
    # Without Maven the jars cannot be fetched, but a filled cache needs no Maven.
    maven = find_maven(which=which) if need_maven else None
    return Toolchain(java=java, maven=maven)
