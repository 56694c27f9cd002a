"""Process definitions, cases (running process instances), their human tasks, history and timers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base, JsonType
from app.models.org import Unit
from app.models.user import User


class ProcessDefinition(Base):
    """One deployed version of a BPMN process, identified by the hash of its file's content."""

    __tablename__ = "process_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    is_latest: Mapped[bool] = mapped_column(default=True)
    deployed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        UniqueConstraint("key", "version", name="uq_process_definition_key_version"),
        UniqueConstraint("key", "content_hash", name="uq_process_definition_key_hash"),
    )


class Case(Base):
    """A running or finished process instance about one unit (its scope for role resolution)."""

    __tablename__ = "wf_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycle.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("unit_group.id"))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    current_step: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(40))
    lock_version: Mapped[int] = mapped_column(default=1)
    has_pending_timers: Mapped[bool] = mapped_column(default=False)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    completed_at: Mapped[dt.datetime | None]

    definition: Mapped[ProcessDefinition] = relationship()
    unit: Mapped[Unit] = relationship()
    started_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_wf_case_subject", "subject_type", "subject_id"),)
    # Optimistic concurrency: every UPDATE checks and bumps lock_version.
    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(Base):
    """A READY BPMN user task mirrored for the inbox.

    Candidates are everyone holding ``role`` at ``unit_id`` or above it, unless ``assignee_id``
    names one person (after a transfer or delegation).
    """

    __tablename__ = "human_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    form_key: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    due_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))

    case: Mapped[Case] = relationship()
    unit: Mapped[Unit] = relationship()
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])

    __table_args__ = (
        Index("ix_human_task_open_role_unit", "status", "role", "unit_id"),
        Index("ix_human_task_case_status", "case_id", "status"),
        Index("ix_human_task_assignee_status", "assignee_id", "status"),
    )

    @property
    def is_overdue(self) -> bool:
        return self.status == "open" and self.due_at is not None and self.due_at < clock.now()


class CaseEvent(Base):
    """Append-only case history: who did what, when and why (痕迹管理)."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    user: Mapped[User | None] = relationship()


class Timer(Base):
    """A waiting BPMN timer event; fired by ``flask timers run`` when ``due_at`` passes."""

    __tablename__ = "wf_timer"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    fired_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_wf_timer_status_due", "status", "due_at"),
        UniqueConstraint("case_id", "spiff_task_id", name="uq_wf_timer_case_task"),
    )
