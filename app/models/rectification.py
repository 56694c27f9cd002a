"""整改 (rectification.bpmn): the case record, its 四个具体 plans, progress reports and 三不放过 checks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base
from app.models.org import Unit

RECTIFICATION_SOURCES = {"finding": "督查发现", "appeal": "申诉成立", "complaint": "群众投诉"}
RECTIFICATION_STATUS = {
    "plan": "制定方案",
    "plan_review": "方案审核",
    "in_progress": "整改中",
    "verifying": "核验中",
    "closed": "已销号",
}

class Rectification(Base):
    """整改 case: opened from a finding, an upheld appeal or a public complaint (rectification.bpmn)."""

    __tablename__ = "rectification"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    verifier_role: Mapped[str] = mapped_column(String(20), default="office")  # office | inspector
    status: Mapped[str] = mapped_column(String(20), default="plan")
    deadline: Mapped[dt.date | None]
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[dt.datetime | None]

    unit: Mapped[Unit] = relationship()

    @property
    def is_overdue(self) -> bool:
        if self.status == "closed" or self.deadline is None:
            return False
        local = clock.to_local(clock.now())
        return local is not None and self.deadline < local.date()


class RectificationPlan(Base):
    """One round of the plan with the 四个具体 and the supervisor's decision on it."""

    __tablename__ = "rectification_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectification.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    target: Mapped[str] = mapped_column(Text)
    items: Mapped[str] = mapped_column(Text)
    deadline: Mapped[dt.date]
    measures: Mapped[str] = mapped_column(Text)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decision: Mapped[str | None] = mapped_column(String(20))  # approve | return
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None]


class RectificationReport(Base):
    """One round of the unit's completion report (evidence in ``supervision_file``)."""

    __tablename__ = "rectification_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectification.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    summary: Mapped[str] = mapped_column(Text)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class RectificationCheck(Base):
    """One 三不放过 verification; ``passed`` only when all three are yes. Append-only."""

    __tablename__ = "rectification_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectification.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    root_cause_found: Mapped[bool]
    measures_done: Mapped[bool]
    up_to_standard: Mapped[bool]
    passed: Mapped[bool]
    reasons: Mapped[str | None] = mapped_column(Text)
    checked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
