"""The headline figures: the few numbers shown on dashboards, in gauges and report tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.evaluation.model import Figure, MetricsBlock

__all__ = ["HEADLINES", "Headline"]


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    section: str
    #: How the report prints the value: "count", "share" (as %), "rate" or "days".
    style: str
    pick: Callable[[MetricsBlock], Figure]


HEADLINES: tuple[Headline, ...] = (
    Headline("enrolled", "Participants", "Reach", "count", lambda b: b.reach.enrolled),
    Headline(
        "ever_contacted_share",
        "Ever contacted",
        "Reach",
        "share",
        lambda b: b.reach.ever_contacted_share,
    ),
    Headline(
        "days_to_first_contact_median",
        "Days to first contact (median)",
        "Reach",
        "days",
        lambda b: b.reach.days_to_first_contact_median,
    ),
    Headline(
        "consent_share",
        "Consent to share with clinic",
        "Reach",
        "share",
        lambda b: b.reach.consent_share,
    ),
    Headline(
        "contacts_per_participant_month",
        "Contacts per participant-month",
        "Dose",
        "rate",
        lambda b: b.dose.contacts_per_participant_month,
    ),
    Headline(
        "minutes_per_participant_month",
        "Minutes per participant-month",
        "Dose",
        "rate",
        lambda b: b.dose.minutes_per_participant_month,
    ),
    Headline(
        "weekly_contact_share",
        "Weeks with a contact",
        "Dose",
        "share",
        lambda b: b.dose.weekly_contact_share,
    ),
    Headline(
        "month6_to_month1_ratio",
        "Month-6 / month-1 contact rate",
        "Dose",
        "rate",
        lambda b: b.dose.month6_to_month1_ratio,
    ),
    Headline(
        "never_engaged_share",
        "Never engaged",
        "Dose",
        "share",
        lambda b: b.dose.never_engaged_share,
    ),
    Headline(
        "proactive_share", "Proactive contacts", "Dose", "share", lambda b: b.dose.proactive_share
    ),
    Headline(
        "all_four_key_functions_share",
        "Received all four key functions",
        "Dose",
        "share",
        lambda b: b.dose.key_function_coverage["all_four"],
    ),
    Headline(
        "care_gaps_closed_within_90d_share",
        "Care gaps closed within 90 days",
        "Linkage",
        "share",
        lambda b: b.linkage.gaps_by_kind["care_gap"].closed_within_90d_share,
    ),
    Headline(
        "care_gap_closure_median_days",
        "Days to close a care gap (median)",
        "Linkage",
        "days",
        lambda b: b.linkage.gaps_by_kind["care_gap"].median_days_to_closure,
    ),
    Headline(
        "red_flags_per_100_participant_months",
        "Red flags per 100 participant-months",
        "Linkage",
        "rate",
        lambda b: b.linkage.red_flags_per_100_participant_months["all"],
    ),
    Headline(
        "red_flags_with_clinic_evidence_share",
        "Red flags followed by clinic evidence",
        "Linkage",
        "share",
        lambda b: b.linkage.red_flags_with_clinic_evidence_share,
    ),
    Headline(
        "hba1c_mean_change",
        "HbA1c change (mean, points)",
        "Outcomes",
        "rate",
        lambda b: b.outcomes.hba1c.mean_change,
    ),
    Headline(
        "hba1c_drop_ge_1_share",
        "HbA1c fell by 1 point or more",
        "Outcomes",
        "share",
        lambda b: b.outcomes.hba1c.drop_ge_1_share or Figure(),
    ),
)
