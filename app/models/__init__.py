"""All models, imported so that Alembic and the mappers see every table."""

from app.models.assessment import Appeal, EvidenceFile, Score, SelfAssessmentEntry
from app.models.base import Base
from app.models.cycle import Cycle, CycleUnit, UnitScheme
from app.models.form_schema import FormSchema
from app.models.indicator import Indicator
from app.models.letter import Letter, LetterSignature
from app.models.notification import Notification
from app.models.org import Department, Group, Unit, UnitClosure
from app.models.rectification import Rectification, RectificationCheck, RectificationPlan, RectificationReport
from app.models.result import ArchiveRecord, LedgerItem, Publication, SocialEvaluation, UnitResult
from app.models.supervision import (
    CadreMonth,
    CadreScore,
    DeductionAppeal,
    Finding,
    MidyearEntry,
    MidyearEvaluation,
    MonthlyReport,
    MonthlyReportEntry,
    QuarterlySummary,
    SpotCheckDraw,
    SupervisionFile,
    Survey,
    SurveyAnswer,
    SurveyToken,
)
from app.models.target import TargetVersion
from app.models.throttle import RateHit
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
    "FormSchema",
    "Group",
    "HumanTask",
    "Indicator",
    "LedgerItem",
    "Letter",
    "LetterSignature",
    "Notification",
    "ProcessDefinition",
    "Publication",
    "RoleAssignment",
    "Score",
    "SelfAssessmentEntry",
    "RateHit",
    "SocialEvaluation",
    "TargetVersion",
    "Timer",
    "Unit",
    "UnitClosure",
    "UnitResult",
    "UnitScheme",
    "User",
    "CadreMonth",
    "CadreScore",
    "DeductionAppeal",
    "Finding",
    "MidyearEntry",
    "MidyearEvaluation",
    "MonthlyReport",
    "MonthlyReportEntry",
    "QuarterlySummary",
    "Rectification",
    "RectificationCheck",
    "RectificationPlan",
    "RectificationReport",
    "SpotCheckDraw",
    "SupervisionFile",
    "Survey",
    "SurveyAnswer",
    "SurveyToken",
]
