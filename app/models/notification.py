"""In-app notifications (站内消息): reminders, escalations, urges, carbon copies, results."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.models.base import Base
from app.models.workflow import HumanTask

KINDS = {
    "reminder": "到期提醒",
    "overdue": "超期督办",
    "urge": "催办",
    "cc": "抄送",
    "returned": "退回",
    "assigned": "新任务",
    "info": "通知",
}


class Notification(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    read_at: Mapped[dt.datetime | None]
    emailed_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at"),
        Index("ix_notification_unsent", "emailed_at", "created_at"),
    )


class DeadlineNotice(Base):
    """That the deadline pass has sent a task's ``reminder`` or ``overdue`` notice (once per task and kind).

    ``batch`` identifies the pass that wrote the row, so the pass can notify exactly the tasks it
    marked with one INSERT … SELECT (the table is written before the notifications).
    """

    __tablename__ = "deadline_notice"

    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    batch: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_deadline_notice_batch", "batch"),)


# Indexes on human_task for the inbox lists and the deadline pass; the table belongs to
# app.models.workflow, the indexes to the ``deadlines`` and ``0006_inbox_order_indexes`` migrations
# (open tasks in the 待办 list's orders: by deadline, the default, and by received time).
Index("ix_human_task_done_by", HumanTask.completed_by_id, HumanTask.status, HumanTask.completed_at)
Index("ix_human_task_status_due_id", HumanTask.status, HumanTask.due_at, HumanTask.id)
Index("ix_human_task_status_created_id", HumanTask.status, HumanTask.created_at, HumanTask.id)
