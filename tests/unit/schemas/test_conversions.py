"""Unit conversions against worked values from care_gap_rules.md section 3.5."""

from __future__ import annotations

import pytest

from schemas.measurements import glucose_mg_dl, hba1c_percent, uacr_mg_g


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
