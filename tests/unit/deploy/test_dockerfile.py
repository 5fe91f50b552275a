"""The Dockerfile checked statically (there is no Docker engine here).

The image compiles the engine in a build stage and must not silently ship the slower
interpreted build; everything it copies exists; it runs the ``peerlink`` console script.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]


def _stages() -> dict[str, list[str]]:
    """Instructions per stage (continuation lines joined), by stage name."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            name = line.split(" AS ")[-1].strip() if " AS " in line else str(len(stages))
            current = stages.setdefault(name, [line])
            continue
        current.append(line)
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[str]]:
    return _stages()


def test_both_stages_use_the_python_the_project_requires(stages: dict[str, list[str]]) -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = requires.removeprefix(">=")
    assert list(stages) == ["build", "runtime"]
    for lines in stages.values():
        assert lines[0].startswith(f"FROM python:{minor}-slim")


def test_the_build_stage_compiles_the_engine(stages: dict[str, list[str]]) -> None:
    build = " ".join(stages["build"])
    assert "gcc" in build
    assert "mypy" in build
    assert "PEERLINK_COMPILE=1 pip wheel" in build
    copied = [
        name for line in stages["build"] if line.startswith("COPY ") for name in line.split()[1:-1]
    ]
    assert {"setup.py", "pyproject.toml", "services"} <= set(copied)
    for name in copied:
        assert (ROOT / name).exists(), name


def test_the_runtime_stage_refuses_an_interpreted_build(stages: dict[str, list[str]]) -> None:
    runtime = " ".join(stages["runtime"])
    assert "COPY --from=build /wheels /wheels" in runtime
    assert "native.build() == 'compiled'" in runtime
    assert "gcc" not in runtime  # the compiler stays in the build stage


def test_the_entrypoint_is_the_console_script(stages: dict[str, list[str]]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = [line for line in stages["runtime"] if line.startswith("ENTRYPOINT")]
    assert entrypoint == ['ENTRYPOINT ["peerlink"]']
    assert "peerlink" in scripts
