"""Who may see what: scope checks shared by the inbox, case pages and the API."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    ScalarSelect,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.models import Appeal, Case, HumanTask, RoleAssignment, Unit, UnitClosure, User
from app.models.workflow import CarbonCopy, TaskProxy

# Built once: an ``aliased()`` adapts its columns on first use (costly), then memoises them.
_PROXY = aliased(TaskProxy, name="candidate_proxy")
_PROXY_RA = aliased(RoleAssignment, name="proxy_role")
_PROXY_UC = aliased(UnitClosure, name="proxy_scope")


def task_candidate_clause(user: User) -> ColumnElement[bool]:
    """SQL condition: ``user`` is a candidate for the HumanTask row — its assignee (or, with no
    assignee, holds its role in scope), the person it is delegated to (委派), or the active proxy
    (代理) of such a candidate."""
    return or_(_direct(user.id), _proxied(user.id, clock.now()))


def direct_candidate_clause(user: User) -> ColumnElement[bool]:
    """``task_candidate_clause`` without proxies."""
    return _direct(user.id)


def proxy_principal(user: User) -> ScalarSelect[Any]:
    """SQL scalar per HumanTask row: the (lowest) id of a candidate whose active proxy ``user`` is, else NULL."""
    return _principal(user.id, clock.now())


USER_PARAM, NOW_PARAM = "candidate_user_id", "candidate_now"


@lru_cache(maxsize=1)
def bound_candidate_columns() -> tuple[ColumnElement[bool], ScalarSelect[Any]]:
    """(``direct_candidate_clause``, ``proxy_principal``) over the bind parameters ``USER_PARAM`` and
    ``NOW_PARAM`` (see ``candidate_params``), built once, for statements over a few task rows (the
    hot path: the rows of one case when a task is completed)."""
    user_id, now = bindparam(USER_PARAM, type_=Integer), bindparam(NOW_PARAM, type_=DateTime)
    return _direct_per_row(user_id), _principal(user_id, now)


@lru_cache(maxsize=1)
def bound_candidate_clause() -> ColumnElement[bool]:
    """``task_candidate_clause`` over the bind parameters of ``candidate_params`` (built once)."""
    user_id, now = bindparam(USER_PARAM, type_=Integer), bindparam(NOW_PARAM, type_=DateTime)
    return or_(_direct(user_id), _proxied(user_id, now))


def candidate_params(user: User) -> dict[str, Any]:
    return {USER_PARAM: user.id, NOW_PARAM: clock.now()}


def _direct(user_id: Any) -> ColumnElement[bool]:
    # (role, unit) of the task among the user's scopes — every unit at or below a unit where the
    # user holds the role. Uncorrelated, so the database builds the set once per statement (a
    # hashed subplan) instead of probing role_assignment and unit_closure for every task row.
    scopes = (
        select(RoleAssignment.role, UnitClosure.descendant_id)
        .join(UnitClosure, UnitClosure.ancestor_id == RoleAssignment.unit_id)
        .where(RoleAssignment.user_id == user_id)
    )
    in_scope = tuple_(HumanTask.role, HumanTask.unit_id).in_(scopes)
    return or_(
        HumanTask.assignee_id == user_id,
        and_(HumanTask.assignee_id.is_(None), in_scope),
        HumanTask.delegated_to_id == user_id,
    )


def _direct_per_row(user_id: Any) -> ColumnElement[bool]:
    # ``_direct`` for statements over a few task rows (the rows of one case): a correlated probe per
    # row — the user's assignments of the row's role, then the closure pair — costs the same in any
    # county, where the uncorrelated set holds every unit below the user's scopes (all of them for
    # a county-wide role).
    in_scope = exists().where(
        RoleAssignment.user_id == user_id, RoleAssignment.role == HumanTask.role,
        UnitClosure.ancestor_id == RoleAssignment.unit_id, UnitClosure.descendant_id == HumanTask.unit_id,
    )
    return or_(
        HumanTask.assignee_id == user_id,
        and_(HumanTask.assignee_id.is_(None), in_scope),
        HumanTask.delegated_to_id == user_id,
    )


def _proxied(user_id: Any, now: Any) -> ColumnElement[bool]:
    # The task row is a candidate's whose active proxy (代理) the user is: the same rule as
    # ``_proxy_conditions``, as two uncorrelated sets (the principals; their (role, unit) scopes)
    # that the database builds once per statement instead of probing task_proxy for every row.
    proxy, ra, uc = _PROXY, _PROXY_RA, _PROXY_UC
    active = (proxy.proxy_id == user_id, proxy.ended_at.is_(None), proxy.starts_at <= now, proxy.ends_at > now)
    principals = select(proxy.user_id).where(*active)
    principal_scopes = (
        select(ra.role, uc.descendant_id)
        .select_from(proxy)
        .join(ra, ra.user_id == proxy.user_id)
        .join(uc, uc.ancestor_id == ra.unit_id)
        .where(*active)
    )
    return or_(
        HumanTask.assignee_id.in_(principals),
        and_(HumanTask.assignee_id.is_(None), tuple_(HumanTask.role, HumanTask.unit_id).in_(principal_scopes)),
    )


def _principal(user_id: Any, now: Any) -> ScalarSelect[Any]:
    return select(func.min(_PROXY.user_id)).where(*_proxy_conditions(user_id, now)).scalar_subquery()


def _proxy_conditions(user_id: Any, now: Any) -> list[ColumnElement[bool]]:
    proxy, ra, uc = _PROXY, _PROXY_RA, _PROXY_UC
    # explicit: two levels down, auto-correlation would not reach the outer human_task
    principal_in_scope = exists().where(
        ra.user_id == proxy.user_id, ra.role == HumanTask.role,
        uc.ancestor_id == ra.unit_id, uc.descendant_id == HumanTask.unit_id,
    ).correlate(HumanTask, proxy)
    return [
        proxy.proxy_id == user_id, proxy.ended_at.is_(None), proxy.starts_at <= now, proxy.ends_at > now,
        or_(HumanTask.assignee_id == proxy.user_id, and_(HumanTask.assignee_id.is_(None), principal_in_scope)),
    ]


def proxy_principal_for(user: User, task: HumanTask) -> int | None:
    """The candidate of ``task`` whose active proxy ``user`` is (lowest id), or None."""
    value = db.session.scalar(
        select(proxy_principal(user)).select_from(HumanTask).where(HumanTask.id == task.id)
    )
    return int(value) if value is not None else None


def can_view_case(user: User, case: Case) -> bool:
    """Anyone holding a role whose scope covers the case's unit, its starter, anyone who acted on it,
    a candidate of one of its open tasks, a recipient of a carbon copy of it, and an appellant of it."""
    if user.is_admin or case.started_by_id == user.id:
        return True
    covered = exists().where(
        RoleAssignment.user_id == user.id,
        UnitClosure.ancestor_id == RoleAssignment.unit_id,
        UnitClosure.descendant_id == case.unit_id,
    )
    acted = exists().where(HumanTask.case_id == case.id, HumanTask.completed_by_id == user.id)
    appealed = exists().where(Appeal.case_id == case.id, Appeal.appellant_id == user.id)
    # assignees, delegates, co-signers and proxies of an open task; recipients of a carbon copy (抄送)
    works = exists().where(HumanTask.case_id == case.id, HumanTask.status == "open", task_candidate_clause(user))
    copied = exists().where(CarbonCopy.case_id == case.id, CarbonCopy.user_id == user.id)
    return bool(db.session.scalar(select(or_(covered, acted, appealed, works, copied))))


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


# (role, unit id, unit code, unit name) of every assignment of a user, in one statement.
_ROLE_UNITS = (
    select(RoleAssignment.role, Unit.id, Unit.code, Unit.name)
    .join(Unit, Unit.id == RoleAssignment.unit_id)
    .where(RoleAssignment.user_id == bindparam("user_id"))
    .order_by(RoleAssignment.id)
)


def role_units(user: User) -> list[tuple[str, int, str, str]]:
    """The user's role assignments with their units (for "who am I" answers)."""
    return [(r.role, r.id, r.code, r.name) for r in db.session.execute(_ROLE_UNITS, {"user_id": user.id})]
