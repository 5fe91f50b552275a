"""Controlled vocabularies of the peer-support domain.

Sources: reference/seed_domain.md section 6.2 (enumerations) and reference/care_gap_rules.md
(gap codes, red flags RF1-RF15, FHIR request priorities).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Barrier",
    "CommunicationCategory",
    "ContactChannel",
    "ContactDirection",
    "ContactOutcome",
    "DiabetesType",
    "DiscussionTopic",
    "ExitReason",
    "GapCode",
    "GapKind",
    "KeyFunction",
    "ModeratorFlag",
    "Priority",
    "RedFlagCode",
    "SupportModel",
    "SupporterRole",
]


class SupportModel(StrEnum):
    """The six peer-support models of the seed's taxonomy (ARCHITECTURE.md)."""

    PROFESSIONAL_LED_GROUP = "professional_led_group"
    PEER_LED_GROUP = "peer_led_group"
    PEER_COACH = "peer_coach"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    TELEPHONE_PEER_PARTNER = "telephone_peer_partner"
    ONLINE_COMMUNITY = "online_community"


class SupporterRole(StrEnum):
    CHW = "chw"
    PROMOTORA = "promotora"
    PEER_COACH = "peer_coach"
    PEER_MENTOR = "peer_mentor"
    PEER_LEADER = "peer_leader"
    PEER_PARTNER = "peer_partner"
    ONLINE_MODERATOR = "online_moderator"
    NURSE = "nurse"
    DIABETES_EDUCATOR = "diabetes_educator"
    CLINICIAN = "clinician"


class ContactChannel(StrEnum):
    HOME_VISIT = "home_visit"
    COMMUNITY_IN_PERSON = "community_in_person"
    CLINIC_IN_PERSON = "clinic_in_person"
    CLINIC_ACCOMPANIMENT = "clinic_accompaniment"
    GROUP_SESSION_IN_PERSON = "group_session_in_person"
    GROUP_SESSION_VIRTUAL = "group_session_virtual"
    PHONE_LIVE = "phone_live"
    PHONE_PLATFORM_BRIDGED = "phone_platform_bridged"
    VOICEMAIL = "voicemail"
    SMS = "sms"
    MESSAGING_APP = "messaging_app"
    EMAIL = "email"
    VIDEO = "video"
    ONLINE_FORUM = "online_forum"
    OTHER = "other"


class ContactDirection(StrEnum):
    """Who started the contact; proactive contact is a Peers for Progress success factor."""

    PROACTIVE_BY_SUPPORTER = "proactive_by_supporter"
    PARTICIPANT_INITIATED = "participant_initiated"
    SYSTEM_REMINDER_PROMPTED = "system_reminder_prompted"


class ContactOutcome(StrEnum):
    COMPLETED = "completed"
    ATTEMPTED_NO_ANSWER = "attempted_no_answer"
    VOICEMAIL_LEFT = "voicemail_left"
    DECLINED = "declined"
    RESCHEDULED = "rescheduled"
    UNREACHABLE = "unreachable"
    DID_NOT_ATTEND = "did_not_attend"


class KeyFunction(StrEnum):
    """Peers for Progress key functions, tagged on every contact for fidelity metrics."""

    DAILY_MANAGEMENT = "daily_management"
    SOCIAL_EMOTIONAL_SUPPORT = "social_emotional_support"
    LINKAGE_CLINICAL_CARE = "linkage_clinical_care"
    LINKAGE_COMMUNITY_RESOURCES = "linkage_community_resources"
    ONGOING_SUPPORT = "ongoing_support"


class DiscussionTopic(StrEnum):
    HEALTHY_EATING = "healthy_eating"
    PHYSICAL_ACTIVITY = "physical_activity"
    MEDICATION_TAKING = "medication_taking"
    INSULIN_USE = "insulin_use"
    GLUCOSE_MONITORING = "glucose_monitoring"
    HYPOGLYCAEMIA = "hypoglycaemia"
    SICK_DAY_KETONES = "sick_day_ketones"
    FOOT_CARE = "foot_care"
    BLOOD_PRESSURE = "blood_pressure"
    WEIGHT = "weight"
    STRESS_COPING = "stress_coping"
    DIABETES_DISTRESS = "diabetes_distress"
    MOOD_DEPRESSION = "mood_depression"
    FAMILY_SOCIAL_SUPPORT = "family_social_support"
    GOAL_SETTING = "goal_setting"
    COMMUNICATION_WITH_PROVIDERS = "communication_with_providers"
    APPOINTMENTS_TESTS = "appointments_tests"
    HEALTH_SYSTEM_NAVIGATION = "health_system_navigation"
    MEDICATION_COST_ACCESS = "medication_cost_access"
    FOOD_ACCESS = "food_access"
    TRANSPORT = "transport"
    OTHER = "other"


class Barrier(StrEnum):
    MEDICATION_COST = "medication_cost"
    FOOD_INSECURITY = "food_insecurity"
    TRANSPORT = "transport"
    CHILDCARE = "childcare"
    HOUSING = "housing"
    LANGUAGE = "language"


class ModeratorFlag(StrEnum):
    """Why an online moderator flagged a post (seed_domain.md 6.3, ONLINE_PEER_COMMUNITY)."""

    MISINFORMATION = "misinformation"
    RISKY_BEHAVIOUR = "risky_behaviour"
    ACUTE_CONCERN = "acute_concern"


class DiabetesType(StrEnum):
    TYPE_1 = "type_1"
    TYPE_2 = "type_2"
    OTHER = "other"
    UNKNOWN = "unknown"


class ExitReason(StrEnum):
    COMPLETED_PROGRAMME = "completed_programme"
    WITHDREW = "withdrew"
    MOVED_AWAY = "moved_away"
    DIED = "died"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


class RedFlagCode(StrEnum):
    """Red flags a peer supporter reports (care_gap_rules.md section 4, RF1-RF14)."""

    HYPO_LEVEL_3 = "RF1"  # needs another person's help
    HYPO_LEVEL_2 = "RF2"  # < 54 mg/dL
    DKA_SIGNS = "RF3"  # vomiting, abdominal pain, rapid breathing, fruity breath
    HIGH_GLUCOSE_WITH_KETONES = "RF4"  # > 240 mg/dL with moderate/large ketones
    GLUCOSE_ABOVE_500 = "RF5"
    GLUCOSE_ABOVE_400 = "RF6"  # or meter reads HI
    GLUCOSE_ABOVE_300_TWO_DAYS = "RF7"
    SICK_DAY = "RF8"
    CHW_THRESHOLD = "RF9"  # CHWConnect programme thresholds
    NEW_FOOT_WOUND = "RF10"
    CHEST_PAIN = "RF11"
    HYPERTENSIVE_EMERGENCY = "RF12"  # >= 180/120 with symptoms
    HYPERTENSIVE_URGENCY = "RF13"  # >= 180/120 without symptoms
    SUICIDAL_THOUGHTS = "RF14"  # PHQ-9 item 9 > 0


class Priority(StrEnum):
    """FHIR RequestPriority; note asap outranks urgent (care_gap_rules.md 3.4)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.ROUTINE: 0, Priority.URGENT: 1, Priority.ASAP: 2, Priority.STAT: 3}


class CommunicationCategory(StrEnum):
    """HL7 communication-category codes used for alerts."""

    ALERT = "alert"
    NOTIFICATION = "notification"
    REMINDER = "reminder"


class GapKind(StrEnum):
    CARE_GAP = "care_gap"
    RED_FLAG = "red_flag"
    ENGAGEMENT = "engagement"


class GapCode(StrEnum):
    """Stable care-gap codes (care_gap_rules.md section 5, plus engagement gaps)."""

    A1C_DUE = "DM-A1C-DUE"
    A1C_ABOVE_GOAL = "DM-A1C-ABOVE-GOAL"
    A1C_POOR = "DM-A1C-POOR"
    EYE_DUE = "DM-EYE-DUE"
    FOOT_DUE = "DM-FOOT-DUE"
    KIDNEY_DUE = "DM-KIDNEY-DUE"
    KIDNEY_CONFIRM = "DM-KIDNEY-CONFIRM"
    BP_DUE = "DM-BP-DUE"
    BP_ABOVE_GOAL = "DM-BP-ABOVE-GOAL"
    DEPRESSION_SCREEN_DUE = "DM-DEPR-SCREEN-DUE"
    DEPRESSION_FOLLOWUP = "DM-DEPR-FOLLOWUP"
    SUICIDE_RISK = "DM-SUICIDE-RISK"
    DISTRESS_HIGH = "DM-DISTRESS-HIGH"
    DISTRESS_MODERATE = "DM-DISTRESS-MODERATE"
    HYPO_EVENT = "DM-HYPO-EVENT"
    REDFLAG_RF1 = "DM-REDFLAG-RF1"
    REDFLAG_RF2 = "DM-REDFLAG-RF2"
    REDFLAG_RF3 = "DM-REDFLAG-RF3"
    REDFLAG_RF4 = "DM-REDFLAG-RF4"
    REDFLAG_RF5 = "DM-REDFLAG-RF5"
    REDFLAG_RF6 = "DM-REDFLAG-RF6"
    REDFLAG_RF7 = "DM-REDFLAG-RF7"
    REDFLAG_RF8 = "DM-REDFLAG-RF8"
    REDFLAG_RF9 = "DM-REDFLAG-RF9"
    REDFLAG_RF10 = "DM-REDFLAG-RF10"
    REDFLAG_RF11 = "DM-REDFLAG-RF11"
    REDFLAG_RF12 = "DM-REDFLAG-RF12"
    REDFLAG_RF13 = "DM-REDFLAG-RF13"
    REDFLAG_RF14 = "DM-REDFLAG-RF14"
    DISENGAGED = "PL-ENG-DISENGAGED"
    MISSED_APPOINTMENT = "PL-ENG-MISSED-APPT"
    MEDICATION_NONADHERENCE = "PL-ENG-MED-NONADHERENCE"
    MEDICATION_COST_BARRIER = "PL-ENG-MED-COST"
