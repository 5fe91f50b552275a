"""Unit conversions against worked values from care_gap_rules.md section 3.5."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel, ValidationError

from schemas.measurements import (
    Glucose,
    Hba1c,
    Uacr,
    glucose_mg_dl,
    hba1c_percent,
    uacr_mg_g,
)

T = "2026-03-02T09:30:00+00:00"


@pytest.mark.parametrize(
    ("mmol_mol", "percent"), [(53, 7.0), (64, 8.0), (75, 9.0)], ids=["7pct", "8pct", "9pct"]
)
def test_hba1c_ifcc_to_ngsp_matches_master_equation(mmol_mol: float, percent: float) -> None:
    assert hba1c_percent(mmol_mol, "mmol/mol") == pytest.approx(percent, abs=0.05)


def test_hba1c_percent_is_unchanged() -> None:
    assert hba1c_percent(7.4, "%") == 7.4


@pytest.mark.parametrize(("mmol_l", "mg_dl"), [(3.0, 54.0), (3.9, 70.2), (13.3, 239.4)])
def test_glucose_mmol_to_mg(mmol_l: float, mg_dl: float) -> None:
    assert glucose_mg_dl(mmol_l, "mmol/L") == pytest.approx(mg_dl)


def test_uacr_mg_mmol_to_mg_g() -> None:
    assert uacr_mg_g(3.4, "mg/mmol") == pytest.approx(30.1, abs=0.1)


@pytest.mark.parametrize("convert", [hba1c_percent, glucose_mg_dl, uacr_mg_g])
def test_unknown_unit_raises(convert: object) -> None:
    with pytest.raises(ValueError, match="unknown"):
        convert(1.0, "stones")  # type: ignore[operator]


_NEAR_BOUNDS: list[tuple[type[BaseModel], str, Callable[[float, str], float], float, float]] = [
    (Glucose, "mmol/L", glucose_mg_dl, 10, 1500),
    (Glucose, "mg/dL", glucose_mg_dl, 10, 1500),
    (Hba1c, "mmol/mol", hba1c_percent, 3.0, 20.0),
    (Hba1c, "%", hba1c_percent, 3.0, 20.0),
    (Uacr, "mg/mmol", uacr_mg_g, 0, 30_000),
]


@pytest.mark.parametrize(
    ("model", "unit", "convert", "low", "high"),
    _NEAR_BOUNDS,
    ids=[f"{model.__name__}-{unit}" for model, unit, *_ in _NEAR_BOUNDS],
)
def test_plausibility_is_judged_on_the_rounded_conversion(
    model: type[BaseModel],
    unit: str,
    convert: Callable[[float, str], float],
    low: float,
    high: float,
) -> None:
    """The checks compare the unrounded conversion first (cheaper): values that only round
    into range, or only out of it, must be judged as the rounded conversion says."""
    kind = model.model_fields["kind"].default
    factor = convert(1000.0, unit) / 1000.0 if unit not in ("%", "mg/dL") else 1.0
    offset = convert(0.0, unit) if unit == "mmol/mol" else 0.0
    for bound in (low, high):
        centre = (bound - offset) / factor
        for step in range(-40, 41):
            value = centre * (1 + step * 1e-4)
            if value < 0:
                continue
            expected = low <= convert(value, unit) <= high
            submission = {"kind": kind, "value": value, "unit": unit, "effective_at": T}
            try:
                model.model_validate({**submission, "source": "clinic_lab"})
            except ValidationError:
                accepted = False
            else:
                accepted = True
            assert accepted is expected, (value, unit)
