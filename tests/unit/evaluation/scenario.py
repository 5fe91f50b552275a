"""A small hand-built programme whose right answers are worked out by hand in the tests.

Programme ``prog-a`` (window 2026-01-01 .. 2026-06-30, i.e. days 0..181 after 2026-01-01):

=====  ==========  ========================  =============================================
who    model       enrolled (day)            story
=====  ==========  ========================  =============================================
P1     CHW         0, consent yes            4 completed contacts + 1 no-answer; gaps
P2     CHW         0, consent no             never contacted; gap still open at the end
P3     CHW         31 (Feb 1), consent yes   1 contact, withdrew on day 73, contact after
P4     CHW         -31 (2025-12-01), yes     consent withdrawn day 59; contact before window
P5     CHW         -92, exited day -17       not in the cohort (left before the window)
P6     CHW         185 (Jul 5)               not in the cohort (enrolled after the window)
P7     peer coach  9 (Jan 10), consent yes   1 contact covering all four key functions
P9     CHW         0                         4 group sessions planned, attended 2
P10    CHW         0                         3 group sessions, planned unknown, attended 1
P8     CHW         0 in ``prog-b``           another programme: must never leak into prog-a
=====  ==========  ========================  =============================================
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schemas.events import Event
from schemas.vocabulary import GapCode, KeyFunction, Priority, SupportModel
from services.evaluation.metrics import Period
from services.evaluation.sample import EventBuilder, GapSpec, bp_observation

__all__ = ["CHW", "COACH", "PERIOD", "PROG", "day", "scenario_events"]

PROG = "prog-a"
CHW = SupportModel.COMMUNITY_HEALTH_WORKER
COACH = SupportModel.PEER_COACH
PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
_T0 = datetime(2026, 1, 1, tzinfo=UTC)

DM = KeyFunction.DAILY_MANAGEMENT
SOCIAL = KeyFunction.SOCIAL_EMOTIONAL_SUPPORT
CLINICAL = KeyFunction.LINKAGE_CLINICAL_CARE
COMMUNITY = KeyFunction.LINKAGE_COMMUNITY_RESOURCES
ONGOING = KeyFunction.ONGOING_SUPPORT


def day(days: float, hours: float = 0.0) -> datetime:
    """A time ``days`` (+ ``hours``) after 2026-01-01 00:00 UTC."""
    return _T0 + timedelta(days=days, hours=hours)


def scenario_events() -> list[Event]:
    b = EventBuilder(id_prefix="sc")

    # ---- enrolments, consent, exits
    b.enrol("P01", day(0), programme=PROG, model=CHW, consent=True)
    b.enrol("P02", day(0), programme=PROG, model=CHW, consent=False)
    b.enrol("P03", day(31), programme=PROG, model=CHW, consent=True)
    b.enrol("P04", day(-31), programme=PROG, model=CHW, consent=True)
    b.consent("P04", day(59), share=False)
    b.enrol("P05", day(-92), programme=PROG, model=CHW, consent=True)
    b.exit("P05", day(-17), "completed_programme")
    b.enrol("P06", day(185), programme=PROG, model=CHW)
    b.enrol("P07", day(9), programme=PROG, model=COACH, consent=True)
    b.enrol("P09", day(0), programme=PROG, model=CHW)
    b.enrol("P10", day(0), programme=PROG, model=CHW)
    b.exit("P03", day(73), "withdrew")
    b.enrol("P08", day(0), programme="prog-b", model=CHW, consent=True)

    # ---- contacts
    def contact(who: str, at: datetime, **kw: object) -> None:
        model = COACH if who == "P07" else CHW
        b.contact(who, at, programme=PROG, model=model, **kw)  # type: ignore[arg-type]

    contact(
        "P01",
        day(1, 10),
        minutes=30,
        functions=(DM, SOCIAL),
        observations=[bp_observation(day(1, 10), 150, 95)],
    )
    contact("P01", day(8, 10), outcome="attempted_no_answer")
    contact(
        "P01",
        day(9, 10),
        direction="participant_initiated",
        minutes=20,
        functions=(CLINICAL, ONGOING),
    )
    contact("P01", day(63, 10), minutes=15, functions=(ONGOING,))
    contact("P01", day(170, 10), direction="system_reminder_prompted", minutes=10)
    contact("P03", day(33, 12), minutes=45, functions=(DM,))
    contact("P03", day(78), minutes=30, functions=(DM,))  # after the exit: not counted
    contact("P04", day(-22), minutes=30, functions=(DM,))  # before the window
    contact("P04", day(90, 10), direction="participant_initiated", functions=(SOCIAL,))
    contact("P07", day(9, 12), minutes=60, functions=(DM, SOCIAL, COMMUNITY, ONGOING))
    contact("P07", day(45, 12), outcome="declined", direction="participant_initiated")
    b.contact("P08", day(1), programme="prog-b", model=CHW, minutes=500)

    for number, (at, attended) in enumerate(
        [(day(4, 18), True), (day(11, 18), False), (day(18, 18), True), (day(25, 18), False)],
        start=1,
    ):
        b.group_session(
            "P09",
            at,
            programme=PROG,
            model=CHW,
            session_id="grp-1",
            number=number,
            planned=4,
            attended=attended,
            minutes=90,
            functions=(DM,),
        )
    for number, (at, attended) in enumerate(
        [(day(5, 18), True), (day(12, 18), False), (day(19, 18), False)], start=1
    ):
        b.group_session(
            "P10",
            at,
            programme=PROG,
            model=CHW,
            session_id="grp-2",
            number=number,
            planned=None,
            attended=attended,
            minutes=90,
            functions=(DM,),
        )

    # ---- care gaps (engine output)
    def gaps(who: str, at: datetime, **kw: object) -> None:
        model = COACH if who == "P07" else CHW
        b.gap_change(who, at, programme=PROG, model=model, **kw)  # type: ignore[arg-type]

    g1 = GapSpec("g1", GapCode.A1C_DUE, day(19))
    gaps("P01", day(19), opened=[g1])
    gaps("P01", day(49), closed=[GapSpec("g1", GapCode.A1C_DUE, day(19), closed_at=day(49))])
    gaps("P02", day(31), opened=[GapSpec("g2", GapCode.A1C_DUE, day(31))])
    gaps("P04", day(0), opened=[GapSpec("g3", GapCode.EYE_DUE, day(0))])
    gaps("P04", day(120), closed=[GapSpec("g3", GapCode.EYE_DUE, day(0), closed_at=day(120))])
    gaps("P07", day(59), opened=[GapSpec("g4", GapCode.A1C_DUE, day(59))])
    gaps("P07", day(119), closed=[GapSpec("g4", GapCode.A1C_DUE, day(59), closed_at=day(119))])
    gaps("P03", day(40), opened=[GapSpec("g5", GapCode.FOOT_DUE, day(40))])
    gaps("P03", day(73), cancelled=[GapSpec("g5", GapCode.FOOT_DUE, day(40), closed_at=day(73))])
    gaps("P09", day(-31), opened=[GapSpec("g6", GapCode.EYE_DUE, day(-31))])
    gaps("P09", day(14), closed=[GapSpec("g6", GapCode.EYE_DUE, day(-31), closed_at=day(14))])
    gaps("P10", day(155), opened=[GapSpec("g7", GapCode.A1C_DUE, day(155))])
    gaps("P10", day(160), closed=[GapSpec("g7", GapCode.A1C_DUE, day(155), closed_at=day(160))])
    b.gap_change(
        "P08",
        day(10),
        programme="prog-b",
        model=CHW,
        opened=[GapSpec("g8", GapCode.A1C_DUE, day(10))],
    )
    # red flags
    r1 = GapSpec("r1", GapCode.REDFLAG_RF11, day(31, 12), priority=Priority.STAT)
    gaps("P01", day(31, 12), opened=[r1])
    gaps(
        "P01",
        day(32),
        closed=[GapSpec("r1", GapCode.REDFLAG_RF11, day(31, 12), Priority.STAT, day(32))],
    )
    gaps("P04", day(68), opened=[GapSpec("r2", GapCode.REDFLAG_RF6, day(68), Priority.ASAP)])
    gaps("P07", day(165), opened=[GapSpec("r3", GapCode.SUICIDE_RISK, day(165), Priority.ASAP)])
    gaps("P09", day(94), opened=[GapSpec("r4", GapCode.REDFLAG_RF13, day(94), Priority.ASAP)])
    # engagement gap
    gaps("P02", day(59), opened=[GapSpec("e1", GapCode.DISENGAGED, day(59))])

    # ---- appointments (clinic evidence)
    b.appointment("P04", day(78), "missed")
    b.appointment("P04", day(109), "kept")
    b.appointment("P09", day(99), "kept")

    # ---- results
    b.hba1c("P01", day(-17), 9.5)
    b.hba1c("P01", day(2), 9.0, source="self_report")  # never used for outcomes
    b.hba1c("P01", day(40), 8.0)  # clinic evidence after red flag r1
    b.hba1c("P01", day(151), 8.2)
    b.hba1c("P02", day(5), 7.4, source="peer_measured")
    b.hba1c("P02", day(100), 7.9, source="clinic_ehr")
    b.hba1c("P02", day(120), 7.6, source="clinic_ehr")
    b.hba1c("P03", day(31), 68, unit="mmol/mol")  # 8.37 %
    b.hba1c("P03", day(130), 7.2)  # after the exit: intention to treat
    b.hba1c("P04", day(-35), 8.6)
    b.hba1c("P04", day(-27), 9.0)  # as close to enrolment as day -35: the earlier one wins
    b.hba1c("P04", day(100), 8.0, result_id="p4-fu")
    b.hba1c("P04", day(100), 8.1, result_id="p4-fu", status="amended", reported=day(101))
    b.hba1c("P07", day(9), 9.8, result_id="p7-b")
    b.hba1c("P07", day(9), 9.8, result_id="p7-b", status="entered_in_error", reported=day(12))
    b.hba1c("P07", day(120), 9.0)
    b.hba1c("P09", day(2), 9.0)
    b.hba1c("P09", day(95), 8.0)
    b.hba1c("P10", day(1), 7.0)
    b.hba1c("P10", day(60), 6.8)  # too early for a follow-up
    b.hba1c("P10", day(150), 6.5, status="preliminary")
    b.hba1c("P08", day(0), 12.0)
    b.hba1c("P08", day(150), 6.0)

    b.blood_pressure("P01", day(151), 138, 85)
    b.blood_pressure("P04", day(-30), 140, 90)
    b.blood_pressure("P04", day(100), 130, 80)
    b.dds2("P02", day(0), 4, 4)
    b.dds2("P02", day(100), 3, 2)
    return b.events
