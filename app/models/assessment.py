"""Year-end assessment records: self-assessment entries, evidence files, scores and appeals.

Every submission round adds rows; nothing is overwritten, so each round stays visible.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.indicator import Indicator
from app.models.user import User


class SelfAssessmentEntry(Base):
    __tablename__ = "self_assessment_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id"))
    round: Mapped[int]
    completion: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    narrative: Mapped[str] = mapped_column(Text)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    indicator: Mapped[Indicator] = relationship()
    evidence: Mapped[list[EvidenceFile]] = relationship(back_populates="entry")

    __table_args__ = (Index("ix_self_assessment_entry_case_round", "case_id", "round"),)


class EvidenceFile(Base):
    """An uploaded file, stored outside the web root under a random name."""

    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("self_assessment_entry.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    entry: Mapped[SelfAssessmentEntry | None] = relationship(back_populates="evidence")


class Score(Base):
    """Points an assessor gave an indicator in one scoring round."""

    __tablename__ = "score"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id"))
    round: Mapped[int]
    points: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    note: Mapped[str | None] = mapped_column(Text)
    scored_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    scored_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    indicator: Mapped[Indicator] = relationship()

    __table_args__ = (Index("ix_score_case_round", "case_id", "round"),)


class Appeal(Base):
    """An objection filed during publicity, with its review, decision and written answer."""

    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    appellant_kind: Mapped[str] = mapped_column(String(20))
    appellant_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="filed")
    review_note: Mapped[str | None] = mapped_column(Text)
    upheld: Mapped[bool | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    corrected_total: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    # Upheld with a correction: replacement values, e.g. {"deductions": ["1.0"], "satisfaction": "90"}.
    correction: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    filed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]

    appellant: Mapped[User | None] = relationship()
