"""The annual evaluation cycle (年度考核方案) and the units taking part in it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.org import Group, Unit

DEFAULT_SETTINGS: dict[str, Any] = {
    "weights": {"common": 30, "individual": 50, "social": 20},
    "tier_coefficients": {"I": 1.0, "II": 0.95, "III": 0.90},
    "bonus_cap": 3,
    "grade_shares": {"A": 0.30, "C": 0.10},
    "quota": {"base_rate": 0.15, "A_add": 1, "C_add": -1},
    "veto_enabled": True,
    "publicity_days": 5,
}


class Cycle(Base):
    __tablename__ = "cycle"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    starts_on: Mapped[dt.date | None]
    ends_on: Mapped[dt.date | None]
    # Milestones of the year (all optional; deadlines shown in inboxes and used for due dates).
    scheme_due_on: Mapped[dt.date | None]  # units file their own scheme for record (备案) by then
    targets_due_on: Mapped[dt.date | None]  # 三上三下 finished (targets issued) by then
    letters_due_on: Mapped[dt.date | None]  # responsibility / commitment letters signed by then
    assessment_due_on: Mapped[dt.date | None]  # year-end self-assessment submitted by then
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    participants: Mapped[list[CycleUnit]] = relationship(back_populates="cycle")

    def setting(self, key: str) -> Any:
        return (self.settings or {}).get(key, DEFAULT_SETTINGS.get(key))


class CycleUnit(Base):
    """A unit's participation in a cycle, with the group it is ranked in that year."""

    __tablename__ = "cycle_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("unit_group.id"), index=True)
    tier: Mapped[str | None] = mapped_column(String(4))
    # The target version issued (下达) at the end of 三上三下; what letters and scoring use.
    issued_version_id: Mapped[int | None] = mapped_column(ForeignKey("target_version.id", use_alter=True))
    issued_at: Mapped[dt.datetime | None]

    cycle: Mapped[Cycle] = relationship(back_populates="participants")
    unit: Mapped[Unit] = relationship()
    group: Mapped[Group] = relationship()

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id", name="uq_cycle_unit_cycle_unit"),)


class UnitScheme(Base):
    """A unit's own assessment scheme filed with the office for record (备案). Re-filing adds a row."""

    __tablename__ = "unit_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str | None] = mapped_column(String(255))
    stored_name: Mapped[str | None] = mapped_column(String(80))
    sha256: Mapped[str | None] = mapped_column(String(64))
    late: Mapped[bool] = mapped_column(default=False)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    unit: Mapped[Unit] = relationship()

    __table_args__ = (Index("ix_unit_scheme_cycle_unit", "cycle_id", "unit_id"),)
