"""Deadlines of open tasks: reminders before due and overdue escalation, in set-based passes.

``run_due_checks(now)`` is called by ``flask timers run`` every round:

- **reminder** — an open task due within ``reminder_working_days`` working days (and not yet
  due) gets one ``reminder`` notification to each of its candidates (``candidates``: assignee or
  role holders in scope, delegate, their active proxies), once per task;
- **overdue** — an open task past ``due_at`` gets one ``overdue`` notification to each of its
  candidates (link: the task) and to the 绩效办 (``office``) holders whose scope covers the task's
  unit (link: the case), once per task.

"Once" is recorded in ``deadline_notice`` (task, kind), never on ``human_task``. Each kind is
two INSERT … SELECT statements whatever the number of tasks: mark the due tasks with this
pass's batch id, then notify the candidates of the tasks carrying that batch id. A task
that first shows up already overdue gets no reminder. Concurrent passes are serialised by the
primary key of ``deadline_notice`` (the loser's transaction fails and is rolled back).
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import String, and_, cast, exists, func, insert, literal, select, union
from sqlalchemy.sql import Select

from app import clock
from app.extensions import db
from app.models import Case, HumanTask, RoleAssignment, UnitClosure, User
from app.models.notification import DeadlineNotice, Notification
from app.models.workflow import TaskProxy

ESCALATION_ROLE = "office"


def _mark(kind: str, batch: str, now: dt.datetime, condition: object) -> int:
    """Record ``kind`` for every open task matching ``condition`` that has no such notice yet."""
    already = exists().where(DeadlineNotice.task_id == HumanTask.id, DeadlineNotice.kind == kind)
    chosen = select(HumanTask.id, literal(kind), literal(batch), literal(now)).where(
        HumanTask.status == "open", HumanTask.due_at.is_not(None), condition, ~already  # type: ignore[arg-type]
    )
    result = db.session.execute(
        insert(DeadlineNotice).from_select(["task_id", "kind", "batch", "sent_at"], chosen),
        execution_options={"preserve_rowcount": True},  # INSERT rowcounts are not kept by default
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _marked(kind: str, batch: str) -> Select:
    return select(HumanTask.id).join(DeadlineNotice, DeadlineNotice.task_id == HumanTask.id).where(
        DeadlineNotice.kind == kind, DeadlineNotice.batch == batch
    )


def candidates(task_ids: Select, now: dt.datetime) -> Select:
    """(task_id, user_id) of every candidate of the tasks in ``task_ids``, as one set — the same rule
    as ``access.task_candidate_clause``: the assignee, or (no assignee) the active holders of the
    task's role at its unit or above; the person it is delegated to (委派); and the active proxy
    (代理) at ``now`` of any of those."""
    assigned = (
        select(HumanTask.id.label("task_id"), HumanTask.assignee_id.label("user_id"))
        .join(User, User.id == HumanTask.assignee_id)
        .where(HumanTask.id.in_(task_ids), User.active.is_(True))
    )
    by_role = (
        select(HumanTask.id.label("task_id"), RoleAssignment.user_id.label("user_id"))
        .join(UnitClosure, UnitClosure.descendant_id == HumanTask.unit_id)
        .join(
            RoleAssignment,
            and_(RoleAssignment.unit_id == UnitClosure.ancestor_id, RoleAssignment.role == HumanTask.role),
        )
        .join(User, User.id == RoleAssignment.user_id)
        .where(HumanTask.id.in_(task_ids), HumanTask.assignee_id.is_(None), User.active.is_(True))
    )
    delegated = (
        select(HumanTask.id.label("task_id"), HumanTask.delegated_to_id.label("user_id"))
        .join(User, User.id == HumanTask.delegated_to_id)
        .where(HumanTask.id.in_(task_ids), User.active.is_(True))
    )
    direct = union(assigned, by_role, delegated).subquery("direct")
    proxies = (
        select(direct.c.task_id, TaskProxy.proxy_id.label("user_id"))
        .join(TaskProxy, TaskProxy.user_id == direct.c.user_id)
        .join(User, User.id == TaskProxy.proxy_id)
        .where(TaskProxy.ended_at.is_(None), TaskProxy.starts_at <= now, TaskProxy.ends_at > now,
               User.active.is_(True))
    )
    return union(select(direct.c.task_id, direct.c.user_id), proxies)  # type: ignore[return-value]


def _office_holders(task_ids: Select) -> Select:
    return (
        select(HumanTask.id.label("task_id"), RoleAssignment.user_id.label("user_id"))
        .join(UnitClosure, UnitClosure.descendant_id == HumanTask.unit_id)
        .join(RoleAssignment, RoleAssignment.unit_id == UnitClosure.ancestor_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(HumanTask.id.in_(task_ids), RoleAssignment.role == ESCALATION_ROLE, User.active.is_(True))
        .distinct()
    )


def _notify(kind: str, pairs: Select, prefix: str, link_to: str, now: dt.datetime, *, skip_existing: bool) -> int:
    """One INSERT … SELECT of ``kind`` notifications for the (task_id, user_id) ``pairs``."""
    pair = pairs.subquery("pair")
    title = func.substr(literal(prefix) + Case.title + literal(" · ") + HumanTask.name, 1, 200)
    link_id = HumanTask.id if link_to == "task" else Case.id
    link = literal(f"/{'tasks' if link_to == 'task' else 'cases'}/") + cast(link_id, String)
    chosen = (
        select(pair.c.user_id, literal(kind), title, link, HumanTask.case_id, HumanTask.id, literal(now))
        .select_from(pair)
        .join(HumanTask, HumanTask.id == pair.c.task_id)
        .join(Case, Case.id == HumanTask.case_id)
    )
    if skip_existing:  # the office holder is a candidate too: one notification is enough
        chosen = chosen.where(
            ~exists().where(
                Notification.user_id == pair.c.user_id, Notification.task_id == HumanTask.id,
                Notification.kind == kind,
            )
        )
    result = db.session.execute(
        insert(Notification).from_select(
            ["user_id", "kind", "title", "link", "case_id", "task_id", "created_at"], chosen
        ),
        execution_options={"preserve_rowcount": True},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_due_checks(now: dt.datetime | None = None, *, reminder_working_days: int = 1) -> dict[str, int]:
    """One deadline pass at ``now`` (default the application clock). The caller commits.

    Returns counts: ``reminded`` / ``escalated`` tasks and the ``notifications`` written.
    """
    now = now or clock.now()
    batch = secrets.token_hex(8)
    horizon = clock.add_working_days(now, max(0, reminder_working_days))
    reminded = _mark("reminder", batch, now, and_(HumanTask.due_at > now, HumanTask.due_at <= horizon))
    escalated = _mark("overdue", batch, now, HumanTask.due_at <= now)
    written = 0
    if reminded:
        written += _notify(
            "reminder", candidates(_marked("reminder", batch), now), "即将到期：", "task", now, skip_existing=False
        )
    if escalated:
        overdue = _marked("overdue", batch)
        written += _notify("overdue", candidates(overdue, now), "已超期：", "task", now, skip_existing=False)
        written += _notify("overdue", _office_holders(overdue), "超期督办：", "case", now, skip_existing=True)
    return {"reminded": reminded, "escalated": escalated, "notifications": written}
