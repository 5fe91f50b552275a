"""The care-gap engine as a pure function: ``apply(state, event, policy)``.

No clock, no randomness, no I/O: the log time of the event (or tick) is the only "now", so a
replay of the same log gives byte-identical states and change records. A clock tick leaves a
participant untouched (same object, no change) until its ``next_due`` time, which is what
lets the service skip most participants on every tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import AwareDatetime, TypeAdapter

from schemas.caregaps import (
    CareGap,
    CareGapChange,
    GapStatus,
)
from schemas.events import (
    SCHEMA_VERSION,
    AppointmentRecordedEvent,
    CareGapsChangedEvent,
    ClinicalResultReportedEvent,
    ClockTickEvent,
    ConsentChangedEvent,
    Event,
    ParticipantEnrolledEvent,
    ParticipantExitedEvent,
    PeerContactLoggedEvent,
)
from schemas.vocabulary import (
    Barrier,
    DiabetesType,
    ExitReason,
    GapCode,
    SupportModel,
)
from services.caregaps.ids import change_id, gap_id
from services.caregaps.policy import PolicySet, RulePolicy
from services.caregaps.renderings import GapRenderings
from services.caregaps.rules.catalogue import CODINGS, RED_FLAG_CODES, spec
from services.caregaps.rules.clinical import (
    CLINICAL_RULES,
    a1c_gaps,
    blood_pressure_gaps,
    depression_gaps,
    distress_gaps,
    eye_gaps,
    foot_gaps,
    kidney_gaps,
)
from services.caregaps.rules.engagement import engagement_gaps
from services.caregaps.rules.facts import (
    View,
    day_of,
    epoch,
    prune,
    record_appointment,
    record_result,
    result_from,
)
from services.caregaps.rules.lifecycle import episode_ends, reconcile
from services.caregaps.rules.model import DAY_S, Clearance, Finding, Trigger
from services.caregaps.rules.redflags import (
    hypo_triggers,
    measurement_triggers,
    reported_triggers,
)
from services.caregaps.state import (
    FAR_FUTURE,
    Appointment,
    Consent,
    Exit,
    GapRecord,
    ParticipantState,
    Profile,
    Stamp,
    kept_dumps,
    stub,
)

__all__ = ["CHANGE_SOURCE", "Change", "apply", "change_event", "step", "to_care_gap"]

#: CloudEvents ``source`` of the change records.
CHANGE_SOURCE = "peerlink://caregaps"
_OPEN = GapStatus.OPEN.value
_RULES = (*CLINICAL_RULES, engagement_gaps)
_ALL_RULES = frozenset(range(len(_RULES)))
_A1C, _ENGAGEMENT, _DEPRESSION = (
    _RULES.index(rule) for rule in (a1c_gaps, engagement_gaps, depression_gaps)
)
#: Which derived rules read results of each kind (HbA1c also decides the eye interval,
#: rules 1.3). Glucose and ketones only raise red flags.
_KIND_RULES: dict[str, tuple[int, ...]] = {
    kind: tuple(_RULES.index(rule) for rule in rules)
    for kind, rules in {
        "hba1c": (a1c_gaps, eye_gaps),
        "retinal_exam": (eye_gaps,),
        "foot_exam": (foot_gaps,),
        "egfr": (kidney_gaps,),
        "uacr": (kidney_gaps,),
        "blood_pressure": (blood_pressure_gaps,),
        "phq2": (depression_gaps,),
        "phq9": (depression_gaps,),
        "dds2": (distress_gaps,),
    }.items()
}
#: Set by tests to check that incremental evaluation equals evaluating every rule.
FULL_EVALUATION = False


def _touched(before: ParticipantState, after: ParticipantState) -> frozenset[int]:
    """Derived rules whose facts changed between two states of the same participant."""
    if (
        before.profile is not after.profile
        or before.exited is not after.exited
        or len(before.due) != len(_RULES)
    ):
        return _ALL_RULES
    touched: set[int] = set()
    if after.results is not before.results:
        for r in set(before.results).symmetric_difference(after.results):
            touched.update(_KIND_RULES.get(r.kind, ()))
    if after.last_hypo != before.last_hypo:
        touched.add(_A1C)
    if after.appointments is not before.appointments:
        touched.update((_DEPRESSION, _ENGAGEMENT))
    if (after.last_contact, after.adherence, after.cost_barrier) != (
        before.last_contact,
        before.adherence,
        before.cost_barrier,
    ):
        touched.add(_ENGAGEMENT)
    return frozenset(touched)


def _later(current: Stamp | None, candidate: Stamp) -> Stamp:
    """The stamp with the later time (event id breaks ties), whatever the arrival order."""
    if current is None or (candidate.at, candidate.event_id) > (current.at, current.event_id):
        return candidate
    return current


def _later_flag(current: tuple[Stamp, bool] | None, stamp: Stamp, flag: bool) -> tuple[Stamp, bool]:
    if current is None or (stamp.at, stamp.event_id) > (current[0].at, current[0].event_id):
        return (stamp, flag)
    return current


def _stated(current: Consent, share: bool, clinic_id: str | None, t: int) -> Consent:
    """Consent after a statement at ``t``. ``since`` moves only when sharing is granted or
    withdrawn: a participant who never agreed keeps ``since`` None (never consented), one
    who withdrew keeps the time of withdrawal."""
    granted_or_withdrawn = share or current.share_with_clinic
    return Consent(share, clinic_id, t if granted_or_withdrawn else current.since, t)


def _provisional(programme_id: str, model: SupportModel, since: int) -> Profile:
    """A participant seen before their enrolment: known programme and model, nothing else."""
    return Profile(
        programme_id=programme_id,
        support_model=model.value,
        clinic_id=None,
        patient=None,
        diabetes_type=DiabetesType.UNKNOWN.value,
        a1c_goal_percent=None,
        bp_goal_systolic=None,
        bp_goal_diastolic=None,
        iwgdf_foot_risk=None,
        established_ckd=False,
        since=since,
        enrolled=False,
    )


def _resolve(policy: PolicySet | RulePolicy, programme_id: str | None) -> RulePolicy:
    return policy if isinstance(policy, RulePolicy) else policy.for_programme(programme_id)


Changes = dict[str, Any]
"""Fields of ParticipantState an event changes, applied with one ``replace``."""


def _record(
    state: ParticipantState, event: Event, now: int, policy: PolicySet | RulePolicy
) -> tuple[Changes, list[Trigger], bool]:
    """Fold one event into the facts: the changed fields, the red-flag triggers, and
    whether the participant's enrolment, consent or participation changed."""
    t = epoch(event.time)
    if isinstance(event, ParticipantEnrolledEvent):
        d = event.data
        prev = state.profile
        reenrolled = state.exited is not None and t >= state.exited.at
        since = t if prev is None or reenrolled else min(prev.since, t)
        patient = (
            None
            if d.patient is None
            else (d.patient.literal_id, d.patient.identifier_system, d.patient.identifier_value)
        )
        profile = Profile(
            programme_id=d.programme_id,
            support_model=d.support_model.value,
            clinic_id=d.clinic_id,
            patient=patient,
            diabetes_type=d.diabetes_type.value,
            a1c_goal_percent=d.a1c_goal_percent,
            bp_goal_systolic=d.bp_goal_systolic,
            bp_goal_diastolic=d.bp_goal_diastolic,
            iwgdf_foot_risk=d.iwgdf_foot_risk,
            established_ckd=d.established_ckd,
            since=since,
            enrolled=True,
        )
        consent = state.consent
        if consent.stated_at is None or t >= consent.stated_at:
            consent = _stated(consent, d.consent_share_with_clinic, d.clinic_id, t)
        exited = None if reenrolled else state.exited
        changed = (profile, consent, exited) != (state.profile, state.consent, state.exited)
        return {"profile": profile, "consent": consent, "exited": exited}, [], changed
    if isinstance(event, ConsentChangedEvent):
        d_consent = event.data
        if state.consent.stated_at is not None and t < state.consent.stated_at:
            return {}, [], False  # an older consent event arriving late
        consent = _stated(state.consent, d_consent.share_with_clinic, d_consent.clinic_id, t)
        return {"consent": consent}, [], consent != state.consent
    if isinstance(event, ParticipantExitedEvent):
        if state.exited is not None and t < state.exited.at:
            return {}, [], False
        exited = Exit(event.data.reason.value, t, event.id)
        changed = state.exited is None or state.exited.reason != exited.reason
        return {"exited": exited}, [], changed
    if isinstance(event, PeerContactLoggedEvent):
        return _record_contact(state, event, t, now, policy)
    if isinstance(event, ClinicalResultReportedEvent):
        d_result = event.data
        fields: Changes = {}
        programme = state.profile.programme_id if state.profile else None
        if state.profile is None and d_result.programme_id and d_result.support_model:
            fields["profile"] = _provisional(d_result.programme_id, d_result.support_model, t)
            programme = d_result.programme_id
        p = _resolve(policy, programme)
        new_result = result_from(
            d_result.measurement, rid=d_result.result_id, reported=t, event_id=event.id
        )
        results = record_result(state.results, new_result)
        if results is state.results:
            return fields, [], False  # an older version of a known result
        fields["results"] = results
        if new_result.kind == "glucose" and new_result.values[0] < p.hypo_level2_mg_dl:
            fields["last_hypo"] = _later(state.last_hypo, Stamp(new_result.at, event.id))
        return fields, measurement_triggers(results, new_result, now, p), False
    if isinstance(event, AppointmentRecordedEvent):
        d_appt = event.data
        appointment = Appointment(
            appointment_id=d_appt.appointment_id,
            status=d_appt.status,
            scheduled_at=epoch(d_appt.scheduled_for),
            scheduled_day=day_of(d_appt.scheduled_for),
            purpose=d_appt.purpose,
            reported=t,
            event_id=event.id,
        )
        appointments = record_appointment(state.appointments, appointment)
        return {"appointments": appointments}, [], False
    return {}, [], False


def _record_contact(
    state: ParticipantState,
    event: PeerContactLoggedEvent,
    t: int,
    now: int,
    policy: PolicySet | RulePolicy,
) -> tuple[Changes, list[Trigger], bool]:
    d = event.data
    fields: Changes = {}
    profile = state.profile
    if profile is None:
        profile = fields["profile"] = _provisional(d.programme_id, d.support_model, t)
    p = _resolve(policy, profile.programme_id)
    stamp = Stamp(t, event.id)
    attended = d.detail is None or d.detail.kind != "group_session" or d.detail.attended
    if d.completed and attended:
        last_contact = _later(state.last_contact, stamp)
        if last_contact is not state.last_contact:
            fields["last_contact"] = last_contact
    triggers = reported_triggers(d.red_flags, event.id) if d.red_flags else []
    last_hypo = state.last_hypo
    if d.hypo_event is not None:
        triggers.extend(hypo_triggers(d.hypo_event, event.id))
        if d.hypo_event.level >= 2:
            last_hypo = _later(last_hypo, Stamp(epoch(d.hypo_event.occurred_at), event.id))
    if d.observations:
        new_results = [
            result_from(m, rid="", reported=t, event_id=event.id) for m in d.observations
        ]
        results = state.results
        for r in new_results:
            results = record_result(results, r)
        fields["results"] = results
        for r in new_results:
            if r.kind == "glucose" and r.values[0] < p.hypo_level2_mg_dl:
                last_hypo = _later(last_hypo, Stamp(r.at, event.id))
            triggers.extend(measurement_triggers(results, r, now, p))
    if last_hypo is not state.last_hypo:
        fields["last_hypo"] = last_hypo
    if d.adherence is not None:
        fields["adherence"] = _later_flag(state.adherence, stamp, d.adherence.taking_as_prescribed)
    if d.adherence is not None or d.barriers:
        # A contact that reports adherence or barriers also states whether cost is one.
        has_cost = Barrier.MEDICATION_COST in d.barriers or (
            d.adherence is not None and d.adherence.reason == "cost"
        )
        fields["cost_barrier"] = _later_flag(state.cost_barrier, stamp, has_cost)
    return fields, triggers, False


def _strip_old(gaps: tuple[GapRecord, ...], now: int, policy: RulePolicy) -> tuple[GapRecord, ...]:
    """Episodes closed before the snapshot window keep only code, status and episode number
    (numbering needs them); ``state.stub`` gives the canonical stripped record."""
    horizon = now - policy.recently_closed_days * DAY_S
    for g in gaps:
        if g.closed_at and g.closed_at < horizon:
            break
    else:
        return gaps
    return tuple(
        stub(g.code, g.status, g.episode, spec(g.code).coding)
        if g.closed_at is not None and 0 < g.closed_at < horizon
        else g
        for g in gaps
    )


#: The contract's JSON form of a datetime (the serializer itself, not the TypeAdapter
#: method around it: half the cost, same bytes).
_datetime_json = TypeAdapter(AwareDatetime).serializer.to_python


@lru_cache(maxsize=65_536)
def _iso(at: int) -> str:
    """Epoch seconds as the contract's JSON datetime (pydantic's UTC form, ``...Z``)."""
    # isoformat is about twice as fast as strftime; whole seconds: "...SS+00:00" -> "...SSZ".
    return datetime.fromtimestamp(at, UTC).isoformat()[:19] + "Z"


def _gap_json(key: str, g: GapRecord) -> dict[str, Any]:
    """A gap record as the contract's ``CareGap`` JSON object."""
    s = spec(g.code)
    coding = CODINGS[g.coding]
    return {
        "gap_id": gap_id(key, g.code, g.episode),
        "code": g.code,
        "kind": s.kind,
        "status": g.status,
        "priority": g.priority,
        "category": s.category,
        "episode": g.episode,
        "opened_at": _iso(g.opened_at),
        "closed_at": None if g.closed_at is None else _iso(g.closed_at),
        "reason": g.reason,
        "close_reason": g.close_reason,
        "recommended_action": s.action,
        "coding": {"system": coding.system, "code": coding.code, "display": coding.display},
        "evidence_event_ids": list(g.evidence),
    }


def _render_gap(key: str, g: GapRecord) -> bytes:
    """The serialised ``CareGap`` (kept: exact size, see ``kept_dumps``)."""
    return kept_dumps(_gap_json(key, g))


#: Serialised gaps reused across a participant's change records.
RENDERED: GapRenderings[GapRecord] = GapRenderings(_render_gap)


def _snapshot(
    key: str, gaps: tuple[GapRecord, ...], horizon: int
) -> tuple[list[orjson.Fragment], list[orjson.Fragment]]:
    """The serialised open and recently closed gaps of a change record."""
    shown = [
        g for g in gaps if g.status == _OPEN or (g.closed_at is not None and g.closed_at >= horizon)
    ]
    rendered = RENDERED.fragments(key, shown)
    if all(g.status == _OPEN for g in shown):  # the common case (and no gap at all)
        return rendered, []
    open_gaps = [f for g, f in zip(shown, rendered, strict=True) if g.status == _OPEN]
    closed = [f for g, f in zip(shown, rendered, strict=True) if g.status != _OPEN]
    return open_gaps, closed


def to_care_gap(key: str, g: GapRecord) -> CareGap:
    """The contract model of one gap record (validated)."""
    return CareGap.model_validate(_gap_json(key, g))


class Change:
    """One change record, kept as the JSON object of ``CareGapChange``.

    Building pydantic models for every change is the engine's slowest step, so the service
    writes these objects with orjson; the field order and formats are those of the contract
    models, and the unit tests check that every emitted record parses and re-serialises to
    the same bytes. ``model()`` gives the validated ``CareGapChange``.
    """

    __slots__ = ("data", "participant_key")

    def __init__(self, participant_key: str, data: dict[str, Any]) -> None:
        self.participant_key = participant_key
        self.data = data

    def envelope(self) -> dict[str, Any]:
        """The ``CareGapsChangedEvent`` JSON object (its id is the change id)."""
        return {
            "specversion": "1.0",
            "schema_version": SCHEMA_VERSION,
            "id": self.data["change_id"],
            "source": CHANGE_SOURCE,
            "time": self.data["as_of"],
            "datacontenttype": "application/json",
            "subject": self.participant_key,
            "type": "peerlink.caregaps.changed",
            "data": self.data,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.envelope())

    def model(self) -> CareGapChange:
        # The snapshot holds serialised gaps (fragments): validate the JSON as written.
        return CareGapChange.model_validate_json(orjson.dumps(self.data))


def _change(
    state: ParticipantState,
    *,
    cause_event_id: str,
    as_of: datetime,
    delta: tuple[dict[str, Any], ...],
    now: int,
    policy: RulePolicy,
) -> Change:
    profile = state.profile
    assert profile is not None
    horizon = now - policy.recently_closed_days * DAY_S
    key = state.key
    patient = profile.patient
    consent = state.consent
    open_gaps, recently_closed = _snapshot(key, state.gaps, horizon)
    return Change(
        key,
        {
            "change_id": change_id(key, state.seq),
            "sequence": state.seq,
            "cause_event_id": cause_event_id,
            "as_of": _datetime_json(as_of, mode="json"),
            "programme_id": profile.programme_id,
            "support_model": profile.support_model,
            "clinic_id": profile.clinic_id,
            "patient": None
            if patient is None
            else {
                "literal_id": patient[0],
                "identifier_system": patient[1],
                "identifier_value": patient[2],
            },
            "diabetes_type": profile.diabetes_type,
            "consent": {
                "share_with_clinic": consent.share_with_clinic,
                "clinic_id": consent.clinic_id,
                "since": None if consent.since is None else _iso(consent.since),
            },
            "participation": "exited" if state.exited is not None else "active",
            "open_gaps": open_gaps,
            "recently_closed": recently_closed,
            "delta": list(delta),
        },
    )


def _evaluate(
    before: ParticipantState,
    state: ParticipantState,
    *,
    cause_event_id: str,
    as_of: datetime,
    now: int,
    policy: PolicySet | RulePolicy,
    triggers: Sequence[Trigger],
    announce: bool,
) -> tuple[ParticipantState, Change | None]:
    """Re-derive the gaps of ``state`` (``before`` is the state before this event's facts).

    Only rules whose facts changed are re-evaluated, unless log time reached ``next_due``:
    every time-driven outcome is captured by a rule's due time, so the result equals a full
    evaluation (a unit test checks this on a long synthetic log).
    """
    profile = state.profile
    p = _resolve(policy, profile.programme_id if profile else None)
    facts_changed = (
        state.results is not before.results or state.appointments is not before.appointments
    )
    if facts_changed or now // DAY_S != before.clock // DAY_S:
        state = prune(state, now, p)
    if profile is None:
        # Unknown programme and model: nothing can be published yet; facts are kept.
        if state.next_due != FAR_FUTURE:
            state = state.evolve(next_due=FAR_FUTURE)
        return state, None
    due = state.due
    if state.exited is not None:
        reason = (
            "participant-died"
            if state.exited.reason == ExitReason.DIED.value
            else "participant-exited"
        )
        rec = reconcile(state, {}, (), now, p, cancel_all=reason)
        next_due = FAR_FUTURE
    else:
        rules = _ALL_RULES if FULL_EVALUATION or now >= state.next_due else _touched(before, state)
        derived: dict[GapCode, Finding | Clearance] = {}
        if rules:
            view = View(state, now, p)
            new_due = list(due) if len(due) == len(_RULES) else [FAR_FUTURE] * len(_RULES)
            for i in sorted(rules):
                items, new_due[i] = _RULES[i](view)
                for item in items:
                    derived[item.code] = item
            due = tuple(new_due)
        rec = reconcile(
            state, derived, triggers, now, p, check_retractions=state.results is not before.results
        )
        next_due = min(due)
        for g in rec.gaps:
            if g.status == _OPEN and g.code in RED_FLAG_CODES:
                next_due = min(next_due, episode_ends(g, p))
    gaps = _strip_old(rec.gaps, now, p)
    changed = bool(rec.delta) or announce
    if gaps is not state.gaps or next_due != state.next_due or due is not state.due or changed:
        state = state.evolve(
            gaps=gaps,
            next_due=next_due,
            due=due,
            seq=state.seq + 1 if changed else state.seq,
        )
    if not changed:
        return state, None
    return state, _change(
        state, cause_event_id=cause_event_id, as_of=as_of, delta=rec.delta, now=now, policy=p
    )


def step(
    state: ParticipantState, event: Event, policy: PolicySet | RulePolicy
) -> tuple[ParticipantState, Change | None]:
    """``apply`` without building the pydantic model: the service's hot path."""
    if isinstance(event, ClockTickEvent):
        t = epoch(event.time)
        if t < state.next_due:
            return state, None
        now = max(state.clock, t)
        ticked = state if now == state.clock else state.evolve(clock=now)
        return _evaluate(
            state,
            ticked,
            cause_event_id=event.id,
            as_of=event.time,
            now=now,
            policy=policy,
            triggers=(),
            announce=False,
        )
    if isinstance(event, CareGapsChangedEvent):
        return state, None  # our own output is never an input
    if event.subject != state.key:
        raise ValueError("event subject does not match the participant state's key")
    before = state
    now = max(state.clock, epoch(event.time))
    fields, triggers, announce = _record(state, event, now, policy)
    if fields or now != state.clock:
        state = state.evolve(clock=now, **fields)
    return _evaluate(
        before,
        state,
        cause_event_id=event.id,
        as_of=event.time,
        now=now,
        policy=policy,
        triggers=triggers,
        announce=announce,
    )


def apply(
    state: ParticipantState, event: Event, policy: PolicySet | RulePolicy
) -> tuple[ParticipantState, CareGapChange | None]:
    """Fold one event into a participant's state; return the new state and the change record
    (None when the participant's gaps, enrolment, consent and participation are unchanged).

    A ``ClockTickEvent`` applies to every participant of its partition: before the
    participant's ``next_due`` it returns ``state`` itself, unchanged.
    """
    new, change = step(state, event, policy)
    return new, None if change is None else change.model()


def change_event(change: CareGapChange, participant_key: str) -> CareGapsChangedEvent:
    """The envelope published on ``caregaps.changes.v1`` (its id is the change id)."""
    return CareGapsChangedEvent(
        id=change.change_id,
        type="peerlink.caregaps.changed",
        source=CHANGE_SOURCE,
        time=change.as_of,
        subject=participant_key,
        data=change,
    )
