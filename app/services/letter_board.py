"""Read side of letters: who may see what, 我的责任书, the signing board and the issued target list.

Every function issues a fixed number of queries (relationships eager-loaded), whatever the
number of letters, so a county's board with thousands of letters stays one grouped query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app import clock
from app.errors import NotFound
from app.extensions import db
from app.models import (
    Cycle,
    CycleUnit,
    Department,
    HumanTask,
    Letter,
    LetterSignature,
    RoleAssignment,
    TargetVersion,
    Unit,
    UnitClosure,
    User,
)
from app.services.letter_text import Target
from app.services.letters import common_targets, issued_targets

VIEWER_ROLES = ("office", "unit_head", "unit_officer")  # beside the two parties and admins
BOARD_ROLES = ("office", "unit_head", "unit_officer")


def today() -> dt.date:
    local = clock.to_local(clock.now())
    assert local is not None
    return local.date()


def _holds_in_scope(user: User, roles: tuple[str, ...], unit_id: int) -> bool:
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    RoleAssignment.user_id == user.id,
                    RoleAssignment.role.in_(roles),
                    UnitClosure.ancestor_id == RoleAssignment.unit_id,
                    UnitClosure.descendant_id == unit_id,
                )
            )
        )
    )


def can_view_letter(user: User, letter: Letter) -> bool:
    """The two parties, the unit's head and officer, the office (in scope) and admins."""
    if user.is_admin or user.id in (letter.party_a_id, letter.party_b_id):
        return True
    return _holds_in_scope(user, VIEWER_ROLES, letter.unit_id)


def can_view_board(user: User, unit_id: int) -> bool:
    return user.is_admin or _holds_in_scope(user, BOARD_ROLES, unit_id)


def can_view_targets(user: User, unit_id: int) -> bool:
    """Anyone holding a role whose scope covers the unit (its staff included) and admins."""
    if user.is_admin:
        return True
    roles = tuple(db.session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == user.id)))
    return bool(roles) and _holds_in_scope(user, roles, unit_id)


def sees_all_units(user: User) -> bool:
    return user.is_admin or any(a.role == "office" for a in user.roles)


def board_unit_ids(user: User, cycle: Cycle) -> list[int] | None:
    """Units of ``cycle`` whose board ``user`` may see; None means all (office, admin)."""
    if sees_all_units(user):
        return None
    return list(
        db.session.scalars(
            select(CycleUnit.unit_id)
            .join(UnitClosure, UnitClosure.descendant_id == CycleUnit.unit_id)
            .join(RoleAssignment, RoleAssignment.unit_id == UnitClosure.ancestor_id)
            .where(CycleUnit.cycle_id == cycle.id, RoleAssignment.user_id == user.id,
                   RoleAssignment.role.in_(BOARD_ROLES))
            .distinct()
        )
    )


# --------------------------------------------------------------------------- cycles and letters


def cycles() -> list[Cycle]:
    return list(db.session.scalars(select(Cycle).order_by(Cycle.year.desc())))


def cycle_or_latest(cycle_id: int | None) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id) if cycle_id else db.session.scalar(
        select(Cycle).order_by(Cycle.year.desc()).limit(1)
    )
    if cycle is None:
        raise NotFound("尚无考核年度")
    return cycle


def get_letter(letter_id: int) -> Letter:
    letter = db.session.scalar(
        select(Letter)
        .where(Letter.id == letter_id)
        .options(
            joinedload(Letter.party_a), joinedload(Letter.party_b), joinedload(Letter.unit),
            joinedload(Letter.department), selectinload(Letter.signatures).joinedload(LetterSignature.user),
        )
    )
    if letter is None:
        raise NotFound("责任书不存在")
    return letter


def is_overdue(letter: Letter, on: dt.date | None = None) -> bool:
    return letter.status == "pending" and letter.due_on is not None and letter.due_on < (on or today())


@dataclass
class MyLetter:
    letter: Letter
    my_party: str
    task_id: int | None  # my open signing task, if any
    signed_parties: set[str] = field(default_factory=set)


def my_letters(user: User) -> list[MyLetter]:
    """Letters where ``user`` is a party (newest cycle first), with their open signing task."""
    letters = db.session.scalars(
        select(Letter)
        .where(or_(Letter.party_a_id == user.id, Letter.party_b_id == user.id), Letter.status != "void")
        .options(joinedload(Letter.party_a), joinedload(Letter.party_b), joinedload(Letter.unit),
                 selectinload(Letter.signatures))
        .order_by(Letter.cycle_id.desc(), Letter.kind.desc(), Letter.id)
    ).all()
    case_ids = [x.case_id for x in letters if x.case_id]
    tasks: dict[int, int] = {}
    if case_ids:
        rows = db.session.execute(
            select(HumanTask.case_id, HumanTask.id).where(
                HumanTask.case_id.in_(case_ids), HumanTask.assignee_id == user.id, HumanTask.status == "open"
            )
        )
        tasks = {case_id: task_id for case_id, task_id in rows}
    return [
        MyLetter(x, "a" if x.party_a_id == user.id else "b", tasks.get(x.case_id or 0), {s.party for s in x.signatures})
        for x in letters
    ]


def open_task_for(letter: Letter, user: User) -> int | None:
    if letter.case_id is None:
        return None
    return db.session.scalar(
        select(HumanTask.id).where(
            HumanTask.case_id == letter.case_id, HumanTask.assignee_id == user.id, HumanTask.status == "open"
        )
    )


# --------------------------------------------------------------------------- the signing board


@dataclass
class BoardRow:
    letter: Letter
    signed_a: LetterSignature | None
    signed_b: LetterSignature | None
    overdue: bool


@dataclass
class UnitBoard:
    cycle: Cycle
    unit: Unit
    cycle_unit: CycleUnit | None
    rows: list[BoardRow]

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def signed(self) -> int:
        return sum(1 for r in self.rows if r.letter.status == "signed")

    @property
    def overdue(self) -> int:
        return sum(1 for r in self.rows if r.overdue)


def unit_board(cycle: Cycle, unit_id: int) -> UnitBoard:
    """Every current letter of the unit in ``cycle`` with who has and has not signed (3 queries)."""
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("单位不存在")
    cycle_unit = db.session.scalar(
        select(CycleUnit).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit_id)
    )
    query = select(Letter).where(Letter.cycle_id == cycle.id, Letter.unit_id == unit_id, Letter.status != "void")
    letters = db.session.scalars(
        query.options(joinedload(Letter.party_a), joinedload(Letter.party_b), joinedload(Letter.department),
                      selectinload(Letter.signatures))
        .order_by(Letter.department_id, Letter.kind.desc(), Letter.id)
    ).all()
    on = today()
    rows = []
    for letter in letters:
        by_party = {s.party: s for s in letter.signatures}
        rows.append(BoardRow(letter, by_party.get("a"), by_party.get("b"), is_overdue(letter, on)))
    return UnitBoard(cycle, unit, cycle_unit, rows)


@dataclass
class UnitCount:
    unit: Unit
    issued: bool
    total: int
    signed: int
    overdue: int


def overview(cycle: Cycle, unit_ids: list[int] | None = None) -> list[UnitCount]:
    """Per participating unit: letters signed / total / overdue — one grouped query."""
    on = today()
    overdue = and_(Letter.status == "pending", Letter.due_on.is_not(None), Letter.due_on < on)
    counts = (
        select(
            Letter.unit_id.label("unit_id"),
            func.count(Letter.id).label("total"),
            func.sum(case((Letter.status == "signed", 1), else_=0)).label("signed"),
            func.sum(case((overdue, 1), else_=0)).label("overdue"),
        )
        .where(Letter.cycle_id == cycle.id, Letter.status != "void")
        .group_by(Letter.unit_id)
        .subquery()
    )
    query = (
        select(Unit, CycleUnit.issued_version_id, counts.c.total, counts.c.signed, counts.c.overdue)
        .join(CycleUnit, CycleUnit.unit_id == Unit.id)
        .outerjoin(counts, counts.c.unit_id == Unit.id)
        .where(CycleUnit.cycle_id == cycle.id)
        .order_by(Unit.code)
    )
    if unit_ids is not None:
        query = query.where(Unit.id.in_(unit_ids))
    return [
        UnitCount(unit, issued is not None, int(total or 0), int(signed or 0), int(late or 0))
        for unit, issued, total, signed, late in db.session.execute(query).all()
    ]


# --------------------------------------------------------------------------- issued target list


@dataclass
class TargetList:
    cycle: Cycle
    unit: Unit
    cycle_unit: CycleUnit
    version: TargetVersion
    targets: list[Target]
    common: list[Target]
    departments: dict[int, str]


def issued_target_list(cycle: Cycle, unit_id: int) -> TargetList:
    cycle_unit = db.session.scalar(
        select(CycleUnit).where(CycleUnit.cycle_id == cycle.id, CycleUnit.unit_id == unit_id)
        .options(joinedload(CycleUnit.unit))
    )
    if cycle_unit is None:
        raise NotFound("该单位未参加本年度考核")
    if cycle_unit.issued_version_id is None:
        raise NotFound(f"{cycle_unit.unit.name} 的目标尚未下达")
    version = db.session.get(TargetVersion, cycle_unit.issued_version_id)
    assert version is not None
    rows = db.session.execute(select(Department.id, Department.name).where(Department.unit_id == unit_id))
    departments = {dept_id: name for dept_id, name in rows}
    return TargetList(cycle, cycle_unit.unit, cycle_unit, version, issued_targets(version), common_targets(cycle.id),
                      departments)

