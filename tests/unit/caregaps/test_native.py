"""The compiled engine: same bytes as the source, and never older than the source."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from services.caregaps.native import COMPILED_SOURCES, INTERPRETED_ENV, module_name, stale_builds


def _digest(repo_root: Path, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.caregaps.engine_digest"],
        cwd=repo_root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split()


def test_compiled_and_interpreted_engines_emit_the_same_bytes(repo_root: Path) -> None:
    """Every change, changelog and dead-letter record of a seeded log with ticks, byte for byte.

    ``make venv`` compiles the engine (``COMPILE=0`` skips it): the default build must then
    really be the compiled one, or this would compare the source with itself.
    """
    default = _digest(repo_root)
    interpreted = _digest(repo_root, **{INTERPRETED_ENV: "1"})
    expected = "interpreted" if os.environ.get("PEERLINK_COMPILE") == "0" else "compiled"
    assert default[0] == expected
    assert interpreted[0] == "interpreted"
    assert int(default[1]) > 5_000  # records compared
    assert default[1:] == interpreted[1:]


def test_compiled_sources_are_modules_of_the_engine(repo_root: Path) -> None:
    for source in COMPILED_SOURCES:
        assert (repo_root / source).is_file(), source
        assert module_name(source).startswith("services.caregaps."), source


def test_an_extension_older_than_its_source_is_stale(tmp_path: Path) -> None:
    source = tmp_path / COMPILED_SOURCES[0]
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    extension = source.with_name(source.stem + EXTENSION_SUFFIXES[0])
    extension.write_bytes(b"")
    assert stale_builds(tmp_path) == []  # no extension for the other sources: nothing stale

    os.utime(extension, (1_000_000, 1_000_000))  # built before the source was edited
    assert stale_builds(tmp_path) == [module_name(COMPILED_SOURCES[0])]

    later = source.stat().st_mtime + 10
    os.utime(extension, (later, later))
    assert stale_builds(tmp_path) == []
