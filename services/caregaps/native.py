"""The engine's pure modules compiled with mypyc: which ones, and is the running build fresh.

The rules, the state and its codec, the renderings and the partition store are strictly typed
pure Python, so mypyc compiles that same source to C extensions (``PEERLINK_COMPILE=1`` at
install; ``make venv`` and the image do). It takes about a fifth off the engine's CPU per
event (bench/README.md). Nothing else changes, and the source stays the fallback:

- ``PEERLINK_INTERPRETED=1`` at run time imports the source instead of the extensions (a
  test runs both and compares every output byte);
- an extension shadows its source on import, so a source edited after the build would run
  the old code: ``stale_builds`` lists those, and the test session refuses to start on one.

setup.py reads ``COMPILED_SOURCES`` before the package is installed: nothing here may
import PeerLink code.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = [
    "COMPILED_SOURCES",
    "INTERPRETED_ENV",
    "build",
    "compiled_modules",
    "module_name",
    "prefer_source",
    "stale_builds",
]

#: Source files compiled by mypyc, relative to the repository root. Not here: modules with
#: pydantic models or generic slotted dataclasses (mypyc cannot make them native classes),
#: and the Kafka wiring, which waits on I/O rather than the CPU.
COMPILED_SOURCES = (
    "services/caregaps/engine.py",
    "services/caregaps/ids.py",
    "services/caregaps/renderings.py",
    "services/caregaps/state.py",
    "services/caregaps/store.py",
    "services/caregaps/rules/clinical.py",
    "services/caregaps/rules/engagement.py",
    "services/caregaps/rules/facts.py",
    "services/caregaps/rules/lifecycle.py",
    "services/caregaps/rules/model.py",
    "services/caregaps/rules/redflags.py",
)
#: Set to 1 to run the interpreted source although compiled modules are installed.
INTERPRETED_ENV = "PEERLINK_INTERPRETED"

_ROOT = Path(__file__).resolve().parents[2]


def module_name(source: str) -> str:
    """``services/caregaps/state.py`` -> ``services.caregaps.state``."""
    return source.removesuffix(".py").replace("/", ".")


def _extensions(source: Path) -> list[Path]:
    candidates = (
        source.with_name(source.stem + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    return [candidate for candidate in candidates if candidate.exists()]


def stale_builds(root: Path = _ROOT) -> list[str]:
    """Compiled modules older than their source (they would run the code before the edit)."""
    stale = []
    for source in COMPILED_SOURCES:
        path = root / source
        if not path.exists():
            continue
        edited = path.stat().st_mtime
        if any(ext.stat().st_mtime < edited for ext in _extensions(path)):
            stale.append(module_name(source))
    return stale


def compiled_modules() -> list[str]:
    """Modules of ``COMPILED_SOURCES`` that import as extensions in this process."""
    names = []
    for source in COMPILED_SOURCES:
        spec = importlib.util.find_spec(module_name(source))
        origin = spec.origin if spec is not None else None
        if origin is not None and origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            names.append(module_name(source))
    return names


def build() -> str:
    """``compiled``, ``interpreted`` or ``partial`` (for the start-up log and the bench)."""
    count = len(compiled_modules())
    if count == 0:
        return "interpreted"
    return "compiled" if count == len(COMPILED_SOURCES) else "partial"


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the listed modules' ``.py`` files before the extensions beside them."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self._sources = sources

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,  # noqa: ARG002 (the finder protocol)
        target: ModuleType | None = None,  # noqa: ARG002
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def prefer_source(root: Path = _ROOT) -> None:
    """Import the interpreted source of every compiled module when ``PEERLINK_INTERPRETED=1``.

    Called by ``services.caregaps`` before it imports any of them.
    """
    if os.environ.get(INTERPRETED_ENV) != "1":
        return
    if any(isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        return
    sources = {module_name(s): root / s for s in COMPILED_SOURCES}
    sys.meta_path.insert(0, _SourceFirst(sources))
