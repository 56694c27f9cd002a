"""三上三下 target negotiation: every round's target set is an immutable, stored version."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.user import User

# The six steps of 三上三下 (stage codes stored on versions and used in the history).
STAGES = {
    "up1": "一上：单位申报",
    "down1": "一下：绩效办反馈",
    "up2": "二上：单位修改",
    "down2": "二下：审核定稿",
    "up3": "三上：单位确认",
    "down3": "三下：审定下达",
}
TIERS = {"I": "Ⅰ档", "II": "Ⅱ档", "III": "Ⅲ档"}


class TargetVersion(Base):
    """One round's complete target set of a unit (append-only; enforced by a DB trigger).

    ``items`` is a list of target dicts: code, name, target_value, measure_unit, points,
    scoring_rule, lead_name, department_id, responsible_name, deadline (ISO date).
    """

    __tablename__ = "target_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    number: Mapped[int]  # 1, 2, 3 ... within the case
    stage: Mapped[str] = mapped_column(String(10))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    tier: Mapped[str | None] = mapped_column(String(4))
    note: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    created_by: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("case_id", "number", name="uq_target_version_case_number"),
        Index("ix_target_version_cycle_unit", "cycle_id", "unit_id"),
    )
