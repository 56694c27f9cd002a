"""Inbox queries: 待办 (open tasks I may do), 已办 (tasks I completed), 我发起的 (cases I started)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager

from app import clock
from app.extensions import db
from app.models import Case, HumanTask, User
from app.services.access import task_candidate_clause

PAGE_SIZE = 50


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _todo_query(user: User) -> Select:
    return select(HumanTask).where(HumanTask.status == "open", task_candidate_clause(user))


def todo(user: User, page: int = 1, per_page: int = PAGE_SIZE, overdue_only: bool = False) -> Page:
    query = _todo_query(user)
    if overdue_only:
        query = query.where(HumanTask.due_at < clock.now())
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.join(HumanTask.case)
        .join(HumanTask.unit)
        .options(contains_eager(HumanTask.case), contains_eager(HumanTask.unit))
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page)


def done(user: User, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    query = select(HumanTask).where(HumanTask.completed_by_id == user.id, HumanTask.status == "completed")
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.join(HumanTask.case)
        .join(HumanTask.unit)
        .options(contains_eager(HumanTask.case), contains_eager(HumanTask.unit))
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page)


def started(user: User, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    query = select(Case).where(Case.started_by_id == user.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.join(Case.unit)
        .options(contains_eager(Case.unit))
        .order_by(Case.started_at.desc(), Case.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page)


def counts(user: User) -> dict[str, int]:
    row = db.session.execute(
        select(func.count(), func.count().filter(HumanTask.due_at < clock.now())).where(
            HumanTask.status == "open", task_candidate_clause(user)
        )
    ).one()
    return {"todo": row[0], "overdue": row[1]}
