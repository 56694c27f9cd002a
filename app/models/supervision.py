"""Ongoing supervision (过程监管): inspections, spot-check draws, deduction appeals, reports,
mid-year evaluation, surveys, rectification (整改) and cadres' monthly self-scores.

Rounds are rows: a resubmitted plan, a repeated check or a returned report adds a row with
the next ``round``; nothing is overwritten. ``rectification_check``, ``survey_answer`` and
``midyear_entry`` are append-only (DB trigger).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.org import Unit

FINDING_CATEGORIES = {
    "attendance": "考勤",
    "work_log": "工作日志",
    "environment": "环境卫生",
    "service_window": "服务窗口",
    "other": "其他",
}
INSPECTION_KINDS = {"open": "明查", "covert": "暗访", "spot": "随机抽查"}
SURVEY_DIMENSIONS = {
    "performance": "履职效能",
    "integrity": "廉洁自律",
    "efficiency": "工作效率",
    "effectiveness": "工作实效",
    "attitude": "服务态度",
}
SURVEY_CHOICES = {"satisfied": "满意", "basic": "基本满意", "dissatisfied": "不满意"}


class SpotCheckDraw(Base):
    """随机抽查: ``size`` units drawn from ``pool`` (sorted unit ids) with ``random.Random(seed)``."""

    __tablename__ = "spot_check_draw"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(20))
    seed: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    pool: Mapped[list[int]] = mapped_column(JsonType)
    drawn: Mapped[list[int]] = mapped_column(JsonType)
    note: Mapped[str | None] = mapped_column(Text)
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    drawn_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Finding(Base):
    """An inspection finding (明查暗访 / 随机抽查) on a unit, optionally a ledger deduction."""

    __tablename__ = "finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("spot_check_draw.id"))
    kind: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicator.id"))
    points: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal(0))
    month: Mapped[str] = mapped_column(String(7))
    found_on: Mapped[dt.date]
    ledger_item_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_item.id"))
    rectification_id: Mapped[int | None] = mapped_column(ForeignKey("rectification.id"))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()


class SupervisionFile(Base):
    """Evidence of a finding, a monthly report or a rectification report (stored like uploads)."""

    __tablename__ = "supervision_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(20))  # finding | report | rect_report
    owner_id: Mapped[int]
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_supervision_file_owner", "owner_type", "owner_id"),)


class DeductionAppeal(Base):
    """A unit's objection to one ledger item; one per item. Decided by the office."""

    __tablename__ = "deduction_appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    ledger_item_id: Mapped[int] = mapped_column(ForeignKey("ledger_item.id"), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="filed")  # filed | upheld | rejected
    action: Mapped[str | None] = mapped_column(String(20))  # withdraw | change
    new_points: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    answer: Mapped[str | None] = mapped_column(Text)
    replacement_item_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_item.id"))
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None]

    unit: Mapped[Unit] = relationship()


class MonthlyReport(Base):
    """A unit's monthly progress report on its issued targets (monthly_report.bpmn)."""

    __tablename__ = "monthly_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | submitted
    submitted_at: Mapped[dt.datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id", "month", name="uq_monthly_report_cycle_unit_month"),)

    @property
    def is_overdue(self) -> bool:
        return self.status == "open" and self.due_at < clock.now()

    @property
    def is_late(self) -> bool:
        return self.submitted_at is not None and self.submitted_at > self.due_at


class MonthlyReportEntry(Base):
    __tablename__ = "monthly_report_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("monthly_report.id", ondelete="CASCADE"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id"))
    round: Mapped[int]
    progress: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    narrative: Mapped[str] = mapped_column(Text)
    filled_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filled_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_monthly_report_entry_report_round", "report_id", "round"),)


class QuarterlySummary(Base):
    """季度汇总 compiled from a unit's monthly reports; recompiling adds a revision."""

    __tablename__ = "quarterly_summary"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    quarter: Mapped[int]
    revision: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    compiled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    compiled_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        UniqueConstraint("cycle_id", "unit_id", "quarter", "revision", name="uq_quarterly_summary_revision"),
    )


class MidyearEvaluation(Base):
    """年中评估 of one unit (midyear_evaluation.bpmn); its rounds are ``MidyearEntry`` rows."""

    __tablename__ = "midyear_evaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | evaluated
    rating: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id", name="uq_midyear_evaluation_cycle_unit"),)


class MidyearEntry(Base):
    """One act of a mid-year evaluation: a unit's summary or the office's evaluation. Append-only."""

    __tablename__ = "midyear_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("midyear_evaluation.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))  # summary | evaluation
    text: Mapped[str] = mapped_column(Text)
    problems: Mapped[str | None] = mapped_column(Text)
    plans: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[str | None] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Survey(Base):
    """社会评价 of one unit in one round, answered with single-use tokens."""

    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    round: Mapped[str] = mapped_column(String(20))  # half_year | year_end
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    satisfaction: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    respondents: Mapped[int] = mapped_column(default=0)
    social_evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("social_evaluation.id"))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[dt.datetime | None]

    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id", "round", name="uq_survey_cycle_unit_round"),)


class SurveyToken(Base):
    """One issued survey code; only its SHA-256 is stored. ``used_at`` is set once (conditional UPDATE)."""

    __tablename__ = "survey_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[int] = mapped_column(default=1)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    used_at: Mapped[dt.datetime | None]


class SurveyAnswer(Base):
    """One questionnaire; at most one per token (unique). Append-only."""

    __tablename__ = "survey_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("survey_token.id", ondelete="CASCADE"), unique=True)
    performance: Mapped[str] = mapped_column(String(16))
    integrity: Mapped[str] = mapped_column(String(16))
    efficiency: Mapped[str] = mapped_column(String(16))
    effectiveness: Mapped[str] = mapped_column(String(16))
    attitude: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class CadreMonth(Base):
    """A cadre's monthly evaluation (一月一考评, cadre_monthly.bpmn); rounds are ``CadreScore`` rows."""

    __tablename__ = "cadre_month"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    month: Mapped[str] = mapped_column(String(7))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | approved
    final_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    approved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("user_id", "month", name="uq_cadre_month_user_month"),)


class CadreScore(Base):
    """One round: the cadre's self-score and the leader's decision on it."""

    __tablename__ = "cadre_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadre_month_id: Mapped[int] = mapped_column(ForeignKey("cadre_month.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    self_score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    summary: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decision: Mapped[str | None] = mapped_column(String(20))  # approve | return
    final_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime | None]
