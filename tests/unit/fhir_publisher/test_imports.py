"""Only fhir.resources.R4B may be imported: the package default is R5 (fhir_anchors.md 1.1)."""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGE = "fhir" + r"\.resources"
#: Import statements (and import_module strings) of the package's sub-modules other than
#: R4B, and ``from <package> import <X>`` other than R4B.
_DOTTED = re.compile(
    r"(?:^\s*(?:from|import)\s+|import_module\(\s*[\"'])" + _PACKAGE + r"\.(?!R4B\b)[A-Za-z_]"
)
_FROM = re.compile(r"^\s*from\s+" + _PACKAGE + r"\s+import\s+(?!R4B\b)")
_FOLDERS = ("schemas", "services", "tests", "bench")


def test_no_module_imports_the_r5_default_classes(repo_root: Path) -> None:
    offenders = []
    for folder in _FOLDERS:
        for path in sorted((repo_root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _DOTTED.search(line) or _FROM.search(line):
                    offenders.append(f"{path.relative_to(repo_root)}:{number}: {line.strip()}")
    assert not offenders, "import fhir.resources.R4B instead:\n" + "\n".join(offenders)


def test_the_check_itself_catches_r5_imports() -> None:
    package = "fhir" + ".resources"
    bad = [
        f"from {package}.careplan import CarePlan",
        f"    import {package}.patient",
        f"from {package} import get_fhir_model_class",
        f'importlib.import_module("{package}.careplan")',
    ]
    good = [
        f"from {package}.R4B.careplan import CarePlan",
        f"from {package}.R4B import get_fhir_model_class",
        f"# {package}.careplan in a comment is not an import",
    ]
    assert all(_DOTTED.search(s) or _FROM.search(s) for s in bad)
    assert not any(_DOTTED.search(s) or _FROM.search(s) for s in good)
