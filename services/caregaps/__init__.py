"""The care-gap engine: participant state, pure rules and the exactly-once Kafka service.

``apply(state, event, policy)`` is the whole domain logic; ``service`` wires it to Kafka.
The pure modules usually run compiled (``services.caregaps.native``).
"""

from services.caregaps.native import prefer_source

prefer_source()  # before the first import of a compiled module

from services.caregaps.engine import apply, change_event  # noqa: E402
from services.caregaps.policy import EngagementPolicy, PolicySet, RulePolicy  # noqa: E402
from services.caregaps.state import ParticipantState  # noqa: E402

__all__ = [
    "EngagementPolicy",
    "ParticipantState",
    "PolicySet",
    "RulePolicy",
    "apply",
    "change_event",
]
