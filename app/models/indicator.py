"""Indicators a unit is assessed on: common ones (unit_id NULL) and the unit's issued individual ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.models.base import Base

PARTS = {"common": "共性指标", "individual": "个性指标", "social": "社会评价"}


class Indicator(Base):
    __tablename__ = "indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    part: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    points: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    target_value: Mapped[str | None] = mapped_column(String(100))
    measure_unit: Mapped[str | None] = mapped_column(String(32))
    scoring_rule: Mapped[str | None] = mapped_column(Text)
    lead_name: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    responsible_name: Mapped[str | None] = mapped_column(String(100))
    deadline: Mapped[dt.date | None]
    sort_order: Mapped[int] = mapped_column(default=0)
    # Individual indicators are created from the issued target version (下达) and are then frozen;
    # common indicators are frozen once the office issues the catalogue.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("target_version.id"), index=True)
    issued_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_indicator_cycle_unit", "cycle_id", "unit_id"),)
