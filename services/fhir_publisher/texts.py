"""The reviewed wording the publisher puts in front of clinicians.

Clinic-facing text is generated from codes only: the contract's free strings (including the
engine's ``recommended_action``) are never copied, so nothing a peer typed can reach an EHR.
Wording follows DEQM's actual-vs-perceived advice ("no result found", not "not done"), and
emergencies say that the supporter was told to act now: an EHR inbox is never the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from schemas.vocabulary import GapCode, Priority, SupportModel

__all__ = ["GAP_TEXTS", "PRIORITY_NOTES", "SUPPORT_MODEL_LABELS", "ActivityKind", "GapText"]

#: CarePlan.activity.detail.kind (required binding CarePlanActivityKind, R4).
ActivityKind = Literal["Appointment", "CommunicationRequest", "ServiceRequest", "Task"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GapText:
    label: str
    observed: str
    recommended: str
    kind: ActivityKind


def _t(label: str, observed: str, recommended: str, kind: ActivityKind = "Task") -> GapText:
    return GapText(label=label, observed=observed, recommended=recommended, kind=kind)


_RF_LABEL = "Red flag"

_TEXTS: dict[GapCode, GapText] = {
    GapCode.A1C_DUE: _t(
        "HbA1c test due",
        "No HbA1c or GMI result was found within the recommended interval.",
        "Order an HbA1c (lab or point of care); the peer supporter can help book the test.",
        "ServiceRequest",
    ),
    GapCode.A1C_ABOVE_GOAL: _t(
        "HbA1c above goal",
        "The most recent HbA1c is at or above the individual goal.",
        "Review the diabetes plan and consider a DSMES referral; peer self-management "
        "support continues.",
    ),
    GapCode.A1C_POOR: _t(
        "HbA1c above 9%",
        "The most recent HbA1c or GMI is above 9% (75 mmol/mol), or the latest HbA1c has no "
        "result.",
        "Arrange a prompt visit to intensify treatment; repeat the HbA1c in 3 months.",
    ),
    GapCode.EYE_DUE: _t(
        "Diabetic eye exam due",
        "No retinal or dilated eye exam report was found within the recommended interval.",
        "Refer for retinal screening or an eye-care visit; the peer supporter can help with "
        "scheduling.",
        "ServiceRequest",
    ),
    GapCode.FOOT_DUE: _t(
        "Comprehensive foot exam due",
        "No comprehensive foot exam was found within the recommended interval.",
        "Examine the feet at the next visit; refer to podiatry if high risk.",
        "ServiceRequest",
    ),
    GapCode.KIDNEY_DUE: _t(
        "Kidney health evaluation due",
        "No eGFR and urine albumin-creatinine ratio pair was found within the recommended "
        "interval.",
        "Order eGFR and UACR together.",
        "ServiceRequest",
    ),
    GapCode.KIDNEY_CONFIRM: _t(
        "Abnormal kidney result needs a repeat",
        "The most recent UACR was 30 mg/g or more, or the eGFR was below 60, with no repeat "
        "test since.",
        "Repeat the test and review for chronic kidney disease.",
        "ServiceRequest",
    ),
    GapCode.BP_DUE: _t(
        "Blood pressure check due",
        "No blood pressure reading was found within the recommended interval.",
        "Measure blood pressure at the next contact; consider a home monitor.",
        "ServiceRequest",
    ),
    GapCode.BP_ABOVE_GOAL: _t(
        "Blood pressure above goal",
        "The most recent blood pressure readings are at or above the goal.",
        "Confirm with repeat or home readings and review the medicines.",
    ),
    GapCode.DEPRESSION_SCREEN_DUE: _t(
        "Depression screening due",
        "No depression screening result was found within the recommended interval.",
        "Screen with PHQ-2, then PHQ-9 if positive.",
        "ServiceRequest",
    ),
    GapCode.DEPRESSION_FOLLOWUP: _t(
        "Follow-up after a positive depression screen",
        "A positive depression screen has no recorded follow-up.",
        "Clinician assessment or behavioural-health referral.",
        "ServiceRequest",
    ),
    GapCode.SUICIDE_RISK: _t(
        "Possible suicide risk",
        "PHQ-9 item 9 was answered with more than 'not at all'.",
        "Same-day structured suicide risk assessment by a clinician; crisis line 988.",
    ),
    GapCode.DISTRESS_HIGH: _t(
        "High diabetes distress",
        "A diabetes distress screen scored in the high range.",
        "Prioritise a clinician or behavioural-health follow-up.",
    ),
    GapCode.DISTRESS_MODERATE: _t(
        "Moderate diabetes distress",
        "A diabetes distress screen scored in the moderate range.",
        "Discuss at the next visit; peer support continues.",
    ),
    GapCode.HYPO_EVENT: _t(
        "Hypoglycaemia event",
        "A level 2 or level 3 hypoglycaemia was reported.",
        "Review the glucose-lowering regimen the same day and confirm glucagon is prescribed.",
    ),
    GapCode.REDFLAG_RF1: _t(
        f"{_RF_LABEL}: severe (level 3) hypoglycaemia",
        "Level 3 hypoglycaemia was reported: the person needed another person's help.",
        "Review the regimen the same day and confirm glucagon is prescribed.",
    ),
    GapCode.REDFLAG_RF2: _t(
        f"{_RF_LABEL}: glucose below 54 mg/dL",
        "A glucose below 54 mg/dL (3.0 mmol/L), or one not rising after treatment, was reported.",
        "Contact the person the same day and review the hypoglycaemia risk.",
    ),
    GapCode.REDFLAG_RF3: _t(
        f"{_RF_LABEL}: signs of DKA or HHS",
        "High glucose with signs of ketoacidosis or a hyperosmolar state was reported.",
        "Emergency assessment.",
    ),
    GapCode.REDFLAG_RF4: _t(
        f"{_RF_LABEL}: high glucose with ketones",
        "Glucose above 240 mg/dL with moderate or large ketones, or prolonged vomiting, was "
        "reported.",
        "Emergency department assessment now.",
    ),
    GapCode.REDFLAG_RF5: _t(
        f"{_RF_LABEL}: glucose above 500 mg/dL",
        "A glucose above 500 mg/dL was reported.",
        "Emergency department assessment now.",
    ),
    GapCode.REDFLAG_RF6: _t(
        f"{_RF_LABEL}: glucose above 400 mg/dL",
        "A glucose above 400 mg/dL, or a meter reading HI, was reported without symptoms.",
        "Clinician contact within 1 hour; confirm with a lab value.",
    ),
    GapCode.REDFLAG_RF7: _t(
        f"{_RF_LABEL}: glucose above 300 mg/dL on 2 days",
        "Glucose above 300 mg/dL on two consecutive days was reported.",
        "Contact the person as soon as possible and review the regimen.",
    ),
    GapCode.REDFLAG_RF8: _t(
        f"{_RF_LABEL}: sick day",
        "High glucose or ketones despite the sick-day plan was reported.",
        "Clinician contact the same day.",
    ),
    GapCode.REDFLAG_RF9: _t(
        f"{_RF_LABEL}: programme threshold exceeded",
        "A reading outside the programme's escalation thresholds was reported.",
        "Nurse review; decide whether the person must be seen today.",
    ),
    GapCode.REDFLAG_RF10: _t(
        f"{_RF_LABEL}: new foot wound",
        "A new foot ulcer, blister, wound, redness or swelling was reported.",
        "Same-day foot assessment by a trained clinician.",
    ),
    GapCode.REDFLAG_RF11: _t(
        f"{_RF_LABEL}: chest pain or stroke signs",
        "Chest pain, breathlessness or stroke signs were reported.",
        "Emergency assessment.",
    ),
    GapCode.REDFLAG_RF12: _t(
        f"{_RF_LABEL}: hypertensive emergency",
        "Blood pressure of 180/120 or more with symptoms was reported.",
        "Emergency assessment.",
    ),
    GapCode.REDFLAG_RF13: _t(
        f"{_RF_LABEL}: severe high blood pressure",
        "Blood pressure of 180/120 or more without symptoms was reported on recheck.",
        "Clinician contact as soon as possible.",
    ),
    GapCode.REDFLAG_RF14: _t(
        f"{_RF_LABEL}: thoughts of self-harm",
        "PHQ-9 item 9 was answered with more than 'not at all'.",
        "Same-day structured suicide risk assessment by a clinician; crisis line 988.",
    ),
    GapCode.DISENGAGED: _t(
        "Disengaged from peer support",
        "No completed peer-support contact was found within the expected interval.",
        "Agree on re-engagement outreach with the programme.",
    ),
    GapCode.MISSED_APPOINTMENT: _t(
        "Missed clinic appointment",
        "A clinic appointment was recorded as missed.",
        "Reschedule; the peer supporter can help with reminders and transport.",
        "Appointment",
    ),
    GapCode.MEDICATION_NONADHERENCE: _t(
        "Medicines not taken as prescribed",
        "The person reported not taking medicines as prescribed.",
        "Review the medicines and barriers with the person.",
    ),
    GapCode.MEDICATION_COST_BARRIER: _t(
        "Medicine cost barrier",
        "The person reported that cost is a barrier to taking medicines.",
        "Review affordable alternatives or assistance programmes.",
    ),
}

#: One entry per gap code; a unit test checks the table is total.
GAP_TEXTS: Final = MappingProxyType(_TEXTS)

#: What each priority means for the clinic (RequestPriority: routine < urgent < asap < stat).
PRIORITY_NOTES: Final = MappingProxyType(
    {
        Priority.ROUTINE: "Routine: handle at the next contact.",
        Priority.URGENT: "Urgent: act promptly.",
        Priority.ASAP: "As soon as possible: clinician contact the same day.",
        Priority.STAT: (
            "Emergency: the peer supporter was told to call emergency services now; "
            "this message records and notifies."
        ),
    }
)

SUPPORT_MODEL_LABELS: Final = MappingProxyType(
    {
        SupportModel.PROFESSIONAL_LED_GROUP: "professional-led group",
        SupportModel.PEER_LED_GROUP: "peer-led self-management group",
        SupportModel.PEER_COACH: "one-to-one peer coach",
        SupportModel.COMMUNITY_HEALTH_WORKER: "community health worker",
        SupportModel.TELEPHONE_PEER_PARTNER: "telephone peer partner",
        SupportModel.ONLINE_COMMUNITY: "moderated online community",
    }
)
