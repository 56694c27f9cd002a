"""抄送 (carbon copy: read-only access to a case, listed in the recipient's 抄送我的) and 催办 (urge).

- ``carbon_copy(case_id, actor, user_ids, note, task_id=None)`` → the new CarbonCopy rows; the actor
  must be able to view the case; recipients get a ``cc`` notification.
- ``copies_for(user, page, per_page)`` → ``CopyPage`` of (CarbonCopy, Case), newest first;
  ``open_copy(user, copy_id)`` marks one read and returns it.
- ``urge(task_id, actor, note)`` → how many people were notified (``urge`` notifications to the
  task's candidates, delegate and their proxies); one urge per task, actor and hour (``RateLimited``, 429).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app import clock
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, User
from app.models.workflow import CarbonCopy, TaskUrge
from app.services import access, cases, notifications
from app.services.ops_common import active_users, candidate_ids, require_text, user_list

MAX_RECIPIENTS = 50
URGE_INTERVAL = dt.timedelta(hours=1)


class RateLimited(Conflict):
    status = 429


def carbon_copy(
    case_id: int, actor: User, user_ids: list[int], note: str | None, *, task_id: int | None = None
) -> list[CarbonCopy]:
    """抄送 the case (optionally naming the task it was sent from) to ``user_ids``, read-only."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在")
    if not access.can_view_case(actor, case):
        raise Forbidden("您无权查看此案件，不能抄送")
    task = None
    if task_id is not None:
        task = db.session.get(HumanTask, task_id)
        if task is None or task.case_id != case.id:
            raise NotFound("任务不存在")
    text = require_text(note, "抄送说明", "note", required=False)
    ids = user_list(user_ids, "user_ids", limit=MAX_RECIPIENTS)
    if actor.id in ids:
        raise ValidationFailed("不能抄送给自己", {"user_ids": ["不能抄送给自己"]})
    users = active_users(ids, "user_ids")
    now = clock.now()
    rows = [
        CarbonCopy(case_id=case.id, task_id=task.id if task else None, user_id=user.id, sender_id=actor.id,
                   note=text or None, created_at=now)
        for user in users
    ]
    db.session.add_all(rows)
    cases.record(case, "cc", user=actor, task=task, comment=text or None,
                 data={"user_ids": ids, "users": [u.display_name for u in users]})
    notifications.notify(ids, "cc", f"抄送：{case.title}", body=text or f"{actor.display_name} 抄送给您，请知悉",
                         link=f"/cases/{case.id}", case_id=case.id, task_id=task.id if task else None)
    db.session.flush()
    return rows


@dataclass
class CopyPage:
    items: list[tuple[CarbonCopy, Case]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def copies_for(user: User, page: int = 1, per_page: int = 50) -> CopyPage:
    """抄送我的: carbon copies received by ``user``, newest first."""
    page, per_page = max(1, page), min(200, max(1, per_page))
    total = db.session.scalar(select(func.count()).select_from(CarbonCopy).where(CarbonCopy.user_id == user.id))
    rows = db.session.execute(
        select(CarbonCopy, Case)
        .join(Case, Case.id == CarbonCopy.case_id)
        .where(CarbonCopy.user_id == user.id)
        .options(joinedload(CarbonCopy.sender), joinedload(Case.unit))
        .order_by(CarbonCopy.created_at.desc(), CarbonCopy.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return CopyPage([(c, k) for c, k in rows], int(total or 0), page, per_page)


def unread_copies(user: User) -> int:
    return int(db.session.scalar(
        select(func.count()).select_from(CarbonCopy)
        .where(CarbonCopy.user_id == user.id, CarbonCopy.read_at.is_(None))
    ) or 0)


def open_copy(user: User, copy_id: int) -> CarbonCopy:
    """Mark one of ``user``'s carbon copies read (idempotent) and return it."""
    row = db.session.get(CarbonCopy, copy_id)
    if row is None or row.user_id != user.id:
        raise NotFound("抄送记录不存在")
    if row.read_at is None:
        row.read_at = clock.now()
    return row


def urge(task_id: int, actor: User, note: str | None) -> int:
    """催办 the open task: notify whoever may work on it. Returns how many were notified."""
    found = db.session.get(HumanTask, task_id)
    if found is None:
        raise NotFound("任务不存在")
    case = cases.lock_case(found.case_id)
    task = db.session.scalar(
        select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    )
    if task is None or not access.can_view_case(actor, case):
        raise NotFound("任务不存在")
    if task.status != "open":
        raise Conflict("该任务已办理，无需催办")
    if cases.may_work_on(actor, task):
        raise ValidationFailed("不能催办自己的待办", {"task_id": ["这是您自己的待办"]})
    text = require_text(note, "催办说明", "note", required=False, max_len=500)
    now = clock.now()
    recent = db.session.scalar(
        select(TaskUrge.id).where(TaskUrge.task_id == task.id, TaskUrge.user_id == actor.id,
                                  TaskUrge.created_at > now - URGE_INTERVAL).limit(1)
    )
    if recent is not None:
        raise RateLimited("您在一小时内已催办过该任务，请稍后再试")
    db.session.add(TaskUrge(task_id=task.id, user_id=actor.id, note=text or None, created_at=now))
    recipients = candidate_ids(task)
    count = notifications.notify(
        recipients, "urge", f"催办：{case.title} · {task.name}",
        body=text or f"{actor.display_name} 催促您尽快办理", link=f"/tasks/{task.id}", case_id=case.id,
        task_id=task.id,
    )
    cases.record(case, "urge", user=actor, task=task, comment=text or None, data={"notified": count})
    cases.touch(case)
    return count
