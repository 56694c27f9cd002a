"""Who may see what: scope checks shared by the inbox, case pages and the API."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select

from app.extensions import db
from app.models import Appeal, Case, HumanTask, RoleAssignment, UnitClosure, User


def task_candidate_clause(user: User) -> ColumnElement[bool]:
    """SQL condition: ``user`` is a candidate for the HumanTask row (assignee, or role in scope)."""
    in_scope = (
        exists()
        .where(RoleAssignment.user_id == user.id, RoleAssignment.role == HumanTask.role)
        .where(UnitClosure.ancestor_id == RoleAssignment.unit_id, UnitClosure.descendant_id == HumanTask.unit_id)
    )
    return or_(HumanTask.assignee_id == user.id, and_(HumanTask.assignee_id.is_(None), in_scope))


def can_view_case(user: User, case: Case) -> bool:
    """Anyone holding a role whose scope covers the case's unit, its starter, anyone who acted on it,
    and an appellant of it."""
    if user.is_admin or case.started_by_id == user.id:
        return True
    covered = exists().where(
        RoleAssignment.user_id == user.id,
        UnitClosure.ancestor_id == RoleAssignment.unit_id,
        UnitClosure.descendant_id == case.unit_id,
    )
    acted = exists().where(HumanTask.case_id == case.id, HumanTask.completed_by_id == user.id)
    appealed = exists().where(Appeal.case_id == case.id, Appeal.appellant_id == user.id)
    return bool(db.session.scalar(select(or_(covered, acted, appealed))))


def holds_role(user: User, *roles: str) -> bool:
    """Whether ``user`` holds any of ``roles`` in any scope (for navigation and coarse checks)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return any(a.role in roles for a in user.roles)


def holds_role_for(user: User, role: str, unit_id: int) -> bool:
    """Whether ``user`` holds ``role`` at ``unit_id`` or at one of its ancestors."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    RoleAssignment.user_id == user.id,
                    RoleAssignment.role == role,
                    UnitClosure.ancestor_id == RoleAssignment.unit_id,
                    UnitClosure.descendant_id == unit_id,
                )
            )
        )
    )
