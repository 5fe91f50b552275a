"""The static population: clinics, programmes, supporters, groups, pairs and participants.

Everything a participant *is* (model, clinic, baseline HbA1c, consent path, whether and when
they leave, how engaged they are) is decided here, once, from the seed. The event streams in
``services.simulator.streams`` then only read these attributes, which keeps each stream
independent and the whole run reproducible.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schemas.vocabulary import DiabetesType, ExitReason, SupporterRole, SupportModel
from services.simulator.params import ModelProfile, SimulationConfig

__all__ = [
    "MODEL_SLUGS",
    "Clinic",
    "Cohort",
    "Group",
    "Pair",
    "Participant",
    "Programme",
    "build_cohort",
    "rng_for",
]

#: Short, readable programme-id fragments per model.
MODEL_SLUGS: dict[SupportModel, str] = {
    SupportModel.PROFESSIONAL_LED_GROUP: "grpvisit",
    SupportModel.PEER_LED_GROUP: "dsmp",
    SupportModel.PEER_COACH: "coach",
    SupportModel.COMMUNITY_HEALTH_WORKER: "chw",
    SupportModel.TELEPHONE_PEER_PARTNER: "phone",
    SupportModel.ONLINE_COMMUNITY: "online",
}

_ROLE: dict[SupportModel, SupporterRole] = {
    SupportModel.PROFESSIONAL_LED_GROUP: SupporterRole.NURSE,
    SupportModel.PEER_LED_GROUP: SupporterRole.PEER_LEADER,
    SupportModel.PEER_COACH: SupporterRole.PEER_COACH,
    SupportModel.COMMUNITY_HEALTH_WORKER: SupporterRole.CHW,
    SupportModel.TELEPHONE_PEER_PARTNER: SupporterRole.PEER_PARTNER,
    SupportModel.ONLINE_COMMUNITY: SupporterRole.ONLINE_MODERATOR,
}


def rng_for(seed: int, *parts: object) -> random.Random:
    """An independent generator per (seed, stream name...): str seeds hash with SHA-512, so
    the sequence is the same on every run and platform."""
    # Simulation, not security: reproducibility is the point.
    return random.Random(":".join([str(seed), *map(str, parts)]))  # noqa: S311


@dataclass(frozen=True, kw_only=True)
class Clinic:
    clinic_id: str
    #: Reports HbA1c in mmol/mol (IFCC, LOINC 59261-8) rather than % (4548-4).
    si_units: bool


@dataclass(frozen=True, kw_only=True)
class Programme:
    programme_id: str
    model: SupportModel
    #: Peer supporters of this programme log glucose in mmol/L.
    glucose_mmol: bool


@dataclass(frozen=True, kw_only=True)
class Group:
    group_id: str
    programme_id: str
    leader_id: str
    facilitator: str  # "professional" | "peer"
    start: datetime
    #: Planned session times (also those after the simulated period, for sessions_planned).
    sessions: tuple[datetime, ...]


@dataclass(frozen=True, kw_only=True)
class Pair:
    pair_id: str
    members: tuple[int, ...]  # participant indexes (one when the programme had an odd count)


@dataclass(frozen=True, kw_only=True)
class Participant:
    index: int
    key: str
    model: SupportModel
    programme_id: str
    clinic_id: str
    patient_id: str
    diabetes_type: DiabetesType
    baseline_a1c: float
    a1c_goal: float
    on_insulin_or_su: bool
    foot_risk: int
    established_ckd: bool
    systolic: float
    diastolic: float
    distress: float
    phq9_level: float
    enrol_at: datetime
    consent: bool
    #: A later consent change (time, share_with_clinic), if any.
    consent_change: tuple[datetime, bool] | None
    exit: tuple[datetime, ExitReason] | None
    never_engaged: bool
    #: Multiplies the model's contact rate (mean about 1 among the engaged).
    engagement: float
    supporter_id: str | None
    supporter_role: SupporterRole
    group_id: str | None
    pair_id: str | None

    @property
    def end_at(self) -> datetime | None:
        """When the participant leaves, if they do."""
        return self.exit[0] if self.exit else None

    @property
    def dose(self) -> float:
        """Share of the model's full effect this participant receives (0 when never engaged)."""
        return 0.0 if self.never_engaged else min(1.0, self.engagement)


@dataclass(frozen=True, kw_only=True)
class Cohort:
    config: SimulationConfig
    clinics: tuple[Clinic, ...]
    programmes: tuple[Programme, ...]
    participants: tuple[Participant, ...]
    groups: dict[str, Group]
    pairs: dict[str, Pair]

    @property
    def start(self) -> datetime:
        return self.config.start

    @property
    def end(self) -> datetime:
        return self.config.start + timedelta(days=self.config.days)

    def clinic(self, clinic_id: str) -> Clinic:
        return next(c for c in self.clinics if c.clinic_id == clinic_id)

    def programme(self, programme_id: str) -> Programme:
        return next(p for p in self.programmes if p.programme_id == programme_id)


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights`` (exact, deterministic)."""
    scale = sum(weights)
    raw = [total * w / scale for w in weights]
    counts = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _truncated_normal(rng: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    for _ in range(100):
        value = rng.gauss(mean, sd)
        if low <= value <= high:
            return value
    return min(high, max(low, mean))


def _moment(rng: random.Random, day_start: datetime, first_hour: int, last_hour: int) -> datetime:
    """A time of day within working hours, to the minute, never exactly midnight."""
    minutes = rng.randrange(first_hour * 60, last_hour * 60)
    return day_start + timedelta(minutes=minutes)


_ONE_TO_ONE_SUPPORTED = frozenset(
    {SupportModel.PEER_COACH, SupportModel.COMMUNITY_HEALTH_WORKER, SupportModel.ONLINE_COMMUNITY}
)


def _participant(
    config: SimulationConfig,
    index: int,
    profile: ModelProfile,
    clinics: tuple[Clinic, ...],
    programmes: list[Programme],
) -> Participant:
    """One participant's static attributes, from its own generator (independent of others)."""
    people = config.people
    prng = rng_for(config.seed, "participant", index)
    end = config.start + timedelta(days=config.days)
    type1 = prng.random() < people.type1_share
    diabetes_type = DiabetesType.TYPE_1 if type1 else DiabetesType.TYPE_2
    enrol_day = prng.randrange(0, max(1, min(people.enrolment_window_days, config.days - 1)))
    enrol_at = _moment(prng, config.start + timedelta(days=enrol_day), 9, 17)
    remaining = (end - enrol_at).total_seconds() / 86_400

    consent = prng.random() < people.consent_share
    consent_change: tuple[datetime, bool] | None = None
    flip = people.consent_withdraw_share if consent else people.consent_later_share
    if prng.random() < flip and remaining > 30:
        consent_change = (enrol_at + timedelta(days=prng.uniform(14, remaining - 7)), not consent)

    exit_: tuple[datetime, ExitReason] | None = None
    u = prng.random()
    cumulative = 0.0
    for share, reason in (
        (people.withdraw_share, ExitReason.WITHDREW),
        (people.lost_share, ExitReason.LOST_TO_FOLLOW_UP),
        (people.moved_share, ExitReason.MOVED_AWAY),
    ):
        cumulative += share
        if u < cumulative:
            if remaining > 45:
                exit_ = (enrol_at + timedelta(days=prng.uniform(30, remaining - 3)), reason)
            break
    if exit_ and consent_change and consent_change[0] >= exit_[0]:
        consent_change = None

    baseline = _truncated_normal(
        prng, profile.baseline_a1c_mean, profile.baseline_a1c_sd, profile.baseline_a1c_min, 14.0
    )
    return Participant(
        index=index,
        key=f"{config.key_prefix}-{index + 1:06d}",
        model=profile.model,
        programme_id=programmes[index % len(programmes)].programme_id,
        clinic_id=clinics[prng.randrange(len(clinics))].clinic_id,
        patient_id=f"pat-{prng.getrandbits(40):010x}",
        diabetes_type=diabetes_type,
        baseline_a1c=round(baseline, 1),
        a1c_goal=8.0 if prng.random() < people.relaxed_goal_share else 7.0,
        on_insulin_or_su=diabetes_type is DiabetesType.TYPE_1
        or prng.random() < people.insulin_or_su_share_t2,
        foot_risk=prng.choices(range(4), weights=people.foot_risk_weights)[0],
        established_ckd=prng.random() < people.established_ckd_share,
        systolic=_truncated_normal(prng, people.systolic_mean, people.systolic_sd, 100, 200),
        diastolic=_truncated_normal(prng, people.diastolic_mean, people.diastolic_sd, 55, 115),
        distress=_truncated_normal(prng, people.distress_mean, people.distress_sd, 1.0, 6.0),
        phq9_level=_truncated_normal(prng, people.phq9_mean, people.phq9_sd, 0.0, 27.0),
        enrol_at=enrol_at,
        consent=consent,
        consent_change=consent_change,
        exit=exit_,
        never_engaged=prng.random() < profile.never_engaged,
        # Lognormal with mean 1: some participants engage far more than others.
        engagement=prng.lognormvariate(-0.08, 0.4),
        supporter_id=None,
        supporter_role=_ROLE[profile.model],
        group_id=None,
        pair_id=None,
    )


def build_cohort(config: SimulationConfig) -> Cohort:
    rng = rng_for(config.seed, "cohort")
    people = config.people
    si_clinics = round(config.clinic.clinics * config.clinic.si_clinic_share)
    clinics = tuple(
        Clinic(clinic_id=f"clinic-{i + 1:02d}", si_units=i < si_clinics)
        for i in range(config.clinic.clinics)
    )

    programmes: list[Programme] = []
    by_model: dict[SupportModel, list[Programme]] = {}
    for profile in config.profiles:
        slug = MODEL_SLUGS[profile.model]
        made = [
            Programme(
                programme_id=f"prog-{slug}-{n + 1}",
                model=profile.model,
                glucose_mmol=rng.random() < people.mmol_programme_share,
            )
            for n in range(max(1, profile.programmes))
        ]
        programmes.extend(made)
        by_model[profile.model] = made

    counts = _allocate(config.participants, [p.share for p in config.profiles])
    models: list[ModelProfile] = [
        profile for profile, n in zip(config.profiles, counts, strict=True) for _ in range(n)
    ]
    rng.shuffle(models)

    drafts: list[Participant] = []
    for index, profile in enumerate(models):
        drafts.append(_participant(config, index, profile, clinics, by_model[profile.model]))

    groups: dict[str, Group] = {}
    pairs: dict[str, Pair] = {}
    assigned: dict[int, dict[str, str]] = defaultdict(dict)
    for programme in programmes:
        profile = config.profile(programme.model)
        members = sorted(
            (d for d in drafts if d.programme_id == programme.programme_id),
            key=lambda d: (d.enrol_at, d.index),
        )
        slug = programme.programme_id.removeprefix("prog-")
        if profile.model in _ONE_TO_ONE_SUPPORTED:
            for position, member in enumerate(members):
                number = position // max(1, profile.caseload) + 1
                assigned[member.index]["supporter_id"] = f"sup-{slug}-{number:02d}"
        if profile.group_size > 0:
            for g, first in enumerate(range(0, len(members), profile.group_size)):
                chunk = members[first : first + profile.group_size]
                last = max(m.enrol_at for m in chunk)
                day = last.replace(hour=0, minute=0, second=0, microsecond=0)
                # Courses start the week after the last member joined, in the evening.
                group_start = day + timedelta(days=7, hours=18)
                group_id = f"grp-{slug}-{g + 1:02d}"
                leader = f"sup-{slug}-g{g + 1:02d}"
                groups[group_id] = Group(
                    group_id=group_id,
                    programme_id=programme.programme_id,
                    leader_id=leader,
                    facilitator="professional"
                    if profile.model is SupportModel.PROFESSIONAL_LED_GROUP
                    else "peer",
                    start=group_start,
                    sessions=tuple(group_start + timedelta(days=d) for d in profile.session_days),
                )
                for member in chunk:
                    assigned[member.index]["group_id"] = group_id
                    if profile.model is not SupportModel.TELEPHONE_PEER_PARTNER:
                        assigned[member.index]["supporter_id"] = leader
        if profile.model is SupportModel.TELEPHONE_PEER_PARTNER:
            # Partners are matched in enrolment order (the RPS trial matched by age [S20]).
            for n, first in enumerate(range(0, len(members), 2)):
                chunk = members[first : first + 2]
                pair_id = f"pair-{slug}-{n + 1:03d}"
                pairs[pair_id] = Pair(pair_id=pair_id, members=tuple(m.index for m in chunk))
                for member in chunk:
                    assigned[member.index]["pair_id"] = pair_id

    participants = tuple(
        replace(
            d,
            supporter_id=assigned[d.index].get("supporter_id"),
            group_id=assigned[d.index].get("group_id"),
            pair_id=assigned[d.index].get("pair_id"),
        )
        for d in drafts
    )
    return Cohort(
        config=config,
        clinics=clinics,
        programmes=tuple(programmes),
        participants=participants,
        groups=groups,
        pairs=pairs,
    )
