"""Per-participant event streams, merged into one time-ordered stream with clock ticks.

Each participant has a few independent streams (lifecycle, one-to-one contacts or posts,
group sessions, partner calls, clinic labs, clinic visits, yearly exams), each with its own
random generator derived from the seed, each a lazy generator that yields in emission order.
``heapq.merge`` combines them per participant and then across participants, so memory stays
proportional to the number of participants, not of events.

Ordering guarantees (what the brief and the engine need):
- per participant, records come out in emission time order, enrolment first;
- clock ticks for day D are stamped at D+1 00:00 and sort before any record stamped at the
  same instant, i.e. after every record of day D (records are never stamped at midnight).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.events import (
    BridgedCallDetail,
    ClockTick,
    ClockTickEvent,
    ConsentChanged,
    ConsentChangedEvent,
    GroupSessionDetail,
    HypoEvent,
    MedicationAdherence,
    OneToOneDetail,
    OnlinePostDetail,
    ParticipantEnrolled,
    ParticipantEnrolledEvent,
    ParticipantExited,
    ParticipantExitedEvent,
    PeerContactLogged,
    PeerContactLoggedEvent,
    RedFlagReport,
)
from schemas.measurements import (
    GLUCOSE_MG_DL_PER_MMOL_L,
    BloodPressure,
    Dds2,
    Glucose,
    GlucoseContext,
    Ketones,
    MeasurementSource,
    Phq2,
    Phq9,
)
from schemas.vocabulary import (
    Barrier,
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    DiabetesType,
    DiscussionTopic,
    KeyFunction,
    ModeratorFlag,
    RedFlagCode,
    SupportModel,
)
from services.simulator import fhir_inbound as fhir
from services.simulator.cohort import Cohort, Participant, rng_for
from services.simulator.params import ModelProfile, SimulationConfig
from services.simulator.records import (
    CLINIC_TOPIC,
    CLOCK_TOPIC,
    FHIR_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PEER_TOPIC,
    SimRecord,
)

__all__ = ["a1c_true", "clock_ticks", "merged_stream", "participant_stream", "poisson"]

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_HALF_WEEK = timedelta(days=3.5)
_DAYS_PER_MONTH = 30.4375
_WEEKS_PER_MONTH = _DAYS_PER_MONTH / 7


def _month(since: datetime, at: datetime) -> int:
    """Whole months since ``since`` (0 in month 1): rates are set per month, as reported."""
    return int((at - since).total_seconds() // (_DAYS_PER_MONTH * 86_400))


#: (emit_at, rank, participant index, stream rank, sequence, record); ticks have rank 0 so
#: they sort before records stamped at the same instant.
Item = tuple[datetime, int, int, int, int, SimRecord]

#: Intake reads the sending clinic from this header (services.intake.fhir_inbound).
CLINIC_ID_HEADER = "x-peerlink-clinic-id"
_PEER_HEADERS = (("content-type", JSON_CONTENT_TYPE.encode()),)
_FHIR_HEADERS = (("content-type", FHIR_CONTENT_TYPE.encode()),)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small (a few per week)."""
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def a1c_true(config: SimulationConfig, p: Participant, at: datetime) -> float:
    """The participant's underlying HbA1c (%) at ``at``, before measurement noise.

    Engaged participants move toward ``baseline + effect`` over the first six months; the
    effect grows with baseline HbA1c (larger effects with worse control [S20, S41, S51]).
    Without support HbA1c drifts up slowly (*assumption*).
    """
    profile = config.profile(p.model)
    days = max(0.0, (at - p.enrol_at).total_seconds() / 86_400)
    scale = min(1.5, max(0.25, (p.baseline_a1c - 6.5) / 2.0))
    effect = profile.a1c_change_engaged * p.dose * scale * min(1.0, days / 182.0)
    drift = config.people.a1c_drift_per_year * days / 365.25
    return max(4.5, min(16.0, p.baseline_a1c + effect + drift))


def _moment(
    rng: random.Random, day: datetime, first_hour: int = 9, last_hour: int = 20
) -> datetime:
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(minutes=rng.randrange(first_hour * 60, last_hour * 60))


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_none=True).encode()


@dataclass(kw_only=True)
class _Ctx:
    """What every stream of one participant needs."""

    config: SimulationConfig
    cohort: Cohort
    p: Participant
    profile: ModelProfile
    horizon: datetime  # exit or end of period, exclusive
    glucose_mmol: bool
    clinic_si: bool

    @property
    def source(self) -> str:
        return f"peerlink://programme/{self.p.programme_id}"

    @property
    def subject(self) -> dict[str, Any]:
        return fhir.patient_reference(self.p.key, self.p.patient_id)

    def event_id(self, stream: str, seq: int) -> str:
        return f"sim{self.config.seed}-{self.p.key}-{stream}-{seq:05d}"

    def peer(self, stream_rank: int, seq: int, envelope: BaseModel, at: datetime) -> Item:
        record = SimRecord(
            topic=PEER_TOPIC,
            value=_dump(envelope),
            emit_at=at,
            key=self.p.key.encode(),
            headers=_PEER_HEADERS,
            kind=str(getattr(envelope, "type", "")),
            participant=self.p.key,
            record_id=str(getattr(envelope, "id", "")),
        )
        return (at, 1, self.p.index, stream_rank, seq, record)

    def clinic(self, stream_rank: int, seq: int, resource: dict[str, Any], at: datetime) -> Item:
        record = SimRecord(
            topic=CLINIC_TOPIC,
            value=orjson.dumps(resource),
            emit_at=at,
            key=self.p.key.encode(),
            headers=(*_FHIR_HEADERS, (CLINIC_ID_HEADER, self.p.clinic_id.encode())),
            kind=f"fhir:{resource['resourceType']}",
            participant=self.p.key,
            record_id=str(resource["id"]),
        )
        return (at, 1, self.p.index, stream_rank, seq, record)

    def a1c(self, at: datetime) -> float:
        return a1c_true(self.config, self.p, at)


# --------------------------------------------------------------------------- lifecycle


def _lifecycle(ctx: _Ctx) -> Iterator[Item]:
    p = ctx.p
    enrolled = ParticipantEnrolled(
        programme_id=p.programme_id,
        support_model=p.model,
        clinic_id=p.clinic_id,
        patient={"literal_id": p.patient_id},
        diabetes_type=p.diabetes_type,
        consent_share_with_clinic=p.consent,
        a1c_goal_percent=p.a1c_goal,
        iwgdf_foot_risk=p.foot_risk,
        established_ckd=p.established_ckd,
        on_insulin_or_sulfonylurea=p.on_insulin_or_su,
        supporter_id=p.supporter_id,
    )
    yield ctx.peer(
        0,
        0,
        ParticipantEnrolledEvent(
            id=ctx.event_id("enrol", 0),
            type="peerlink.participant.enrolled",
            source=ctx.source,
            time=p.enrol_at,
            subject=p.key,
            data=enrolled,
        ),
        p.enrol_at,
    )
    if p.consent_change is not None and p.consent_change[0] < ctx.horizon:
        when, share = p.consent_change
        yield ctx.peer(
            0,
            1,
            ConsentChangedEvent(
                id=ctx.event_id("consent", 1),
                type="peerlink.participant.consent_changed",
                source=ctx.source,
                time=when,
                subject=p.key,
                data=ConsentChanged(clinic_id=p.clinic_id, share_with_clinic=share),
            ),
            when,
        )
    if p.exit is not None:
        when, reason = p.exit
        yield ctx.peer(
            0,
            2,
            ParticipantExitedEvent(
                id=ctx.event_id("exit", 2),
                type="peerlink.participant.exited",
                source=ctx.source,
                time=when,
                subject=p.key,
                data=ParticipantExited(reason=reason),
            ),
            when,
        )


# --------------------------------------------------------------------------- measurements


@dataclass(kw_only=True)
class _Findings:
    observations: list[Any]
    red_flags: list[RedFlagCode]
    hypo: HypoEvent | None = None
    adherence: MedicationAdherence | None = None
    barriers: list[Barrier] | None = None

    def flag(self, code: RedFlagCode) -> None:
        if code not in self.red_flags:
            self.red_flags.append(code)


def _glucose(
    ctx: _Ctx, rng: random.Random, at: datetime, source: MeasurementSource, found: _Findings
) -> None:
    people = ctx.config.people
    sigma = (
        people.glucose_sigma_t1
        if ctx.p.diabetes_type is DiabetesType.TYPE_1
        else people.glucose_sigma_t2
    )
    # ADAG: estimated average glucose = 28.7 x A1c - 46.7 mg/dL [rules 3.5].
    mean = 28.7 * ctx.a1c(at) - 46.7
    mg_dl = max(25.0, min(600.0, mean * rng.lognormvariate(0.0, sigma)))
    context = rng.choice(list(GlucoseContext))
    if ctx.glucose_mmol:
        reading = Glucose(
            value=round(mg_dl / GLUCOSE_MG_DL_PER_MMOL_L, 1),
            unit="mmol/L",
            context=context,
            effective_at=at,
            source=source,
        )
    else:
        reading = Glucose(
            value=round(mg_dl), unit="mg/dL", context=context, effective_at=at, source=source
        )
    found.observations.append(reading)
    value = reading.mg_dl
    if value < 54:
        found.hypo = HypoEvent(level=2, occurred_at=at, glucose=reading)
        found.flag(RedFlagCode.HYPO_LEVEL_2)
    elif value < 70 and found.hypo is None:
        found.hypo = HypoEvent(level=1, occurred_at=at, glucose=reading)
    elif value > 500:
        found.flag(RedFlagCode.GLUCOSE_ABOVE_500)
    elif value > 400:
        found.flag(RedFlagCode.GLUCOSE_ABOVE_400)
    elif ctx.p.model is SupportModel.COMMUNITY_HEALTH_WORKER and (value < 72 or value > 360):
        found.flag(RedFlagCode.CHW_THRESHOLD)  # CHWConnect thresholds [S47]


def _bp(
    ctx: _Ctx,
    rng: random.Random,
    at: datetime,
    source: MeasurementSource,
    found: _Findings,
    *,
    repeat: bool,
) -> None:
    people = ctx.config.people
    shift = 0.0
    if ctx.p.model is SupportModel.PEER_LED_GROUP and ctx.p.dose > 0:
        shift = -2.3  # systolic 2.3 mmHg lower with group support in RAPSID [S34]
    systolic = ctx.p.systolic + shift + rng.gauss(0, people.bp_reading_sd)
    diastolic = ctx.p.diastolic + 0.45 * (systolic - ctx.p.systolic) + rng.gauss(0, 5)
    readings: list[tuple[int, int]] = [(round(systolic), round(diastolic))]
    # CHWs re-measure up to three times before flagging a high reading [S47].
    while repeat and len(readings) < 3 and (readings[-1][0] >= 140 or readings[-1][1] >= 90):
        last_s, last_d = readings[-1]
        readings.append((round(last_s - 3 + rng.gauss(0, 4)), round(last_d - 1 + rng.gauss(0, 3))))
    symptoms = False
    last_s, last_d = readings[-1]
    if last_s >= 180 or last_d >= 120:
        symptoms = rng.random() < 0.15
        found.flag(
            RedFlagCode.HYPERTENSIVE_EMERGENCY if symptoms else RedFlagCode.HYPERTENSIVE_URGENCY
        )
    for number, (raw_s, raw_d) in enumerate(readings, start=1):
        s = max(80, min(260, raw_s))
        d = max(40, min(s - 10, raw_d))
        found.observations.append(
            BloodPressure(
                systolic=s,
                diastolic=d,
                unit="mmHg",
                reading_number=number,
                device="automated",
                with_symptoms=symptoms and number == len(readings),
                effective_at=at + timedelta(minutes=2 * (number - 1)),
                source=source,
            )
        )


def _dds2(ctx: _Ctx, rng: random.Random, at: datetime, found: _Findings) -> None:
    def item() -> int:
        return max(1, min(6, round(rng.gauss(ctx.p.distress, 0.7))))

    found.observations.append(
        Dds2(item1=item(), item2=item(), effective_at=at, source=MeasurementSource.PEER_MEASURED)
    )


def _phq(ctx: _Ctx, rng: random.Random, at: datetime, found: _Findings) -> None:
    people = ctx.config.people
    phq2 = max(0, min(6, round(ctx.p.phq9_level * 6 / 27 * 1.3 + rng.gauss(0, 0.8))))
    found.observations.append(
        Phq2(total=phq2, effective_at=at, source=MeasurementSource.PEER_MEASURED)
    )
    if phq2 < 3:
        return
    total = max(phq2, min(27, round(rng.gauss(max(ctx.p.phq9_level, 8.0), 3.0))))
    item9 = 0
    odds = people.item9_positive_share * (2.0 if total >= 15 else 1.0) * 3.0
    if rng.random() < odds:
        item9 = min(total, rng.choice((1, 1, 1, 2, 3)))
    found.observations.append(
        Phq9(
            total=total,
            item9=item9,
            effective_at=at + timedelta(minutes=5),
            source=MeasurementSource.PEER_MEASURED,
        )
    )
    if item9 > 0:
        found.flag(RedFlagCode.SUICIDAL_THOUGHTS)


def _rare_events(ctx: _Ctx, rng: random.Random, at: datetime, found: _Findings) -> None:
    flags = ctx.config.red_flags
    p = ctx.p
    if p.diabetes_type is DiabetesType.TYPE_1:
        hypo_rate = flags.hypo_report_t1
    elif p.on_insulin_or_su:
        hypo_rate = flags.hypo_report_insulin_t2
    else:
        hypo_rate = flags.hypo_report_other
    if rng.random() < hypo_rate:
        level = rng.choices((1, 2, 3), weights=flags.hypo_level_weights)[0]
        when = at - timedelta(days=rng.uniform(0.5, 6))
        previous = found.hypo.level if found.hypo else 0
        if level > previous:
            found.hypo = HypoEvent(level=level, needed_assistance=level == 3, occurred_at=when)
        if level == 2:
            found.flag(RedFlagCode.HYPO_LEVEL_2)
        elif level == 3:
            found.flag(RedFlagCode.HYPO_LEVEL_3)
    if rng.random() < flags.chest_pain:
        found.flag(RedFlagCode.CHEST_PAIN)
    wound = (
        flags.new_foot_wound_chw
        if p.model is SupportModel.COMMUNITY_HEALTH_WORKER
        else flags.new_foot_wound
    )
    if rng.random() < wound:
        found.flag(RedFlagCode.NEW_FOOT_WOUND)
    if p.diabetes_type is DiabetesType.TYPE_1 and rng.random() < flags.dka_signs_t1:
        found.flag(RedFlagCode.DKA_SIGNS)
        found.observations.append(
            Ketones(level="large", effective_at=at, source=MeasurementSource.SELF_REPORT)
        )
    if rng.random() < flags.sick_day:
        found.flag(RedFlagCode.SICK_DAY)


def _adherence(ctx: _Ctx, rng: random.Random, found: _Findings) -> None:
    if rng.random() >= ctx.config.people.nonadherence_share:
        found.adherence = MedicationAdherence(taking_as_prescribed=True, missed_doses_last_7_days=0)
        return
    reason = rng.choices(
        ("forgot", "cost", "side_effects", "ran_out", "other"), weights=(0.4, 0.25, 0.15, 0.1, 0.1)
    )[0]
    found.adherence = MedicationAdherence(
        taking_as_prescribed=False,
        missed_doses_last_7_days=rng.randint(1, 7),
        reason=reason,
    )
    if reason == "cost":
        found.barriers = [Barrier.MEDICATION_COST]


# --------------------------------------------------------------------------- contacts

_TOPICS: dict[SupportModel, tuple[DiscussionTopic, ...]] = {
    SupportModel.PROFESSIONAL_LED_GROUP: (
        DiscussionTopic.HEALTHY_EATING,
        DiscussionTopic.MEDICATION_TAKING,
        DiscussionTopic.BLOOD_PRESSURE,
        DiscussionTopic.FOOT_CARE,
    ),
    SupportModel.PEER_LED_GROUP: (
        DiscussionTopic.HEALTHY_EATING,
        DiscussionTopic.PHYSICAL_ACTIVITY,
        DiscussionTopic.STRESS_COPING,
        DiscussionTopic.GOAL_SETTING,
        DiscussionTopic.COMMUNICATION_WITH_PROVIDERS,
    ),
    SupportModel.PEER_COACH: (
        DiscussionTopic.GOAL_SETTING,
        DiscussionTopic.MEDICATION_TAKING,
        DiscussionTopic.GLUCOSE_MONITORING,
        DiscussionTopic.DIABETES_DISTRESS,
        DiscussionTopic.PHYSICAL_ACTIVITY,
        DiscussionTopic.APPOINTMENTS_TESTS,
    ),
    SupportModel.COMMUNITY_HEALTH_WORKER: (
        DiscussionTopic.MEDICATION_TAKING,
        DiscussionTopic.BLOOD_PRESSURE,
        DiscussionTopic.APPOINTMENTS_TESTS,
        DiscussionTopic.HEALTH_SYSTEM_NAVIGATION,
        DiscussionTopic.FOOD_ACCESS,
        DiscussionTopic.MEDICATION_COST_ACCESS,
        DiscussionTopic.FOOT_CARE,
    ),
    SupportModel.TELEPHONE_PEER_PARTNER: (),
    SupportModel.ONLINE_COMMUNITY: (
        DiscussionTopic.HEALTHY_EATING,
        DiscussionTopic.GLUCOSE_MONITORING,
        DiscussionTopic.DIABETES_DISTRESS,
        DiscussionTopic.INSULIN_USE,
    ),
}

_FUNCTIONS: dict[SupportModel, tuple[KeyFunction, ...]] = {
    SupportModel.PROFESSIONAL_LED_GROUP: (
        KeyFunction.DAILY_MANAGEMENT,
        KeyFunction.LINKAGE_CLINICAL_CARE,
    ),
    SupportModel.PEER_LED_GROUP: (
        KeyFunction.DAILY_MANAGEMENT,
        KeyFunction.SOCIAL_EMOTIONAL_SUPPORT,
    ),
    SupportModel.PEER_COACH: (
        KeyFunction.DAILY_MANAGEMENT,
        KeyFunction.SOCIAL_EMOTIONAL_SUPPORT,
        KeyFunction.ONGOING_SUPPORT,
    ),
    SupportModel.COMMUNITY_HEALTH_WORKER: (
        KeyFunction.DAILY_MANAGEMENT,
        KeyFunction.LINKAGE_CLINICAL_CARE,
        KeyFunction.LINKAGE_COMMUNITY_RESOURCES,
    ),
    SupportModel.TELEPHONE_PEER_PARTNER: (
        KeyFunction.SOCIAL_EMOTIONAL_SUPPORT,
        KeyFunction.ONGOING_SUPPORT,
    ),
    SupportModel.ONLINE_COMMUNITY: (
        KeyFunction.SOCIAL_EMOTIONAL_SUPPORT,
        KeyFunction.ONGOING_SUPPORT,
    ),
}


def _pick_topics(rng: random.Random, model: SupportModel) -> tuple[DiscussionTopic, ...]:
    pool = _TOPICS[model]
    if not pool:
        return ()
    chosen = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
    return tuple(sorted(chosen, key=pool.index))


def _pick_functions(rng: random.Random, model: SupportModel) -> tuple[KeyFunction, ...]:
    pool = _FUNCTIONS[model]
    chosen = [f for f in pool if rng.random() < 0.7] or [pool[0]]
    return tuple(chosen)


@dataclass(kw_only=True)
class _ScreenClock:
    """When the last distress / depression screen was done by peers."""

    dds2: datetime | None = None
    phq: datetime | None = None

    def due(self, last: datetime | None, every_days: int, at: datetime) -> bool:
        return every_days > 0 and (last is None or (at - last).days >= every_days)


def _contact_event(
    ctx: _Ctx,
    *,
    stream: str,
    seq: int,
    at: datetime,
    channel: ContactChannel,
    direction: ContactDirection,
    outcome: ContactOutcome,
    duration: int | None,
    detail: Any,
    supporter_id: str | None,
    topics: tuple[DiscussionTopic, ...] = (),
    functions: tuple[KeyFunction, ...] = (),
    found: _Findings | None = None,
) -> PeerContactLoggedEvent:
    found = found or _Findings(observations=[], red_flags=[])
    data = PeerContactLogged(
        programme_id=ctx.p.programme_id,
        support_model=ctx.p.model,
        supporter_id=supporter_id,
        supporter_role=ctx.p.supporter_role,
        channel=channel,
        direction=direction,
        outcome=outcome,
        duration_min=duration,
        key_functions=functions,
        topics=topics,
        detail=detail,
        observations=tuple(found.observations),
        red_flags=tuple(RedFlagReport(code=c, observed_at=at) for c in found.red_flags),
        hypo_event=found.hypo,
        adherence=found.adherence,
        barriers=tuple(found.barriers or ()),
    )
    return PeerContactLoggedEvent(
        id=ctx.event_id(stream, seq),
        type="peerlink.contact.logged",
        source=ctx.source,
        time=at,
        subject=ctx.p.key,
        data=data,
    )


def _weekly_times(
    rng: random.Random, week_start: datetime, count: int, horizon: datetime
) -> list[datetime]:
    times = sorted(
        _moment(rng, week_start + timedelta(days=rng.randrange(7))) for _ in range(count)
    )
    return [t for t in times if t < horizon]


def _one_to_one(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Coach calls and CHW visits: weekly attempts whose completed rate declines [S26, S49]."""
    rng = rng_for(ctx.config.seed, ctx.p.key, "contacts")
    p, profile = ctx.p, ctx.profile
    screens = _ScreenClock()
    seq = 0
    week = p.enrol_at + timedelta(days=1)
    fail_ratio = profile.attempt_fail_share / max(1e-9, 1.0 - profile.attempt_fail_share)
    while week < ctx.horizon:
        months = _month(p.enrol_at, week + _HALF_WEEK)
        per_week = profile.monthly_rate(months) / _WEEKS_PER_MONTH
        if p.never_engaged:
            # The supporter keeps trying for about two months, then stops.
            completed, failed = 0, (poisson(rng, per_week) if months < 2 else 0)
        else:
            completed = poisson(rng, per_week * p.engagement)
            failed = poisson(rng, per_week * p.engagement * fail_ratio)
        plan = [(t, True) for t in _weekly_times(rng, week, completed, ctx.horizon)]
        plan += [(t, False) for t in _weekly_times(rng, week, failed, ctx.horizon)]
        for at, done in sorted(plan):
            seq += 1
            yield ctx.peer(
                stream_rank,
                seq,
                _one_to_one_event(ctx, rng, screens, seq=seq, at=at, done=done),
                at,
            )
        week += _WEEK


def _one_to_one_event(
    ctx: _Ctx, rng: random.Random, screens: _ScreenClock, *, seq: int, at: datetime, done: bool
) -> PeerContactLoggedEvent:
    p, profile = ctx.p, ctx.profile
    chw = p.model is SupportModel.COMMUNITY_HEALTH_WORKER
    if chw:
        channel = rng.choices(
            (
                ContactChannel.HOME_VISIT,
                ContactChannel.PHONE_LIVE,
                ContactChannel.COMMUNITY_IN_PERSON,
            ),
            weights=(0.6, 0.35, 0.05),
        )[0]
    else:
        channel = rng.choices(
            (ContactChannel.PHONE_LIVE, ContactChannel.COMMUNITY_IN_PERSON, ContactChannel.SMS),
            weights=(0.75, 0.15, 0.1),
        )[0]
    direction = (
        ContactDirection.PROACTIVE_BY_SUPPORTER
        if rng.random() < 0.8
        else ContactDirection.PARTICIPANT_INITIATED
    )
    if not done:
        outcome = rng.choice((ContactOutcome.ATTEMPTED_NO_ANSWER, ContactOutcome.VOICEMAIL_LEFT))
        return _contact_event(
            ctx,
            stream="contact",
            seq=seq,
            at=at,
            channel=ContactChannel.PHONE_LIVE,
            direction=ContactDirection.PROACTIVE_BY_SUPPORTER,
            outcome=outcome,
            duration=None,
            detail=OneToOneDetail(),
            supporter_id=p.supporter_id,
        )
    minutes = profile.minutes(_month(p.enrol_at, at))
    if channel is ContactChannel.SMS:
        minutes = 2.0
    elif channel is ContactChannel.PHONE_LIVE and chw:
        minutes = minutes / 2
    duration = max(1, round(minutes * rng.lognormvariate(-0.05, 0.3)))
    in_person = channel in (ContactChannel.HOME_VISIT, ContactChannel.COMMUNITY_IN_PERSON)
    found = _Findings(observations=[], red_flags=[])
    if channel is not ContactChannel.SMS:
        if rng.random() < profile.p_glucose:
            source = (
                MeasurementSource.METER_REVIEWED if in_person else MeasurementSource.SELF_REPORT
            )
            _glucose(ctx, rng, at, source, found)
        if rng.random() < profile.p_bp and (in_person or not chw):
            source = MeasurementSource.PEER_MEASURED if in_person else MeasurementSource.SELF_REPORT
            _bp(ctx, rng, at, source, found, repeat=chw)
        if screens.due(screens.dds2, profile.dds2_every_days, at):
            screens.dds2 = at
            _dds2(ctx, rng, at, found)
        if screens.due(screens.phq, profile.phq_every_days, at):
            screens.phq = at
            _phq(ctx, rng, at, found)
        if rng.random() < profile.p_adherence:
            _adherence(ctx, rng, found)
        _rare_events(ctx, rng, at, found)
        if chw and rng.random() < 0.05:
            extra = rng.choice((Barrier.TRANSPORT, Barrier.FOOD_INSECURITY, Barrier.HOUSING))
            found.barriers = sorted({*(found.barriers or []), extra}, key=list(Barrier).index)
    detail = OneToOneDetail(
        # Goals were set in 62 % of CHW encounters [S46].
        action_plan_set=rng.random() < (0.62 if chw else 0.5),
        nurse_consulted=bool(found.red_flags) and chw,
    )
    return _contact_event(
        ctx,
        stream="contact",
        seq=seq,
        at=at,
        channel=channel,
        direction=direction,
        outcome=ContactOutcome.COMPLETED,
        duration=duration,
        detail=detail,
        supporter_id=p.supporter_id,
        topics=_pick_topics(rng, p.model),
        functions=_pick_functions(rng, p.model),
        found=found,
    )


def _online(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Forum posts and replies, moderator check-ins and flags [S53]."""
    rng = rng_for(ctx.config.seed, ctx.p.key, "online")
    p, profile, flags = ctx.p, ctx.profile, ctx.config.red_flags
    seq = 0
    week = p.enrol_at + timedelta(days=1)
    threads = 0
    while week < ctx.horizon:
        months = _month(p.enrol_at, week + _HALF_WEEK)
        per_week = profile.monthly_rate(months) / _WEEKS_PER_MONTH
        posts = 0 if p.never_engaged else poisson(rng, per_week * p.engagement)
        # Moderators check in on members now and then (more often on quiet ones).
        check_in = rng.random() < (0.06 if posts == 0 else 0.02)
        plan = [(t, "post") for t in _weekly_times(rng, week, posts, ctx.horizon)]
        plan += [(t, "check") for t in _weekly_times(rng, week, int(check_in), ctx.horizon)]
        for at, what in sorted(plan):
            seq += 1
            found = _Findings(observations=[], red_flags=[])
            if what == "check":
                detail = OnlinePostDetail(
                    thread_id=f"thr-{p.programme_id[5:]}-mod", post_kind="moderator_check_in"
                )
                direction, duration = ContactDirection.PROACTIVE_BY_SUPPORTER, 3
            else:
                if rng.random() < 0.3 or threads == 0:
                    threads += 1
                    kind = "post"
                else:
                    kind = "reply"
                flag: ModeratorFlag | None = None
                u = rng.random()
                if u < flags.post_acute:
                    flag = ModeratorFlag.ACUTE_CONCERN
                    found.flag(
                        rng.choice((RedFlagCode.SUICIDAL_THOUGHTS, RedFlagCode.HYPO_LEVEL_2))
                    )
                elif u < flags.post_acute + flags.post_risky:
                    flag = ModeratorFlag.RISKY_BEHAVIOUR
                elif u < flags.post_acute + flags.post_risky + flags.post_misinformation:
                    flag = ModeratorFlag.MISINFORMATION
                if rng.random() < profile.p_glucose:
                    _glucose(ctx, rng, at, MeasurementSource.SELF_REPORT, found)
                detail = OnlinePostDetail(
                    thread_id=f"thr-{p.key}-{threads:03d}",
                    post_kind=kind,
                    moderator_flag=flag,
                    escalated=flag is ModeratorFlag.ACUTE_CONCERN,
                )
                direction, duration = ContactDirection.PARTICIPANT_INITIATED, None
            event = _contact_event(
                ctx,
                stream="online",
                seq=seq,
                at=at,
                channel=ContactChannel.ONLINE_FORUM,
                direction=direction,
                outcome=ContactOutcome.COMPLETED,
                duration=duration,
                detail=detail,
                supporter_id=p.supporter_id,
                topics=_pick_topics(rng, p.model) if what == "post" else (),
                functions=_pick_functions(rng, p.model),
                found=found,
            )
            yield ctx.peer(stream_rank, seq, event, at)
        week += _WEEK


def _group_sessions(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Attendance records, one per planned session, including did-not-attend [S33, S34]."""
    p, profile = ctx.p, ctx.profile
    if p.group_id is None:
        return
    group = ctx.cohort.groups[p.group_id]
    rng = rng_for(ctx.config.seed, p.key, "group")
    screens = _ScreenClock()
    # Telephone partners' group sessions are optional: never-engaged pairs still skip them.
    for number, at in enumerate(group.sessions, start=1):
        if at >= ctx.horizon:
            break
        if at < p.enrol_at:
            continue
        months = (at - p.enrol_at).days / _DAYS_PER_MONTH
        attended = not p.never_engaged and rng.random() < profile.attendance(months)
        found = _Findings(observations=[], red_flags=[])
        if attended:
            if rng.random() < profile.p_bp:
                _bp(ctx, rng, at, MeasurementSource.PEER_MEASURED, found, repeat=False)
            if screens.due(screens.dds2, profile.dds2_every_days, at):
                screens.dds2 = at
                _dds2(ctx, rng, at, found)
            if screens.due(screens.phq, profile.phq_every_days, at):
                screens.phq = at
                _phq(ctx, rng, at, found)
        detail = GroupSessionDetail(
            session_id=f"{group.group_id}-s{number}",
            session_number=number,
            sessions_planned=len(group.sessions),
            attended=attended,
            facilitator=group.facilitator,
        )
        professional = group.facilitator == "professional"
        event = _contact_event(
            ctx,
            stream="group",
            seq=number,
            at=at,
            channel=ContactChannel.GROUP_SESSION_IN_PERSON,
            direction=ContactDirection.PROACTIVE_BY_SUPPORTER,
            outcome=ContactOutcome.COMPLETED if attended else ContactOutcome.DID_NOT_ATTEND,
            duration=(120 if professional else 90) if attended else None,
            detail=detail,
            supporter_id=group.leader_id,
            topics=_pick_topics(rng, p.model) if attended else (),
            functions=_pick_functions(rng, p.model) if attended else (),
            found=found,
        )
        yield ctx.peer(stream_rank, number, event, at)


def _pair_calls(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Bridged partner calls: metadata only, identical for both partners [S20, S22]."""
    p, profile = ctx.p, ctx.profile
    if p.pair_id is None:
        return
    pair = ctx.cohort.pairs[p.pair_id]
    members = [ctx.cohort.participants[i] for i in pair.members]
    if len(members) < 2:
        return
    # Drawn from the pair's generator only, so both partners log the very same calls.
    rng = rng_for(ctx.config.seed, "pair", pair.pair_id)
    start = max(m.enrol_at for m in members) + timedelta(days=2)
    ends = [m.end_at for m in members if m.end_at is not None]
    horizon = min([ctx.cohort.end, *ends])
    engaged = not any(m.never_engaged for m in members)
    engagement = sum(m.engagement for m in members) / len(members)
    fail_ratio = profile.attempt_fail_share / max(1e-9, 1.0 - profile.attempt_fail_share)
    seq = 0
    week = start
    while week < horizon:
        months = _month(start, week + _HALF_WEEK)
        per_week = profile.monthly_rate(months) / _WEEKS_PER_MONTH * engagement
        completed = poisson(rng, per_week) if engaged else 0
        # Automated reminders keep prompting a silent pair for a while [S20].
        missed = poisson(rng, per_week * fail_ratio) if engaged else int(months < 2)
        plan = [(t, True) for t in _weekly_times(rng, week, completed, horizon)]
        plan += [(t, False) for t in _weekly_times(rng, week, missed, horizon)]
        for at, done in sorted(plan):
            seq += 1
            reminder = rng.random() < 0.5
            minutes = max(1, round(profile.minutes(months) * rng.lognormvariate(-0.1, 0.45)))
            if at >= ctx.horizon:
                continue
            detail = BridgedCallDetail(
                pair_id=pair.pair_id,
                started_at=at,
                ended_at=at + timedelta(minutes=minutes) if done else None,
                reminder_prompted=reminder,
            )
            event = _contact_event(
                ctx,
                stream="call",
                seq=seq,
                at=at,
                channel=ContactChannel.PHONE_PLATFORM_BRIDGED,
                direction=ContactDirection.SYSTEM_REMINDER_PROMPTED
                if reminder
                else ContactDirection.PARTICIPANT_INITIATED,
                outcome=ContactOutcome.COMPLETED if done else ContactOutcome.ATTEMPTED_NO_ANSWER,
                duration=minutes if done else None,
                detail=detail,
                supporter_id=None,
                functions=_pick_functions(rng, p.model) if done else (),
            )
            yield ctx.peer(stream_rank, seq, event, at)
        week += _WEEK


# --------------------------------------------------------------------------- clinic


def _lab_delay(ctx: _Ctx, rng: random.Random) -> timedelta:
    low, high = ctx.config.clinic.lab_delay_days
    return timedelta(days=rng.randint(low, high), hours=rng.randint(0, 6))


def _a1c_labs(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """HbA1c results: a baseline on linkage, then 3- or 6-monthly with gaps [rules 1.1]."""
    rng = rng_for(ctx.config.seed, ctx.p.key, "a1c")
    clinic, p = ctx.config.clinic, ctx.p
    seq = 0

    def result(effective: datetime, emit: datetime) -> Item:
        nonlocal seq
        seq += 1
        percent = ctx.a1c(effective) + rng.gauss(0, ctx.config.people.a1c_measure_sd)
        percent = max(4.5, min(16.0, percent))
        resource = fhir.hba1c(
            resource_id=f"a1c-{p.key}-{seq:03d}",
            clinic_id=p.clinic_id,
            subject=ctx.subject,
            effective=effective,
            issued=emit,
            percent=percent,
            si_units=ctx.clinic_si,
        )
        return ctx.clinic(stream_rank, seq, resource, emit)

    last_value = p.baseline_a1c
    last = p.enrol_at - timedelta(days=rng.uniform(14, clinic.baseline_a1c_max_age_days))
    if rng.random() < clinic.baseline_a1c_share:
        last = _moment(rng, last, 8, 12)
        # Sent when the participant is linked to the programme (history backfill).
        emit = p.enrol_at + timedelta(hours=2)
        if emit < ctx.horizon:
            yield result(last, emit)
    while True:
        at_goal = last_value < p.a1c_goal
        interval = (
            clinic.a1c_interval_at_goal_days if at_goal else clinic.a1c_interval_above_goal_days
        )
        if rng.random() < clinic.a1c_done_share:
            due = last + timedelta(days=interval + rng.uniform(-14, 21))
        else:
            due = last + timedelta(days=interval + rng.uniform(30, 120))
        effective = _moment(rng, max(due, p.enrol_at + _DAY), 8, 12)
        emit = effective + _lab_delay(ctx, rng)
        if emit >= ctx.horizon:
            return
        item = result(effective, emit)
        last, last_value = effective, ctx.a1c(effective)
        yield item


def _visits(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Diabetes review visits: kept (BP, Appointment/Encounter), missed or cancelled."""
    rng = rng_for(ctx.config.seed, ctx.p.key, "visits")
    clinic, p = ctx.config.clinic, ctx.p
    seq = 0
    at = _moment(rng, p.enrol_at + timedelta(days=rng.uniform(14, 60)), 9, 16)
    number = 0
    while at < ctx.horizon:
        number += 1
        visit_id = f"visit-{p.key}-{number:03d}"
        u = rng.random()
        items: list[tuple[datetime, dict[str, Any] | PeerContactLoggedEvent]] = []
        if u < clinic.no_show_share:
            items.append(
                (
                    at + timedelta(hours=2),
                    fhir.appointment(
                        resource_id=visit_id,
                        clinic_id=p.clinic_id,
                        subject=ctx.subject,
                        start=at,
                        minutes=30,
                        status="noshow",
                    ),
                )
            )
        elif u < clinic.no_show_share + clinic.cancel_share:
            items.append(
                (
                    at - timedelta(hours=20),
                    fhir.appointment(
                        resource_id=visit_id,
                        clinic_id=p.clinic_id,
                        subject=ctx.subject,
                        start=at,
                        minutes=30,
                        status="cancelled",
                    ),
                )
            )
        else:
            systolic = round(p.systolic + rng.gauss(0, ctx.config.people.bp_reading_sd))
            diastolic = round(p.diastolic + 0.45 * (systolic - p.systolic) + rng.gauss(0, 5))
            diastolic = max(40, min(systolic - 10, diastolic))
            items.append(
                (
                    at + timedelta(minutes=20),
                    fhir.bp_panel(
                        resource_id=f"bp-{p.key}-{number:03d}",
                        clinic_id=p.clinic_id,
                        subject=ctx.subject,
                        effective=at + timedelta(minutes=10),
                        systolic=systolic,
                        diastolic=diastolic,
                    ),
                )
            )
            if rng.random() < clinic.encounter_share:
                kept: dict[str, Any] = fhir.encounter(
                    resource_id=visit_id,
                    clinic_id=p.clinic_id,
                    subject=ctx.subject,
                    start=at,
                    minutes=30,
                )
            else:
                kept = fhir.appointment(
                    resource_id=visit_id,
                    clinic_id=p.clinic_id,
                    subject=ctx.subject,
                    start=at,
                    minutes=30,
                    status="fulfilled",
                )
            items.append((at + timedelta(minutes=105), kept))
            # CHWs accompany participants to clinic visits (REACH Detroit [S42]).
            chw = p.model is SupportModel.COMMUNITY_HEALTH_WORKER and not p.never_engaged
            if chw and rng.random() < 0.3:
                accompany = _contact_event(
                    ctx,
                    stream="accompany",
                    seq=number,
                    at=at,
                    channel=ContactChannel.CLINIC_ACCOMPANIMENT,
                    direction=ContactDirection.PROACTIVE_BY_SUPPORTER,
                    outcome=ContactOutcome.COMPLETED,
                    duration=90,
                    detail=OneToOneDetail(accompanied_to_clinic=True),
                    supporter_id=p.supporter_id,
                    topics=(DiscussionTopic.COMMUNICATION_WITH_PROVIDERS,),
                    functions=(KeyFunction.LINKAGE_CLINICAL_CARE,),
                )
                items.append((at + timedelta(minutes=60), accompany))
        for emit, payload in sorted(items, key=lambda pair: pair[0]):
            if emit >= ctx.horizon:
                continue
            seq += 1
            if isinstance(payload, PeerContactLoggedEvent):
                yield ctx.peer(stream_rank, seq, payload, emit)
            else:
                yield ctx.clinic(stream_rank, seq, payload, emit)
        gap = clinic.visit_interval_days + rng.uniform(-14, 21)
        at = _moment(rng, at + timedelta(days=gap), 9, 16)


def _yearly(ctx: _Ctx, stream_rank: int) -> Iterator[Item]:
    """Eye and foot exams, kidney tests and a PHQ-9, each done in some years [rules 1.3-1.8]."""
    rng = rng_for(ctx.config.seed, ctx.p.key, "yearly")
    clinic, p = ctx.config.clinic, ctx.p
    planned: list[tuple[datetime, int, list[dict[str, Any]]]] = []
    year = 0
    while p.enrol_at + timedelta(days=365 * year) < ctx.horizon:
        base = p.enrol_at + timedelta(days=365 * year)
        tag = f"{p.key}-y{year + 1}"

        def when(base: datetime = base) -> datetime:
            return _moment(rng, base + timedelta(days=rng.uniform(20, 340)), 8, 16)

        if rng.random() < clinic.eye_done_share:
            performed = when()
            retinopathy = rng.random() < clinic.retinopathy_share
            if rng.random() < clinic.eye_ai_share:
                exam = fhir.retinal_screen_ai(
                    resource_id=f"eye-{tag}",
                    clinic_id=p.clinic_id,
                    subject=ctx.subject,
                    effective=performed,
                    retinopathy=retinopathy,
                )
            else:
                exam = fhir.retinal_exam(
                    resource_id=f"eye-{tag}",
                    clinic_id=p.clinic_id,
                    subject=ctx.subject,
                    performed=performed,
                    retinopathy=retinopathy,
                )
            planned.append((performed + timedelta(days=rng.randint(2, 10)), 0, [exam]))
        if rng.random() < clinic.foot_done_share:
            performed = when()
            # Most clinics record the three parts of a comprehensive exam; some only look.
            parts = 3 if rng.random() < clinic.foot_comprehensive_share else 1
            exams = [
                fhir.foot_exam(
                    resource_id=f"foot-{tag}-{part + 1}",
                    clinic_id=p.clinic_id,
                    subject=ctx.subject,
                    performed=performed,
                    component=part,
                )
                for part in range(parts)
            ]
            if parts > 1:
                exams = [fhir.bundle(f"foot-{tag}", p.clinic_id, exams)]
            planned.append((performed + timedelta(hours=3), 1, exams))
        if rng.random() < clinic.kidney_done_share:
            effective = when()
            gfr = rng.gauss(48, 10) if p.established_ckd else rng.gauss(86, 14)
            ratio = rng.lognormvariate(math.log(120 if p.established_ckd else 12), 0.9)
            rounds = [(effective, "", gfr, ratio)]
            if (ratio >= 30 or gfr < 60) and rng.random() < clinic.kidney_repeat_share:
                again = _moment(rng, effective + timedelta(days=rng.uniform(90, 180)), 8, 16)
                rounds.append(
                    (again, "-r", gfr + rng.gauss(0, 5), ratio * rng.lognormvariate(0, 0.3))
                )
            for effective, suffix, gfr_value, uacr_value in rounds:
                issued = effective + _lab_delay(ctx, rng)
                pair = [
                    fhir.egfr(
                        resource_id=f"egfr-{tag}{suffix}",
                        clinic_id=p.clinic_id,
                        subject=ctx.subject,
                        effective=effective,
                        issued=issued,
                        value=max(8.0, min(140.0, gfr_value)),
                    ),
                    fhir.uacr(
                        resource_id=f"uacr-{tag}{suffix}",
                        clinic_id=p.clinic_id,
                        subject=ctx.subject,
                        effective=effective,
                        issued=issued,
                        mg_per_g=min(3000.0, uacr_value),
                        si_units=rng.random() < clinic.uacr_si_share,
                    ),
                ]
                if rng.random() < clinic.bundle_share:
                    pair = [fhir.bundle(f"labs-{tag}{suffix}", p.clinic_id, pair)]
                planned.append((issued, 2, pair))
        if rng.random() < clinic.phq9_done_share:
            effective = when()
            total = max(0, min(27, round(rng.gauss(p.phq9_level, 3))))
            item9 = min(total, 1) if rng.random() < ctx.config.people.item9_positive_share else 0
            screen = fhir.phq9(
                resource_id=f"phq9-{tag}",
                clinic_id=p.clinic_id,
                subject=ctx.subject,
                effective=effective,
                total=total,
                item9=item9,
            )
            planned.append((effective + timedelta(minutes=30), 3, [screen]))
        year += 1
    seq = 0
    for emit, _order, resources in sorted(planned, key=lambda item: (item[0], item[1])):
        if emit >= ctx.horizon:
            continue
        for resource in resources:
            seq += 1
            yield ctx.clinic(stream_rank, seq, resource, emit)


# --------------------------------------------------------------------------- assembly


def participant_stream(cohort: Cohort, p: Participant) -> Iterator[Item]:
    """Every record of one participant, in emission order (enrolment first)."""
    config = cohort.config
    horizon = min(cohort.end, p.end_at) if p.end_at else cohort.end
    programme = cohort.programme(p.programme_id)
    ctx = _Ctx(
        config=config,
        cohort=cohort,
        p=p,
        profile=config.profile(p.model),
        horizon=horizon,
        glucose_mmol=programme.glucose_mmol,
        clinic_si=cohort.clinic(p.clinic_id).si_units,
    )
    streams: list[Iterator[Item]] = [_lifecycle(ctx)]
    if p.model is SupportModel.ONLINE_COMMUNITY:
        streams.append(_online(ctx, 1))
    elif ctx.profile.contacts_month1 > 0 and p.model is not SupportModel.TELEPHONE_PEER_PARTNER:
        streams.append(_one_to_one(ctx, 1))
    streams.append(_group_sessions(ctx, 2))
    streams.append(_pair_calls(ctx, 3))
    streams += [_a1c_labs(ctx, 4), _visits(ctx, 5), _yearly(ctx, 6)]
    last: datetime | None = None
    for item in heapq.merge(*streams):
        if item[0] >= cohort.end:
            return
        if last is not None and item[0] < last:  # pragma: no cover - guarded by design
            raise AssertionError(f"stream of {p.key} went back in time at {item[0]}")
        last = item[0]
        yield item


def clock_ticks(config: SimulationConfig) -> Iterator[Item]:
    """One tick per partition at the end of every ``tick_every_days`` days (D+1 00:00)."""
    for k in range(1, config.days // config.tick_every_days + 1):
        at = config.start + timedelta(days=k * config.tick_every_days)
        for partition in range(config.clock_partitions):
            # Same id scheme as the pipeline clock (services.caregaps.clock), so a tick for
            # the same instant and partition is recognisable as the same tick.
            tick = ClockTickEvent(
                id=f"tick-{at:%Y%m%dT%H%M%S}000Z-p{partition}",
                type="peerlink.clock.tick",
                source="peerlink://simulator/clock",
                time=at,
                data=ClockTick(partition=partition),
            )
            record = SimRecord(
                topic=CLOCK_TOPIC,
                value=_dump(tick),
                emit_at=at,
                partition=partition,
                headers=_PEER_HEADERS,
                kind="peerlink.clock.tick",
                record_id=tick.id,
            )
            yield (at, 0, -1, partition, k, record)


def merged_stream(cohort: Cohort) -> Iterator[SimRecord]:
    """All participants and the clock, in emission order; deterministic for a seed."""
    streams = [participant_stream(cohort, p) for p in cohort.participants]
    for item in heapq.merge(clock_ticks(cohort.config), *streams):
        yield item[5]
