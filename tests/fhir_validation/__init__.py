"""Tier-2 FHIR validation: FHIR.js (npm ``fhir`` 4.x, R4 4.0.1 definitions) under Node.js.

FHIR.js knows the required code bindings and reference target types that fhir.resources does
not check. It is installed by the test set-up itself (``npm ci`` from the checked-in
lockfile) into a cache outside the git tree, so a clean clone, CI included, needs only Node.js
and npm on the machine:

* cache root: ``$PEERLINK_NPM_CACHE`` or ``$XDG_CACHE_HOME/peerlink/npm`` or
  ``~/.cache/peerlink/npm``;
* one folder per lockfile digest, so a dependency bump installs afresh and never mixes trees;
* a file lock makes concurrent test sessions wait for one install.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FhirJsError",
    "FhirJsResult",
    "FhirJsValidator",
    "cache_root",
    "ensure_fhirjs",
]

_HERE = Path(__file__).resolve().parent
_MANIFESTS = ("package.json", "package-lock.json")
_SCRIPT = _HERE / "validate.js"


class FhirJsError(RuntimeError):
    """Node.js or npm is missing, the install failed, or the validator crashed."""


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get("PEERLINK_NPM_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "peerlink" / "npm"


def _lock_digest() -> str:
    digest = hashlib.sha256()
    for name in _MANIFESTS:
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_fhirjs(root: Path | None = None, *, timeout_s: float = 300.0) -> Path:
    """Install FHIR.js once (``npm ci``); returns the ``node_modules`` folder."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise FhirJsError(f"{tool} is not on PATH; tier-2 FHIR validation needs Node.js 18+")
    target = (root or cache_root()) / f"fhir-validation-{_lock_digest()}"
    modules = target / "node_modules"
    stamp = target / ".installed"
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and (modules / "fhir" / "package.json").exists():
            return modules
        for name in _MANIFESTS:
            shutil.copyfile(_HERE / name, target / name)
        completed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            raise FhirJsError(f"npm ci failed in {target}:\n{completed.stderr[-2000:]}")
        stamp.write_text(_lock_digest())
    return modules


@dataclass(frozen=True, kw_only=True)
class FhirJsResult:
    index: int
    resource_type: str | None
    id: str | None
    valid: bool
    messages: tuple[Mapping[str, Any], ...] = field(default=())

    def _by(self, *severities: str) -> list[str]:
        return [
            f"{m.get('location', '?')}: {m.get('message', '')}"
            for m in self.messages
            if m.get("severity") in severities
        ]

    @property
    def errors(self) -> list[str]:
        return self._by("error", "fatal")

    @property
    def warnings(self) -> list[str]:
        return self._by("warning")


class FhirJsValidator:
    """Runs ``validate.js`` on batches of resources (one Node process per batch)."""

    def __init__(self, node_modules: Path) -> None:
        self.node_modules = node_modules

    def validate(self, resources: Iterable[Mapping[str, Any]]) -> list[FhirJsResult]:
        lines = [json.dumps(r, separators=(",", ":")) for r in resources]
        if not lines:
            return []
        completed = subprocess.run(
            ["node", str(_SCRIPT), str(self.node_modules)],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if completed.returncode != 0:
            raise FhirJsError(f"validate.js failed:\n{completed.stderr[-2000:]}")
        results = [
            FhirJsResult(
                index=raw["index"],
                resource_type=raw.get("resourceType"),
                id=raw.get("id"),
                valid=bool(raw["valid"]),
                messages=tuple(raw.get("messages", ())),
            )
            for raw in map(json.loads, completed.stdout.splitlines())
        ]
        if len(results) != len(lines):
            raise FhirJsError(f"validate.js answered {len(results)} of {len(lines)} resources")
        return results
