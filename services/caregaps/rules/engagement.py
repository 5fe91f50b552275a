"""Engagement gaps: peer contact cadence, missed appointments, adherence and cost barriers.

The dose of peer support is what its evidence depends on (seed_domain.md 2.x): a participant
without a completed contact for longer than the model's expected cadence is a gap for the
peer supporter, as are missed clinic visits and medication problems reported in contacts.
"""

from __future__ import annotations

from schemas.vocabulary import GapCode, Priority
from services.caregaps.rules.facts import View
from services.caregaps.rules.model import DAY_S, Clearance, Finding, Outcome
from services.caregaps.state import FAR_FUTURE

__all__ = ["engagement_gaps"]


def engagement_gaps(view: View) -> Outcome:
    state, now, policy = view.state, view.now, view.policy
    profile = state.profile
    assert profile is not None
    items: list[Finding | Clearance] = []

    # No completed contact for longer than the model's cadence (policy.DEFAULT_CADENCE_DAYS).
    cadence = policy.engagement.for_model(profile.support_model)
    last = state.last_contact
    anchor = max(last.at, profile.since) if last else profile.since
    if now - anchor > cadence * DAY_S:
        items.append(
            Finding(
                GapCode.DISENGAGED,
                f"no-completed-contact-within-{cadence}-days",
                Priority.ROUTINE,
                (last.event_id,) if last else (),
            )
        )
        next_at = FAR_FUTURE
    else:
        items.append(Clearance(GapCode.DISENGAGED, "completed-contact-logged"))
        next_at = anchor + cadence * DAY_S + 1

    # The most recent missed appointment stays a gap until a later one is kept.
    appointments = sorted(state.appointments, key=lambda a: (a.scheduled_at, a.appointment_id))
    missed = [a for a in appointments if a.status == "missed"]
    if missed:
        latest = missed[-1]
        kept_later = any(
            a.status == "kept" and a.scheduled_at > latest.scheduled_at for a in appointments
        )
        if kept_later:
            items.append(Clearance(GapCode.MISSED_APPOINTMENT, "later-appointment-kept"))
        else:
            items.append(
                Finding(
                    GapCode.MISSED_APPOINTMENT,
                    f"missed-{latest.purpose.replace('_', '-')}-appointment",
                    Priority.ROUTINE,
                    (latest.event_id,),
                )
            )
    else:
        items.append(Clearance(GapCode.MISSED_APPOINTMENT, "appointment-no-longer-missed"))

    if state.adherence is not None and not state.adherence[1]:
        items.append(
            Finding(
                GapCode.MEDICATION_NONADHERENCE,
                "not-taking-medication-as-prescribed",
                Priority.ROUTINE,
                (state.adherence[0].event_id,),
            )
        )
    else:
        items.append(Clearance(GapCode.MEDICATION_NONADHERENCE, "taking-medication-as-prescribed"))

    if state.cost_barrier is not None and state.cost_barrier[1]:
        items.append(
            Finding(
                GapCode.MEDICATION_COST_BARRIER,
                "medication-cost-barrier-reported",
                Priority.ROUTINE,
                (state.cost_barrier[0].event_id,),
            )
        )
    else:
        items.append(Clearance(GapCode.MEDICATION_COST_BARRIER, "no-cost-barrier-reported"))
    return items, next_at
