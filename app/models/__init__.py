"""All models, imported so that Alembic and the mappers see every table."""

from app.models.assessment import Appeal, EvidenceFile, Score, SelfAssessmentEntry
from app.models.base import Base
from app.models.cycle import Cycle, CycleUnit, UnitScheme
from app.models.indicator import Indicator
from app.models.letter import Letter, LetterSignature
from app.models.org import Department, Group, Unit, UnitClosure
from app.models.result import ArchiveRecord, LedgerItem, Publication, SocialEvaluation, UnitResult
from app.models.target import TargetVersion
from app.models.user import ApiToken, RoleAssignment, User
from app.models.workflow import Case, CaseEvent, HumanTask, ProcessDefinition, Timer

__all__ = [
    "ApiToken",
    "Appeal",
    "ArchiveRecord",
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
    "LedgerItem",
    "Letter",
    "LetterSignature",
    "ProcessDefinition",
    "Publication",
    "RoleAssignment",
    "Score",
    "SelfAssessmentEntry",
    "SocialEvaluation",
    "TargetVersion",
    "Timer",
    "Unit",
    "UnitClosure",
    "UnitResult",
    "UnitScheme",
    "User",
]
