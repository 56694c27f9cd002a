"""All models, imported so that Alembic and the mappers see every table."""

from app.models.assessment import Appeal, EvidenceFile, Score, SelfAssessmentEntry
from app.models.base import Base
from app.models.cycle import Cycle, CycleUnit
from app.models.indicator import Indicator
from app.models.org import Department, Group, Unit, UnitClosure
from app.models.user import ApiToken, RoleAssignment, User
from app.models.workflow import Case, CaseEvent, HumanTask, ProcessDefinition, Timer

__all__ = [
    "ApiToken",
    "Appeal",
    "Base",
    "Case",
    "CaseEvent",
    "Cycle",
    "CycleUnit",
    "Department",
    "EvidenceFile",
    "Group",
    "HumanTask",
    "Indicator",
    "ProcessDefinition",
    "RoleAssignment",
    "Score",
    "SelfAssessmentEntry",
    "Timer",
    "Unit",
    "UnitClosure",
    "User",
]
