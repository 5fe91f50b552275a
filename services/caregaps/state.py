"""Per-participant state of the care-gap engine: compact, bounded, serialisable.

The state is a pure value: named tuples of tuples, immutable and cheap to build (a frozen
dataclass sets each field through ``object.__setattr__``, several times slower). It holds
the *facts* the rules need (results by business id with their latest version, the last
completed contact, adherence, appointments, red-flag episodes) and the lifecycle of every
gap. Old evidence is pruned by ``services.caregaps.rules.facts.prune`` so the state stays
under about 2 KB.

On the wire (``caregaps.state.changelog``) the state is a positional JSON array written with
orjson: no field names, epoch seconds and day ordinals instead of ISO strings. ``from_bytes``
inverts ``to_bytes`` exactly, so a state restored from the changelog equals the state before.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

from services.caregaps.renderings import GapRenderings

__all__ = [
    "ENCODED_GAPS",
    "FAR_FUTURE",
    "STATE_FORMAT",
    "Appointment",
    "Consent",
    "Exit",
    "GapRecord",
    "ParticipantState",
    "Profile",
    "Result",
    "Stamp",
    "StateFormatError",
    "kept_dumps",
    "stub",
]

#: Version of the byte format; bump it when the layout changes (old records then fail loudly).
STATE_FORMAT = 1
#: "Never": used as next_due when no time-driven change is pending (year 2286).
FAR_FUTURE = 9_999_999_999


class StateFormatError(ValueError):
    """The bytes are not a participant state of a format this code understands."""


class Stamp(NamedTuple):
    """When something happened (epoch seconds) and the event that said so."""

    at: int
    event_id: str


class Result(NamedTuple):
    """One version of a clinical result or a measurement logged with a contact.

    ``rid`` is the business key (``ClinicalResultReported.result_id``); empty for
    measurements inside a contact, which cannot be corrected. ``values`` depend on ``kind``
    (see ``services.caregaps.rules.facts``).
    """

    rid: str
    kind: str
    #: Clinical date as a day ordinal, in the result's own UTC offset (rules 6.2, 6.14).
    day: int
    #: Clinical date-time, epoch seconds.
    at: int
    status: str
    source: str
    #: Log time of the event that reported this version: a later report supersedes.
    reported: int
    event_id: str
    values: tuple[float, ...]


class Profile(NamedTuple):
    programme_id: str
    support_model: str
    clinic_id: str | None
    #: PatientLink fields (literal_id, identifier_system, identifier_value) or None.
    patient: tuple[str | None, str | None, str | None] | None
    diabetes_type: str
    a1c_goal_percent: float | None
    bp_goal_systolic: int | None
    bp_goal_diastolic: int | None
    iwgdf_foot_risk: int | None
    established_ckd: bool
    #: Anchor of "nothing on record" gaps: enrolment (or first sighting) time.
    since: int
    #: False while the profile comes from a contact or result instead of an enrolment.
    enrolled: bool


class Consent(NamedTuple):
    share_with_clinic: bool = False
    clinic_id: str | None = None
    #: When sharing was last granted or withdrawn; None while it has never been granted
    #: (so downstream can tell "never consented" from "withdrew").
    since: int | None = None
    #: Log time of the latest statement on consent (enrolment or consent event): a statement
    #: older than this, arriving late, is ignored.
    stated_at: int | None = None


class Exit(NamedTuple):
    reason: str
    at: int
    event_id: str


class Appointment(NamedTuple):
    appointment_id: str
    status: str
    scheduled_at: int
    scheduled_day: int
    purpose: str
    reported: int
    event_id: str


class GapRecord(NamedTuple):
    """The latest episode of one gap code for this participant."""

    code: str
    status: str
    episode: int
    priority: str
    opened_at: int
    closed_at: int | None
    reason: str
    close_reason: str | None
    evidence: tuple[str, ...]
    #: Result business ids the gap rests on: if all are entered in error, it is cancelled.
    rids: tuple[str, ...]
    #: Key into the catalogue's coding table (the kidney gap codes what is missing).
    coding: str


def stub(code: str, status: str, episode: int, coding: str) -> GapRecord:
    """An episode closed long ago, reduced to what numbering the next episode needs."""
    return GapRecord(code, status, episode, "routine", 0, 0, "", None, (), (), coding)


def kept_dumps(value: Any) -> bytes:
    """``orjson.dumps`` for bytes that stay in memory: a copy of exactly their size.

    orjson returns its working buffer, at least 4 KiB, however short the JSON: a 1.6 KB
    state or a 0.5 KB gap rendering held that way takes 4 KiB.
    """
    return bytes(memoryview(orjson.dumps(value)))


class ParticipantState(NamedTuple):
    key: str
    #: The participant's log clock: max event/tick time seen (epoch seconds).
    clock: int = 0
    #: Number of change records emitted so far (the sequence of the last one).
    seq: int = 0
    profile: Profile | None = None
    consent: Consent = Consent()
    exited: Exit | None = None
    results: tuple[Result, ...] = ()
    last_contact: Stamp | None = None
    #: Latest adherence report: values (taking_as_prescribed,) at the stamp.
    adherence: tuple[Stamp, bool] | None = None
    #: Latest statement on a medication cost barrier (True = barrier present).
    cost_barrier: tuple[Stamp, bool] | None = None
    appointments: tuple[Appointment, ...] = ()
    #: Last level 2/3 hypoglycaemia (shortens the A1c interval, rules 5 DM-A1C-DUE).
    last_hypo: Stamp | None = None
    gaps: tuple[GapRecord, ...] = ()
    #: Earliest log time at which a tick can change anything (skip ticks before it).
    next_due: int = FAR_FUTURE
    #: Per derived rule, the log time at which time alone changes its outcome; lets an
    #: event re-evaluate only the rules whose facts it changed. Empty: evaluate all.
    due: tuple[int, ...] = ()

    @classmethod
    def new(cls, key: str) -> ParticipantState:
        return cls(key=key)

    def evolve(self, **changes: Any) -> ParticipantState:
        """``_replace`` without its per-call overhead (the engine's hot path)."""
        new: ParticipantState = _tuple_new(ParticipantState, map(changes.pop, _STATE_FIELDS, self))
        if changes:
            raise TypeError(f"ParticipantState has no fields {sorted(changes)}")
        return new

    def gap(self, code: str) -> GapRecord | None:
        for record in self.gaps:
            if record.code == code:
                return record
        return None

    def to_bytes(self) -> bytes:
        # Kept in the partition store after the write: exact size, not orjson's buffer.
        return kept_dumps(_encode(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> ParticipantState:
        try:
            data = orjson.loads(raw)
            return _decode(data)
        except (orjson.JSONDecodeError, TypeError, ValueError, IndexError) as exc:
            raise StateFormatError(f"not a participant state: {type(exc).__name__}") from exc


_tuple_new: Final = tuple.__new__
_STATE_FIELDS: Final = ParticipantState._fields


# ------------------------------------------------------------------------ positional codec
#
# Small integers replace repeated strings. The tables are append-only: a new value goes at
# the end, and removing or reordering one needs a new STATE_FORMAT.

_KINDS = ("hba1c", "glucose", "blood_pressure", "egfr", "uacr", "phq2", "phq9", "dds2",
          "retinal_exam", "foot_exam", "ketones")  # fmt: skip
_STATUSES = ("final", "amended", "corrected", "preliminary", "entered_in_error")
_SOURCES = ("self_report", "meter_reviewed", "cgm", "peer_measured", "clinic_lab", "clinic_ehr")
_GAP_STATUSES = ("open", "closed", "cancelled")
_PRIORITIES = ("routine", "urgent", "asap", "stat")
_GAP_CODES = (
    "DM-A1C-DUE", "DM-A1C-ABOVE-GOAL", "DM-A1C-POOR", "DM-EYE-DUE", "DM-FOOT-DUE",
    "DM-KIDNEY-DUE", "DM-KIDNEY-CONFIRM", "DM-BP-DUE", "DM-BP-ABOVE-GOAL",
    "DM-DEPR-SCREEN-DUE", "DM-DEPR-FOLLOWUP", "DM-SUICIDE-RISK", "DM-DISTRESS-HIGH",
    "DM-DISTRESS-MODERATE", "DM-HYPO-EVENT", "DM-REDFLAG-RF1", "DM-REDFLAG-RF2",
    "DM-REDFLAG-RF3", "DM-REDFLAG-RF4", "DM-REDFLAG-RF5", "DM-REDFLAG-RF6", "DM-REDFLAG-RF7",
    "DM-REDFLAG-RF8", "DM-REDFLAG-RF9", "DM-REDFLAG-RF10", "DM-REDFLAG-RF11",
    "DM-REDFLAG-RF12", "DM-REDFLAG-RF13", "DM-REDFLAG-RF14", "PL-ENG-DISENGAGED",
    "PL-ENG-MISSED-APPT", "PL-ENG-MED-NONADHERENCE", "PL-ENG-MED-COST",
)  # fmt: skip
_CODINGS = ("hba1c", "eye", "foot", "egfr", "uacr", "bp", "phq9-panel", "phq9-total",
            "phq9-item9", "dds2", "hypo", "dka", "glucose", "foot-ulcer", "sick-day",
            "chw-threshold", "chest-pain", "disengaged", "missed-appt", "nonadherence",
            "med-cost")  # fmt: skip
_APPT_STATUSES = ("kept", "missed", "cancelled")
_PURPOSES = ("diabetes_review", "eye", "foot", "lab", "behavioural_health", "other")
_MODELS = ("professional_led_group", "peer_led_group", "peer_coach", "community_health_worker",
           "telephone_peer_partner", "online_community")  # fmt: skip
_DIABETES = ("type_1", "type_2", "other", "unknown")


def _index(table: tuple[str, ...]) -> dict[str, int]:
    return {value: i for i, value in enumerate(table)}


_KIND_I, _STATUS_I, _SOURCE_I = _index(_KINDS), _index(_STATUSES), _index(_SOURCES)
_GSTATUS_I, _PRIO_I, _CODE_I = _index(_GAP_STATUSES), _index(_PRIORITIES), _index(_GAP_CODES)
_CODING_I, _ASTATUS_I, _PURPOSE_I = _index(_CODINGS), _index(_APPT_STATUSES), _index(_PURPOSES)
_MODEL_I, _DIABETES_I = _index(_MODELS), _index(_DIABETES)
_DAY_S = 86_400
_EPOCH_ORDINAL = 719_163


def _stamp(s: Stamp | None) -> list[Any] | None:
    return None if s is None else [s.at, s.event_id]


def _unstamp(v: Any) -> Stamp | None:
    return None if v is None else Stamp(int(v[0]), str(v[1]))


def _flag(v: tuple[Stamp, bool] | None) -> list[Any] | None:
    return None if v is None else [v[0].at, v[0].event_id, int(v[1])]


def _encode_gap(g: GapRecord) -> list[Any]:
    if g.closed_at == 0:  # a stub: three numbers (the coding is the gap's default)
        return [_CODE_I[g.code], _GSTATUS_I[g.status], g.episode, _CODING_I[g.coding]]
    return [
        _CODE_I[g.code],
        _GSTATUS_I[g.status],
        g.episode,
        _PRIO_I[g.priority],
        g.opened_at,
        g.closed_at,
        g.reason,
        g.close_reason,
        list(g.evidence),
        list(g.rids),
        _CODING_I[g.coding],
    ]


def _decode_gap(g: list[Any]) -> GapRecord:
    if len(g) == 4:
        return stub(_GAP_CODES[g[0]], _GAP_STATUSES[g[1]], g[2], _CODINGS[g[3]])
    return GapRecord(
        _GAP_CODES[g[0]],
        _GAP_STATUSES[g[1]],
        g[2],
        _PRIORITIES[g[3]],
        g[4],
        g[5],
        g[6],
        g[7],
        tuple(g[8]),
        tuple(g[9]),
        _CODINGS[g[10]],
    )


def _render_gap(_key: str, g: GapRecord) -> bytes:
    # The state's encoding of a gap does not depend on the participant (its key is stored once).
    return kept_dumps(_encode_gap(g))


#: Encoded gaps reused across a participant's state writes (orjson embeds each fragment).
ENCODED_GAPS: GapRenderings[GapRecord] = GapRenderings(_render_gap)


def _encode(s: ParticipantState) -> list[Any]:
    p = s.profile
    profile = (
        None
        if p is None
        else [
            p.programme_id,
            _MODEL_I[p.support_model],
            p.clinic_id,
            None if p.patient is None else list(p.patient),
            _DIABETES_I[p.diabetes_type],
            p.a1c_goal_percent,
            p.bp_goal_systolic,
            p.bp_goal_diastolic,
            p.iwgdf_foot_risk,
            int(p.established_ckd),
            p.since,
            int(p.enrolled),
        ]
    )
    return [
        STATE_FORMAT,
        s.key,
        s.clock,
        s.seq,
        profile,
        [
            int(s.consent.share_with_clinic),
            s.consent.clinic_id,
            s.consent.since,
            # Omitted when equal to ``since`` (the common case): states written before this
            # field existed decode the same way.
            *(() if s.consent.stated_at == s.consent.since else (s.consent.stated_at,)),
        ],
        None if s.exited is None else [s.exited.reason, s.exited.at, s.exited.event_id],
        [
            # The clinical day is stored as its offset from the UTC day of ``at`` (-1, 0, 1)
            # and the report time as seconds after ``at``: both are short numbers.
            [
                r.rid,
                _KIND_I[r.kind],
                r.day - (r.at // _DAY_S + _EPOCH_ORDINAL),
                r.at,
                _STATUS_I[r.status],
                _SOURCE_I[r.source],
                r.reported - r.at,
                r.event_id,
                list(r.values),
            ]
            for r in s.results
        ],
        _stamp(s.last_contact),
        _flag(s.adherence),
        _flag(s.cost_barrier),
        [
            [
                a.appointment_id,
                _ASTATUS_I[a.status],
                a.scheduled_at,
                a.scheduled_day - (a.scheduled_at // _DAY_S + _EPOCH_ORDINAL),
                _PURPOSE_I[a.purpose],
                a.reported - a.scheduled_at,
                a.event_id,
            ]
            for a in s.appointments
        ],
        _stamp(s.last_hypo),
        ENCODED_GAPS.fragments(s.key, s.gaps),
        s.next_due,
        [0 if d == FAR_FUTURE else d for d in s.due],
    ]


def _decode(d: list[Any]) -> ParticipantState:
    if not isinstance(d, list) or not d or d[0] != STATE_FORMAT:
        raise ValueError("unknown state format")
    (
        _fmt,
        key,
        clock,
        seq,
        p,
        consent,
        exited,
        results,
        last_contact,
        adherence,
        cost,
        appointments,
        last_hypo,
        gaps,
        next_due,
        due,
    ) = d
    profile = (
        None
        if p is None
        else Profile(
            programme_id=p[0],
            support_model=_MODELS[p[1]],
            clinic_id=p[2],
            patient=None if p[3] is None else (p[3][0], p[3][1], p[3][2]),
            diabetes_type=_DIABETES[p[4]],
            a1c_goal_percent=p[5],
            bp_goal_systolic=p[6],
            bp_goal_diastolic=p[7],
            iwgdf_foot_risk=p[8],
            established_ckd=bool(p[9]),
            since=p[10],
            enrolled=bool(p[11]),
        )
    )
    return ParticipantState(
        key=key,
        clock=clock,
        seq=seq,
        profile=profile,
        consent=Consent(
            bool(consent[0]), consent[1], consent[2], consent[3] if len(consent) > 3 else consent[2]
        ),
        exited=None if exited is None else Exit(exited[0], exited[1], exited[2]),
        results=tuple(
            Result(
                r[0],
                _KINDS[r[1]],
                r[3] // _DAY_S + _EPOCH_ORDINAL + r[2],
                r[3],
                _STATUSES[r[4]],
                _SOURCES[r[5]],
                r[3] + r[6],
                r[7],
                tuple(r[8]),
            )
            for r in results
        ),
        last_contact=_unstamp(last_contact),
        adherence=None
        if adherence is None
        else (Stamp(adherence[0], adherence[1]), bool(adherence[2])),
        cost_barrier=None if cost is None else (Stamp(cost[0], cost[1]), bool(cost[2])),
        appointments=tuple(
            Appointment(
                a[0],
                _APPT_STATUSES[a[1]],
                a[2],
                a[2] // _DAY_S + _EPOCH_ORDINAL + a[3],
                _PURPOSES[a[4]],
                a[2] + a[5],
                a[6],
            )
            for a in appointments
        ),
        last_hypo=_unstamp(last_hypo),
        gaps=tuple(_decode_gap(g) for g in gaps),
        next_due=next_due,
        due=tuple(FAR_FUTURE if x == 0 else x for x in due),
    )
