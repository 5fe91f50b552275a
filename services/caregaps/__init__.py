"""The care-gap engine: participant state, pure rules and the exactly-once Kafka service.

``apply(state, event, policy)`` is the whole domain logic; ``service`` wires it to Kafka.
"""

from services.caregaps.engine import apply, change_event
from services.caregaps.policy import EngagementPolicy, PolicySet, RulePolicy
from services.caregaps.state import ParticipantState

__all__ = [
    "EngagementPolicy",
    "ParticipantState",
    "PolicySet",
    "RulePolicy",
    "apply",
    "change_event",
]
