"""Read-side queries of API v1: scope-filtered lists of cases, cycles, targets, results, ledgers, letters.

Scope (who sees which unit's records): administrators see everything; otherwise a user sees
the units covered by any of their role assignments (the unit and its subtree — the 绩效办
and 考核委员会 at the region see every unit) and their own unit. Cases follow
``access.can_view_case`` (as a set), letters ``letter_board.can_view_letter``. Every list is
one statement with the total as a scalar subquery (``inbox.paged``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import contains_eager, defer, joinedload, selectinload

from app.errors import NotFound
from app.extensions import db
from app.models import (
    Appeal,
    Case,
    Cycle,
    CycleUnit,
    HumanTask,
    Indicator,
    LedgerItem,
    Letter,
    RoleAssignment,
    TargetVersion,
    Unit,
    UnitClosure,
    UnitResult,
    User,
)
from app.services.inbox import Page, paged
from app.services.letter_board import VIEWER_ROLES


def _covered_units(user: User, roles: tuple[str, ...] | None = None) -> Select:
    query = (
        select(UnitClosure.descendant_id)
        .join(RoleAssignment, RoleAssignment.unit_id == UnitClosure.ancestor_id)
        .where(RoleAssignment.user_id == user.id)
    )
    return query.where(RoleAssignment.role.in_(roles)) if roles else query


def unit_clause(user: User, column: Any) -> ColumnElement[bool]:
    """SQL condition: the unit in ``column`` is in ``user``'s scope."""
    if user.is_admin:
        return true()
    own = column == user.unit_id if user.unit_id is not None else false()
    return or_(column.in_(_covered_units(user)), own)


def can_see_unit(user: User, unit_id: int) -> bool:
    return bool(db.session.scalar(select(unit_clause(user, literal(unit_id, Integer)))))


def case_clause(user: User) -> ColumnElement[bool]:
    """``access.can_view_case`` as a SQL condition on ``Case``."""
    if user.is_admin:
        return true()
    acted = exists().where(HumanTask.case_id == Case.id, HumanTask.completed_by_id == user.id)
    appealed = exists().where(Appeal.case_id == Case.id, Appeal.appellant_id == user.id)
    return or_(Case.started_by_id == user.id, Case.unit_id.in_(_covered_units(user)), acted, appealed)


# --------------------------------------------------------------------------- cases


def cases_page(
    user: User,
    *,
    cycle_id: int | None = None,
    unit_id: int | None = None,
    process: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    where: list[ColumnElement[bool]] = [case_clause(user)]
    if cycle_id:
        where.append(Case.cycle_id == cycle_id)
    if unit_id:
        where.append(Case.unit_id == unit_id)
    if process:
        where.append(Case.process_key == process)
    if status:
        where.append(Case.status == status)
    query = (
        select(Case)
        .join(Unit, Unit.id == Case.unit_id)
        .options(contains_eager(Case.unit), defer(Case.state))
        .where(*where)
        .order_by(Case.started_at.desc(), Case.id.desc())
    )
    return paged(query, select(func.count()).select_from(Case).where(*where), page, per_page)


# --------------------------------------------------------------------------- cycles and targets


def get_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound("考核年度不存在")
    return cycle


def cycles() -> list[Cycle]:
    """Every cycle (year, title and milestone dates are not confidential), newest first."""
    return list(db.session.scalars(select(Cycle).order_by(Cycle.year.desc())))


def participants(user: User, cycle: Cycle) -> list[CycleUnit]:
    """The cycle's units in ``user``'s scope, with unit and group loaded."""
    return list(
        db.session.scalars(
            select(CycleUnit)
            .join(Unit, Unit.id == CycleUnit.unit_id)
            .options(contains_eager(CycleUnit.unit), joinedload(CycleUnit.group))
            .where(CycleUnit.cycle_id == cycle.id, unit_clause(user, CycleUnit.unit_id))
            .order_by(Unit.code)
        )
    )


@dataclass
class Targets:
    cycle: Cycle
    unit: Unit
    participant: CycleUnit | None
    issued: TargetVersion | None
    versions: list[TargetVersion] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)


def targets(user: User, cycle_id: int, unit_id: int) -> Targets:
    """A unit's target versions (三上三下), the issued one, and its indicators (common + individual)."""
    cycle = get_cycle(cycle_id)
    unit = db.session.get(Unit, unit_id)
    if unit is None or not can_see_unit(user, unit_id):
        raise NotFound("单位不存在")
    participant = db.session.scalar(
        select(CycleUnit).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit_id)
    )
    versions = list(
        db.session.scalars(
            select(TargetVersion)
            .options(selectinload(TargetVersion.created_by))
            .where(TargetVersion.cycle_id == cycle.id, TargetVersion.unit_id == unit_id)
            .order_by(TargetVersion.id)
        )
    )
    issued_id = participant.issued_version_id if participant else None
    issued = next((v for v in versions if v.id == issued_id), None)
    indicators = list(
        db.session.scalars(
            select(Indicator)
            .where(Indicator.cycle_id == cycle.id, or_(Indicator.unit_id == unit_id, Indicator.unit_id.is_(None)))
            .order_by(Indicator.unit_id.is_not(None), Indicator.sort_order, Indicator.id)
        )
    )
    return Targets(cycle, unit, participant, issued, versions, indicators)


# --------------------------------------------------------------------------- results and ledger


def results(user: User, cycle_id: int, *, group_id: int | None = None, unit_id: int | None = None) -> list[UnitResult]:
    """Current result rows (``is_current``) of the cycle's units in scope, by group and rank."""
    cycle = get_cycle(cycle_id)
    query = (
        select(UnitResult)
        .join(Unit, Unit.id == UnitResult.unit_id)
        .options(contains_eager(UnitResult.unit))
        .where(UnitResult.cycle_id == cycle.id, UnitResult.is_current.is_(True),
               unit_clause(user, UnitResult.unit_id))
    )
    if group_id:
        query = query.where(UnitResult.group_id == group_id)
    if unit_id:
        query = query.where(UnitResult.unit_id == unit_id)
    return list(db.session.scalars(query.order_by(UnitResult.group_id, UnitResult.rank, Unit.code)))


def ledger_page(
    user: User,
    cycle_id: int,
    *,
    unit_id: int | None = None,
    month: str = "",
    kind: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    cycle = get_cycle(cycle_id)
    where: list[ColumnElement[bool]] = [LedgerItem.cycle_id == cycle.id, unit_clause(user, LedgerItem.unit_id)]
    if unit_id:
        where.append(LedgerItem.unit_id == unit_id)
    if month:
        where.append(LedgerItem.month == month)
    if kind:
        where.append(LedgerItem.kind == kind)
    if status:
        where.append(LedgerItem.status == status)
    query = (
        select(LedgerItem)
        .join(Unit, Unit.id == LedgerItem.unit_id)
        .options(contains_eager(LedgerItem.unit))
        .where(*where)
        .order_by(LedgerItem.month.desc(), LedgerItem.id.desc())
    )
    return paged(query, select(func.count()).select_from(LedgerItem).where(*where), page, per_page)


# --------------------------------------------------------------------------- letters


def letter_clause(user: User) -> ColumnElement[bool]:
    """``letter_board.can_view_letter`` as a SQL condition on ``Letter``."""
    if user.is_admin:
        return true()
    return or_(
        Letter.party_a_id == user.id, Letter.party_b_id == user.id,
        Letter.unit_id.in_(_covered_units(user, VIEWER_ROLES)),
    )


def letters_page(
    user: User,
    *,
    cycle_id: int | None = None,
    unit_id: int | None = None,
    status: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    where: list[ColumnElement[bool]] = [letter_clause(user)]
    if cycle_id:
        where.append(Letter.cycle_id == cycle_id)
    if unit_id:
        where.append(Letter.unit_id == unit_id)
    if status:
        where.append(Letter.status == status)
    if kind:
        where.append(Letter.kind == kind)
    query = (
        select(Letter)
        .join(Unit, Unit.id == Letter.unit_id)
        .options(
            contains_eager(Letter.unit), joinedload(Letter.party_a), joinedload(Letter.party_b),
            joinedload(Letter.department), defer(Letter.body),
        )
        .where(*where)
        .order_by(Letter.id.desc())
    )
    return paged(query, select(func.count()).select_from(Letter).where(*where), page, per_page)
