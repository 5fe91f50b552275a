"""Thresholds and intervals of the care-gap rules, configurable per programme.

Every number cites its source: a section of ``reference/care_gap_rules.md`` ("rules 1.1",
"rules 5 DM-A1C-DUE", ...), ``reference/seed_domain.md`` for peer-support cadences, or
"PeerLink policy" where the references give no number and the value is an operational choice.
The clinical values are proposals that a clinical governance group signs off (rules, preamble).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, cast

from schemas.vocabulary import SupportModel

__all__ = [
    "DEFAULT_CADENCE_DAYS",
    "EngagementPolicy",
    "PolicySet",
    "RulePolicy",
    "policy_from_mapping",
]

#: Expected maximum days between completed peer contacts, per model (seed_domain.md 2.x).
DEFAULT_CADENCE_DAYS: Mapping[SupportModel, int] = MappingProxyType(
    {
        # Groups meet weekly for 6 weeks then monthly (Lorig DSMP; Australasian PfP monthly
        # groups, seed 2.2): a month plus a few days of slack.
        SupportModel.PROFESSIONAL_LED_GROUP: 35,
        SupportModel.PEER_LED_GROUP: 35,
        # Weekly mentor contact was the stipend criterion (Long 2020, seed 2.3): two weeks.
        SupportModel.PEER_COACH: 14,
        # CHW monthly telephone outreach after DSME (REACH Detroit 2018; Presley 2020, seed 2.4).
        SupportModel.COMMUNITY_HEALTH_WORKER: 35,
        # Partners were encouraged to talk weekly (Heisler 2010, seed 2.5): two weeks.
        SupportModel.TELEPHONE_PEER_PARTNER: 14,
        # No cadence in the sources for moderated forums: PeerLink policy.
        SupportModel.ONLINE_COMMUNITY: 30,
    }
)


def _frozen_map(items: Mapping[Any, int]) -> Mapping[Any, int]:
    return MappingProxyType(dict(sorted(items.items(), key=lambda kv: str(kv[0]))))


@dataclass(frozen=True, kw_only=True)
class EngagementPolicy:
    """Disengagement cadence per peer-support model (days without a completed contact)."""

    cadence_days: Mapping[SupportModel, int] = field(
        default_factory=lambda: _frozen_map(DEFAULT_CADENCE_DAYS)
    )

    def __post_init__(self) -> None:
        missing = set(SupportModel) - set(self.cadence_days)
        if missing:
            raise ValueError(f"engagement cadence missing for {sorted(m.value for m in missing)}")
        if any(days < 1 for days in self.cadence_days.values()):
            raise ValueError("engagement cadence must be at least one day")
        object.__setattr__(self, "cadence_days", _frozen_map(self.cadence_days))

    def for_model(self, model: SupportModel | str) -> int:
        """The cadence of a model, given as the member or its value (str enum: same key)."""
        return cast("Mapping[str, int]", self.cadence_days)[model]


def _default_foot_intervals() -> Mapping[int, int]:
    # IWGDF 2023 risk-based screening (rules 1.4): risk 0 annually, 1 every 6-12 months,
    # 2 every 3-6 months, 3 every 1-3 months. "Overdue" uses the upper end of each range.
    return _frozen_map({0: 365, 1: 365, 2: 183, 3: 92})


@dataclass(frozen=True, kw_only=True)
class RulePolicy:
    """Every threshold the rules use. Keyword-only and frozen: build variants with ``replace``."""

    # --- glycaemia -----------------------------------------------------------------------
    #: ADA default HbA1c goal < 7 % (53 mmol/mol); individualised goals override (rules 1.1).
    a1c_goal_percent: float = 7.0
    #: At goal: at least twice a year -> overdue after 183 days (rules 1.1; 5 DM-A1C-DUE).
    a1c_interval_at_goal_days: int = 183
    #: Not at goal or after a level 2/3 hypo: every 3 months -> 92 days (rules 1.1; 5).
    a1c_interval_not_at_goal_days: int = 92
    #: Poor control: most recent HbA1c > 9.0 % (CMS122, NCQA GSD; rules 2.1, 5 DM-A1C-POOR).
    a1c_poor_control_percent: float = 9.0
    #: Level 2/3 hypoglycaemia within this many days shortens the A1c interval (rules 5).
    a1c_recent_hypo_days: int = 92

    # --- eye, foot, kidney ---------------------------------------------------------------
    #: Retinal exam yearly (ADA 12; CMS131; rules 1.3, 5 DM-EYE-DUE).
    eye_interval_days: int = 365
    #: Every 2 years after a negative exam with glycaemia at goal (rules 1.3, 5 DM-EYE-DUE).
    eye_interval_negative_at_goal_days: int = 730
    #: Comprehensive foot exam at least annually (ADA 12; IHS; rules 1.4, 5 DM-FOOT-DUE).
    foot_interval_days: int = 365
    #: Interval by recorded IWGDF risk 0-3 (rules 1.4, 5 DM-FOOT-DUE).
    foot_interval_by_iwgdf_risk: Mapping[int, int] = field(default_factory=_default_foot_intervals)
    #: eGFR and UACR at least annually (ADA 11.1a; CMS951; rules 1.5, 5 DM-KIDNEY-DUE).
    kidney_interval_days: int = 365
    #: Established CKD: 1-4 times a year by stage (ADA 11.1b, rules 1.5); twice a year here.
    kidney_interval_ckd_days: int = 183
    #: UACR >= 30 mg/g is abnormal and needs a repeat (ADA/KDIGO; rules 1.5, 5 KIDNEY-CONFIRM).
    uacr_abnormal_mg_g: float = 30.0
    #: eGFR < 60 mL/min/1.73 m2 is abnormal and needs a repeat (rules 1.5).
    egfr_abnormal_below: float = 60.0

    # --- blood pressure ------------------------------------------------------------------
    #: No BP reading in 12 months (rules 5 DM-BP-DUE).
    bp_interval_days: int = 365
    #: ADA goal < 130/80 mmHg; above goal when SBP >= 130 or DBP >= 80 (rules 1.6, 5).
    bp_goal_systolic: int = 130
    bp_goal_diastolic: int = 80
    #: >= 160/100 on repeated CHW readings is urgent (rules 5 DM-BP-ABOVE-GOAL; CHWConnect).
    bp_urgent_systolic: int = 160
    bp_urgent_diastolic: int = 100
    #: Hypertensive crisis >= 180/120 on recheck (AHA; rules 4 RF12/RF13).
    bp_crisis_systolic: int = 180
    bp_crisis_diastolic: int = 120

    # --- psychosocial --------------------------------------------------------------------
    #: Screen for depression annually (ADA psychosocial 2016; IHS; rules 1.8, 5).
    depression_screen_interval_days: int = 365
    #: Positive screens: PHQ-9 >= 10, PHQ-2 >= 3 (CMS2; Kroenke; rules 4 RF15, 5 DEPR-FOLLOWUP).
    phq9_positive_total: int = 10
    phq2_positive_total: int = 3
    #: DDS-2 mean item score >= 3 high distress; 2.0-2.9 moderate (Fisher 2008; rules 5).
    dds2_high_mean: float = 3.0
    dds2_moderate_mean: float = 2.0

    # --- glucose red flags ---------------------------------------------------------------
    #: Level 2 hypoglycaemia < 54 mg/dL (ADA; rules 1.2, 4 RF2).
    hypo_level2_mg_dl: float = 54.0
    #: > 500 mg/dL: emergency department now (Schmitt-Thompson; rules 4 RF5).
    glucose_rf5_mg_dl: float = 500.0
    #: > 400 mg/dL or meter "HI": clinician within 1 hour (rules 4 RF6).
    glucose_rf6_mg_dl: float = 400.0
    #: > 240 mg/dL with moderate/large ketones (rules 4 RF4).
    glucose_rf4_mg_dl: float = 240.0
    #: > 300 mg/dL on 2 consecutive days (ADA LTC table; rules 4 RF7).
    glucose_rf7_mg_dl: float = 300.0
    #: CHW programme thresholds < 4.0 or > 20.0 mmol/L (CHWConnect; rules 4 RF9).
    glucose_rf9_low_mg_dl: float = 72.0
    glucose_rf9_high_mg_dl: float = 360.0

    # --- episodes, retention and onboarding ----------------------------------------------
    #: One red-flag alert per episode: repeats within 48 h only escalate (rules 6.12).
    red_flag_episode_hours: int = 48
    #: A measurement older than this when it arrives raises no red flag: the acute window
    #: has passed, and the derived care gaps still see the value (PeerLink policy).
    red_flag_max_measurement_age_hours: int = 72
    #: Days after enrolment before "nothing on record" gaps open, so clinic history can
    #: arrive first (PeerLink policy).
    new_participant_grace_days: int = 30
    #: How long closed or cancelled gaps stay in the snapshot (PeerLink policy).
    recently_closed_days: int = 30
    #: Evidence older than this is pruned; the newest result per kind is always kept
    #: (covers the 24-month eye interval plus slack; PeerLink policy).
    evidence_retention_days: int = 800

    engagement: EngagementPolicy = field(default_factory=EngagementPolicy)

    def __post_init__(self) -> None:
        risks = set(self.foot_interval_by_iwgdf_risk)
        if risks != {0, 1, 2, 3}:
            raise ValueError("foot_interval_by_iwgdf_risk needs IWGDF risks 0, 1, 2 and 3")
        object.__setattr__(
            self, "foot_interval_by_iwgdf_risk", _frozen_map(self.foot_interval_by_iwgdf_risk)
        )
        if self.a1c_poor_control_percent < self.a1c_goal_percent:
            raise ValueError("a1c_poor_control_percent must not be below a1c_goal_percent")
        if self.dds2_moderate_mean > self.dds2_high_mean:
            raise ValueError("dds2_moderate_mean must not exceed dds2_high_mean")


@dataclass(frozen=True, kw_only=True)
class PolicySet:
    """The default policy plus per-programme overrides (programme id -> full policy)."""

    default: RulePolicy = field(default_factory=RulePolicy)
    programmes: Mapping[str, RulePolicy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "programmes", MappingProxyType(dict(sorted(self.programmes.items())))
        )

    def for_programme(self, programme_id: str | None) -> RulePolicy:
        if programme_id is None:
            return self.default
        return self.programmes.get(programme_id, self.default)

    def fingerprint(self) -> str:
        """A short digest of every threshold: state computed under another policy is stale."""
        return hashlib.blake2b(repr(self).encode(), digest_size=6).hexdigest()


_SIMPLE_FIELDS = {f.name for f in fields(RulePolicy)} - {
    "engagement",
    "foot_interval_by_iwgdf_risk",
}


def _rule_policy(base: RulePolicy, overrides: Mapping[str, Any]) -> RulePolicy:
    unknown = set(overrides) - _SIMPLE_FIELDS - {"engagement", "foot_interval_by_iwgdf_risk"}
    if unknown:
        raise ValueError(f"unknown policy settings: {sorted(unknown)}")
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if k in _SIMPLE_FIELDS}
    if "foot_interval_by_iwgdf_risk" in overrides:
        changes["foot_interval_by_iwgdf_risk"] = {
            int(k): int(v) for k, v in overrides["foot_interval_by_iwgdf_risk"].items()
        }
    if "engagement" in overrides:
        cadence = {
            **base.engagement.cadence_days,
            **{SupportModel(k): int(v) for k, v in overrides["engagement"].items()},
        }
        changes["engagement"] = EngagementPolicy(cadence_days=cadence)
    return replace(base, **changes)


def policy_from_mapping(data: Mapping[str, Any]) -> PolicySet:
    """Build a policy set from plain data (a YAML/JSON file)::

        default: {a1c_goal_percent: 7.0, engagement: {peer_coach: 10}}
        programmes:
          prog-tpp-1: {red_flag_episode_hours: 24}

    Programme entries override the (already overridden) default.
    """
    default = _rule_policy(RulePolicy(), data.get("default") or {})
    programmes = {
        str(pid): _rule_policy(default, overrides or {})
        for pid, overrides in (data.get("programmes") or {}).items()
    }
    return PolicySet(default=default, programmes=programmes)
