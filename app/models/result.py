"""Year-end results: the points ledger, social evaluation, computed results, publication, archive.

- ``LedgerItem``: every bonus (加分), deduction (扣分) and veto (一票否决) item of a unit in a
  cycle. A change is a new item that ``replaces_id`` the old one (status ``changed``/``withdrawn``).
- ``SocialEvaluation``: the satisfaction rate of a unit per round (surveys in step 4, or entered).
- ``UnitResult``: one computed row per unit and revision; re-ranking a group adds a revision for
  every unit in it and moves ``is_current``. Nothing is overwritten.
- ``Publication``: one round of publicity (公示) of a group's results.
- ``ArchiveRecord``: the final, immutable result (考评档案) of a unit for a year; earlier years'
  grades imported from history are archive records too (``source='history'``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.org import Group, Unit

LEDGER_KINDS = {"bonus": "加分", "deduction": "扣分", "veto": "一票否决"}


class LedgerItem(Base):
    __tablename__ = "ledger_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal(0))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="manual")  # manual|inspection|appeal|import
    source_id: Mapped[int | None]
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicator.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|changed|withdrawn
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_item.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (Index("ix_ledger_item_cycle_unit_status", "cycle_id", "unit_id", "status"),)


class SocialEvaluation(Base):
    __tablename__ = "social_evaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    round: Mapped[str] = mapped_column(String(20), default="year_end")  # half_year | year_end
    satisfaction: Mapped[Decimal] = mapped_column(Numeric(5, 2))  # percent 0..100
    respondents: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(String(20), default="manual")  # manual | survey | import
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_social_evaluation_cycle_unit", "cycle_id", "unit_id", "round"),)


class Publication(Base):
    """One round of publicity of a group's ranking (round 2+ after an upheld appeal)."""

    __tablename__ = "publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("unit_group.id"))
    round: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|superseded|closed|final
    reason: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    closes_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]

    group: Mapped[Group] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "group_id", "round", name="uq_publication_cycle_group_round"),)


class UnitResult(Base):
    __tablename__ = "unit_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("unit_group.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"))
    revision: Mapped[int] = mapped_column(default=1)
    is_current: Mapped[bool] = mapped_column(default=True)
    common: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    individual: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    tier: Mapped[str] = mapped_column(String(4))
    satisfaction: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    social: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    bonus: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    deductions: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    veto: Mapped[bool] = mapped_column(default=False)
    total: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    rank: Mapped[int]
    grade: Mapped[str] = mapped_column(String(1))
    excellent_quota: Mapped[int]
    flags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        UniqueConstraint("cycle_id", "unit_id", "revision", name="uq_unit_result_cycle_unit_revision"),
        Index("ix_unit_result_cycle_group_current", "cycle_id", "group_id", "is_current"),
    )


class ArchiveRecord(Base):
    """考评档案: a unit's final result for a year. Append-only (DB trigger)."""

    __tablename__ = "archive_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    year: Mapped[int]
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycle.id"))
    group_code: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    rank: Mapped[int | None]
    grade: Mapped[str] = mapped_column(String(1))
    excellent_quota: Mapped[int | None]
    flags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    source: Mapped[str] = mapped_column(String(20), default="cycle")  # cycle | history | correction
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("archive_record.id"))
    note: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(String(64))
    archived_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    archived_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_archive_record_unit_year", "unit_id", "year"),)
