"""Gap lifecycle: open -> closed, or open -> cancelled with a reason.

``reconcile`` applies what the rules found to the participant's gap records and returns the
transitions. A gap that re-opens after closing is a new *episode* with a new deterministic id.
Derived gaps are updated when their reason or priority changes; red-flag episodes only when
severity rises, so repeated reports within an episode stay silent (rules 6.12).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.caregaps import GapAction, GapStatus
from schemas.vocabulary import GapCode, Priority
from services.caregaps.ids import gap_id
from services.caregaps.policy import RulePolicy
from services.caregaps.rules.catalogue import RED_FLAG_CODES, spec
from services.caregaps.rules.facts import retracted
from services.caregaps.rules.model import Clearance, Finding, Trigger
from services.caregaps.state import GapRecord, ParticipantState

__all__ = ["CODE_ORDER", "Reconciled", "episode_ends", "reconcile"]

#: Output order of gaps and transitions: the order of the GapCode vocabulary.
CODE_ORDER: Mapping[str, int] = {code.value: i for i, code in enumerate(GapCode)}
_RANK: Mapping[str, int] = {p.value: p.rank for p in Priority}
# Vocabulary members are str subclasses: records hold them directly (no ``.value`` lookups
# on the hot path); they compare, hash and serialise exactly like their string values.
_OPEN, _CLOSED, _CANCELLED = GapStatus.OPEN, GapStatus.CLOSED, GapStatus.CANCELLED
_EVIDENCE_LIMIT = 16
_EIE_REASON = "evidence-entered-in-error"


def _merge(old: Sequence[str], new: Iterable[str]) -> tuple[str, ...]:
    merged = list(old)
    for item in new:
        if item and item not in merged:
            merged.append(item)
    return tuple(merged[-_EVIDENCE_LIMIT:])


def _open(prev: GapRecord | None, finding: Finding | Trigger, now: int) -> GapRecord:
    if isinstance(finding, Finding):
        evidence, rids, coding = finding.evidence, finding.rids, finding.coding
    else:
        evidence, rids, coding = (finding.event_id,), _merge((), (finding.rid,)), None
    return GapRecord(
        code=finding.code,
        status=_OPEN,
        episode=prev.episode + 1 if prev else 1,
        priority=finding.priority,
        opened_at=now,
        closed_at=None,
        reason=finding.reason,
        close_reason=None,
        evidence=evidence[-_EVIDENCE_LIMIT:],
        rids=rids,
        coding=coding or spec(finding.code).coding,
    )


def _close(record: GapRecord, reason: str, now: int, *, cancel: bool) -> GapRecord:
    return record._replace(
        status=_CANCELLED if cancel else _CLOSED, closed_at=now, close_reason=reason
    )


def episode_ends(record: GapRecord, policy: RulePolicy) -> int:
    """When a red-flag episode is over: a fixed window from its opening (rules 6.12)."""
    return record.opened_at + policy.red_flag_episode_hours * 3600


class Reconciled:
    """The new gap records and the transitions that led to them."""

    __slots__ = ("delta", "gaps")

    def __init__(self, gaps: tuple[GapRecord, ...], delta: tuple[dict[str, Any], ...]) -> None:
        self.gaps = gaps
        self.delta = delta


def reconcile(
    state: ParticipantState,
    derived: Mapping[GapCode, Finding | Clearance],
    triggers: Sequence[Trigger],
    now: int,
    policy: RulePolicy,
    *,
    cancel_all: str | None = None,
    check_retractions: bool = True,
) -> Reconciled:
    """Apply findings, clearances and triggers to ``state.gaps``.

    ``cancel_all`` (participant exited) cancels every open gap with that reason and ignores
    everything else.
    """
    before = {g.code: g for g in state.gaps}
    # Only the records that change are collected: most events leave most gaps alone.
    changed: dict[str, GapRecord] = {}
    ended: dict[str, GapRecord] = {}  # episodes that ended in this step, by code

    if cancel_all is not None:
        for code, record in before.items():
            if record.status == _OPEN:
                changed[code] = _close(record, cancel_all, now, cancel=True)
        return _finish(state, before, changed, ended)

    for code, outcome in derived.items():
        prev = before.get(code)
        is_open = prev is not None and prev.status == _OPEN
        if isinstance(outcome, Finding):
            if prev is None or not is_open:
                changed[code] = _open(prev, outcome, now)
            else:
                coding = outcome.coding or spec(code).coding
                evidence = outcome.evidence[-_EVIDENCE_LIMIT:]
                if (prev.priority, prev.reason, prev.evidence, prev.rids, prev.coding) != (
                    outcome.priority,
                    outcome.reason,
                    evidence,
                    outcome.rids,
                    coding,
                ):
                    changed[code] = prev._replace(
                        priority=outcome.priority,
                        reason=outcome.reason,
                        evidence=evidence,
                        rids=outcome.rids,
                        coding=coding,
                    )
        elif is_open and prev is not None:
            # A gap whose every supporting result was entered in error never existed.
            cancel = retracted(state, prev.rids)
            changed[code] = _close(
                prev, _EIE_REASON if cancel else outcome.reason, now, cancel=cancel
            )

    # Red-flag episodes: end elapsed or retracted ones, then apply this event's triggers.
    for code, record in before.items():
        if record.status != _OPEN or code not in RED_FLAG_CODES:
            continue
        if check_retractions and retracted(state, record.rids):
            changed[code] = ended[code] = _close(record, _EIE_REASON, now, cancel=True)
        elif episode_ends(record, policy) <= now:
            closed = _close(record, "episode-window-elapsed", now, cancel=False)
            changed[code] = ended[code] = closed
    for trigger in triggers:
        code = trigger.code
        current = changed.get(code) or before.get(code)
        if current is None or current.status != _OPEN:
            changed[code] = _open(current, trigger, now)
        elif trigger.priority.rank > _RANK[current.priority]:
            changed[code] = current._replace(
                priority=trigger.priority,
                reason=trigger.reason,
                evidence=_merge(current.evidence, (trigger.event_id,)),
                rids=_merge(current.rids, (trigger.rid,)),
            )
        else:
            changed[code] = current._replace(
                evidence=_merge(current.evidence, (trigger.event_id,)),
                rids=_merge(current.rids, (trigger.rid,)),
            )
    return _finish(state, before, changed, ended)


def _transition(
    key: str, record: GapRecord, action: GapAction, *, reason: str, previous: str | None = None
) -> dict[str, Any]:
    """A ``GapTransition`` as its JSON object (field order of the contract model)."""
    return {
        "action": action,
        "gap_id": gap_id(key, record.code, record.episode),
        "code": record.code,
        "reason": reason,
        "priority": record.priority,
        "previous_priority": previous,
    }


def _finish(
    state: ParticipantState,
    before: Mapping[str, GapRecord],
    changed: Mapping[str, GapRecord],
    ended: Mapping[str, GapRecord],
) -> Reconciled:
    # A code absent here is equal before and after, so it makes no transition.
    changed = {code: a for code, a in changed.items() if before.get(code) != a}
    if not changed:
        return Reconciled(state.gaps, ())
    key = state.key
    delta: list[dict[str, Any]] = []
    for code in sorted(changed, key=CODE_ORDER.__getitem__):
        b, a = before.get(code), changed[code]
        if b is not None and b.status == _OPEN:
            closing = ended.get(code) or (a if a.episode == b.episode else None)
            if closing is not None and closing.status != _OPEN:
                action = GapAction.CANCELLED if closing.status == _CANCELLED else GapAction.CLOSED
                delta.append(_transition(key, closing, action, reason=closing.close_reason or ""))
            elif a.episode == b.episode and (a.priority, a.reason) != (b.priority, b.reason):
                delta.append(
                    _transition(
                        key,
                        a,
                        GapAction.UPDATED,
                        reason=a.reason,
                        previous=b.priority if b.priority != a.priority else None,
                    )
                )
        if a.status == _OPEN and (b is None or b.status != _OPEN or b.episode != a.episode):
            delta.append(_transition(key, a, GapAction.OPENED, reason=a.reason))
    # ``state.gaps`` is in code order; only codes seen for the first time need a sort.
    gaps = [changed.get(g.code, g) for g in state.gaps]
    first = [a for code, a in changed.items() if code not in before]
    if first:
        gaps.extend(first)
        gaps.sort(key=lambda g: CODE_ORDER[g.code])
    return Reconciled(tuple(gaps), tuple(delta))
