"""Organisation: the unit tree (region → units → sub-units), departments and ranking groups."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base

UNIT_KINDS = {
    "region": "县/市",
    "township": "乡镇",
    "department": "部门",
    "institution": "事业单位",
}


class Group(Base):
    """A ranking class (分类), e.g. 一类乡镇; ranking and grading happen inside one group."""

    __tablename__ = "unit_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))

    def __repr__(self) -> str:
        return f"<Group {self.code}>"


class Unit(Base):
    """A node of the organisation tree. Role assignments at a unit cover its whole subtree."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="department")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("unit_group.id"), index=True)
    staff_count: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])
    group: Mapped[Group | None] = relationship()
    departments: Mapped[list[Department]] = relationship(back_populates="unit", order_by="Department.id")

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class UnitClosure(Base):
    """Transitive closure of the unit tree (every ancestor–descendant pair, self included).

    Lets scope checks be one equality join: an assignment at ``ancestor_id`` covers
    every case whose unit is a ``descendant_id`` of it.
    """

    __tablename__ = "unit_closure"

    ancestor_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    descendant_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    depth: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_unit_closure_descendant", "descendant_id", "ancestor_id"),)


class Department(Base):
    """A 科室 inside a unit."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))

    unit: Mapped[Unit] = relationship(back_populates="departments")

    __table_args__ = (UniqueConstraint("unit_id", "code", name="uq_department_unit_code"),)
