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
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))  # leads ix_wf_case_unit_cycle_process
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

    __table_args__ = (
        Index("ix_wf_case_subject", "subject_type", "subject_id"),
        Index("ix_wf_case_unit_cycle_process", "unit_id", "cycle_id", "process_key"),
    )
    # Optimistic concurrency: every UPDATE checks and bumps lock_version.
    __mapper_args__ = {"version_id_col": lock_version}


TASK_KINDS = ("task", "countersign", "cosign")


class HumanTask(Base):
    """A READY BPMN user task mirrored for the inbox.

    Candidates are everyone holding ``role`` at ``unit_id`` or above it, unless ``assignee_id``
    names one person (after a transfer or delegation, or one row per person of a countersign step).

    ``kind``: ``task`` (the step itself), ``countersign`` (会签: one row per candidate of a step whose
    BPMN property ``countersign`` is ``all``; the step completes when every row approved), ``cosign``
    (加签: an extra approval asked by the task's handler, ``parent_task_id`` = that task; the main
    task cannot be completed while one is open). ``delegated_to_id``: 委派 in progress (the owner,
    ``assignee_id``, cannot complete until the delegate hands it back). ``acting_for_id``: the person
    on whose behalf a proxy (代理) completed it. ``note``: shown with the task (e.g. why it was returned).
    Status: open | completed | cancelled | returned (退回, its branch discarded) | withdrawn (撤回).
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
    kind: Mapped[str] = mapped_column(String(20), default="task", server_default="task")
    parent_task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    delegated_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acting_for_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    unit: Mapped[Unit] = relationship()
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], viewonly=True)
    delegated_to: Mapped[User | None] = relationship(foreign_keys=[delegated_to_id], viewonly=True)
    acting_for: Mapped[User | None] = relationship(foreign_keys=[acting_for_id], viewonly=True)

    __table_args__ = (
        Index("ix_human_task_open_role_unit", "status", "role", "unit_id"),
        Index("ix_human_task_case_status", "case_id", "status"),
        Index("ix_human_task_assignee_status", "assignee_id", "status"),
        Index("ix_human_task_delegated_status", "delegated_to_id", "status"),
        Index("ix_human_task_parent_task_id", "parent_task_id"),
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


# --------------------------------------------------------------------------- approval operations


class CarbonCopy(Base):
    """抄送: ``user`` may read the case (read-only) and finds it in 抄送我的."""

    __tablename__ = "carbon_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="SET NULL"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    read_at: Mapped[dt.datetime | None]

    case: Mapped[Case] = relationship()
    sender: Mapped[User] = relationship(foreign_keys=[sender_id])

    __table_args__ = (
        Index("ix_carbon_copy_user_created", "user_id", "created_at"),
        Index("ix_carbon_copy_case_user", "case_id", "user_id"),
    )


class TaskProxy(Base):
    """代理: from ``starts_at`` to ``ends_at`` (unless ended early) ``proxy`` may see and complete
    ``user``'s tasks; completions record both (HumanTask.acting_for_id, CaseEvent.data)."""

    __tablename__ = "task_proxy"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    proxy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    proxy: Mapped[User] = relationship(foreign_keys=[proxy_id])

    __table_args__ = (
        Index("ix_task_proxy_proxy_ends", "proxy_id", "ends_at"),
        Index("ix_task_proxy_user_ends", "user_id", "ends_at"),
    )

    def active_at(self, moment: dt.datetime) -> bool:
        return self.ended_at is None and self.starts_at <= moment < self.ends_at


class TaskUrge(Base):
    """催办 of an open task (one per task, actor and hour)."""

    __tablename__ = "task_urge"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_task_urge_task_user_created", "task_id", "user_id", "created_at"),)
