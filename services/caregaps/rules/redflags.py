"""Red flags: what a peer reports, and what a reading shows (care_gap_rules.md section 4).

Red flags are episodic alerts, not derived states: they are raised by the event that shows
them and live for one episode (``RulePolicy.red_flag_episode_hours``, rules 6.12). Readings
raise at most one glucose flag each, the most severe that applies, so a single value never
fans out into several alerts; RF4 and RF7 combine readings of the same or consecutive days.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import HypoEvent, RedFlagReport
from schemas.measurements import ResultStatus
from schemas.vocabulary import GapCode, Priority
from services.caregaps.policy import RulePolicy
from services.caregaps.rules.catalogue import RED_FLAG_GAP
from services.caregaps.rules.facts import KETONE_LEVELS
from services.caregaps.rules.model import Trigger
from services.caregaps.state import Result

__all__ = ["hypo_triggers", "measurement_triggers", "reported_triggers"]

_MODERATE_KETONES = KETONE_LEVELS.index("moderate")
_EIE = ResultStatus.ENTERED_IN_ERROR.value


def _n(value: float) -> str:
    return f"{value:g}"


def reported_triggers(flags: Sequence[RedFlagReport], event_id: str) -> list[Trigger]:
    """A peer's explicit report always raises its flag, whatever the measurements say."""
    triggers = []
    for flag in flags:
        code, priority = RED_FLAG_GAP[flag.code]
        triggers.append(Trigger(code, priority, f"peer-reported-{flag.code.value}", event_id))
    return triggers


def hypo_triggers(hypo: HypoEvent, event_id: str) -> list[Trigger]:
    """Level 3 (needs help, RF1) is stat; level 2 (< 54 mg/dL, RF2) asap (rules 1.2, 4)."""
    if hypo.level == 3 or hypo.needed_assistance:
        return [Trigger(GapCode.HYPO_EVENT, Priority.STAT, "hypoglycaemia-level-3", event_id)]
    if hypo.level == 2:
        return [Trigger(GapCode.HYPO_EVENT, Priority.ASAP, "hypoglycaemia-level-2", event_id)]
    return []


def _glucose_flag(
    mg_dl: float, meter_hi: bool, p: RulePolicy
) -> tuple[GapCode, Priority, str] | None:
    if mg_dl < p.hypo_level2_mg_dl:
        return GapCode.HYPO_EVENT, Priority.ASAP, f"glucose-below-{_n(p.hypo_level2_mg_dl)}-mg-dl"
    if mg_dl > p.glucose_rf5_mg_dl:
        return GapCode.REDFLAG_RF5, Priority.STAT, f"glucose-above-{_n(p.glucose_rf5_mg_dl)}-mg-dl"
    if meter_hi:
        return GapCode.REDFLAG_RF6, Priority.ASAP, "glucose-meter-reads-hi"
    if mg_dl > p.glucose_rf6_mg_dl:
        return GapCode.REDFLAG_RF6, Priority.ASAP, f"glucose-above-{_n(p.glucose_rf6_mg_dl)}-mg-dl"
    if mg_dl > p.glucose_rf9_high_mg_dl:
        return (
            GapCode.REDFLAG_RF9,
            Priority.URGENT,
            f"glucose-above-{_n(p.glucose_rf9_high_mg_dl)}-mg-dl",
        )
    if mg_dl < p.glucose_rf9_low_mg_dl:
        return (
            GapCode.REDFLAG_RF9,
            Priority.URGENT,
            f"glucose-below-{_n(p.glucose_rf9_low_mg_dl)}-mg-dl",
        )
    return None


def _others(results: Sequence[Result], kind: str, new: Result) -> list[Result]:
    return [r for r in results if r.kind == kind and r.status != _EIE and r is not new]


def measurement_triggers(
    results: Sequence[Result], new: Result, now: int, p: RulePolicy
) -> list[Trigger]:
    """Flags a new reading raises. ``results`` already hold the reading; readings older than
    ``red_flag_max_measurement_age_hours`` at arrival raise nothing (the acute window has
    passed; the derived gaps still use them)."""
    if new.status == _EIE or new.at < now - p.red_flag_max_measurement_age_hours * 3600:
        return []
    t: list[Trigger] = []

    def add(code: GapCode, priority: Priority, reason: str) -> None:
        t.append(Trigger(code, priority, reason, new.event_id, new.rid))

    if new.kind == "glucose":
        mg_dl = new.values[0]
        flag = _glucose_flag(mg_dl, bool(new.values[1]), p)
        if flag is not None:
            add(*flag)
        if mg_dl > p.glucose_rf4_mg_dl and any(
            k.day == new.day and k.values[0] >= _MODERATE_KETONES
            for k in _others(results, "ketones", new)
        ):
            add(GapCode.REDFLAG_RF4, Priority.STAT, "glucose-above-240-with-ketones")
        if mg_dl > p.glucose_rf7_mg_dl and any(
            abs(g.day - new.day) == 1 and g.values[0] > p.glucose_rf7_mg_dl
            for g in _others(results, "glucose", new)
        ):
            add(
                GapCode.REDFLAG_RF7,
                Priority.URGENT,
                f"glucose-above-{_n(p.glucose_rf7_mg_dl)}-on-2-consecutive-days",
            )
    elif new.kind == "ketones":
        if new.values[0] >= _MODERATE_KETONES and any(
            g.day == new.day and g.values[0] > p.glucose_rf4_mg_dl
            for g in _others(results, "glucose", new)
        ):
            add(GapCode.REDFLAG_RF4, Priority.STAT, "glucose-above-240-with-ketones")
    elif new.kind == "blood_pressure":
        systolic, diastolic, reading, _device, symptoms = new.values
        crisis = systolic >= p.bp_crisis_systolic or diastolic >= p.bp_crisis_diastolic
        if crisis and symptoms:
            # With chest pain, breathlessness, weakness or vision change: an emergency even
            # before the recheck (AHA; rules 4 RF12).
            add(GapCode.REDFLAG_RF12, Priority.STAT, "bp-180-120-or-more-with-symptoms")
        elif crisis and reading >= 2:
            add(GapCode.REDFLAG_RF13, Priority.ASAP, "bp-180-120-or-more-on-recheck")
        elif reading >= 3 and (
            systolic > p.bp_urgent_systolic or diastolic > p.bp_urgent_diastolic
        ):
            add(GapCode.REDFLAG_RF9, Priority.URGENT, "bp-above-160-100-after-3-readings")
    elif new.kind == "phq9" and new.values[1] > 0:
        # Any answer above "not at all" on item 9 (LOINC 44260-8; rules 4 RF14, 5).
        add(GapCode.SUICIDE_RISK, Priority.ASAP, "phq9-item9-positive")
    return t
