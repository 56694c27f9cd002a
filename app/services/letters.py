"""Responsibility and commitment letters (responsibility_letter.bpmn): generation, voiding, digests.

Signing (the step handler) and verification live in ``app.services.letter_signing``.

Issuing a unit's targets (下达) calls ``generate_for_unit``: one 目标责任书 between the unit head and
each department head, listing the department's targets, and one 承诺书 between each department head
and each of their staff (``parent_letter_id`` = the department's 责任书). Each letter is one case of
process ``responsibility_letter`` (small locks); both parties sign in their inbox, in parallel, each
task routed to the exact person (``assignee`` = ``party_a`` / ``party_b``).

Data contract of form key ``letter.sign`` (web form, API, scenario runner):
    {"agree": true, "comment": "optional text"}
``agree`` must be true. The signature stores who, when, the party and the SHA-256 of the letter
body at signing time, which must equal ``Letter.sha256``; once both parties signed the letter is
``signed`` and can never change (service checks here, and a DB trigger).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select, update

from app import clock
from app.errors import Conflict, DomainError
from app.extensions import db
from app.models import (
    Case,
    Cycle,
    CycleUnit,
    Department,
    HumanTask,
    Indicator,
    Letter,
    RoleAssignment,
    TargetVersion,
    Unit,
    UnitClosure,
    User,
)
from app.services import cases
from app.services.case_start import CaseStart, start_cases
from app.services.letter_text import LetterSpec, Party, Target, digest, render, title_of

PROCESS_KEY = "responsibility_letter"
FORM_KEY = "letter.sign"
# BPMN user task → the party who signs there
STEP_PARTY = {
    "sign_a_responsibility": "a",
    "sign_b_responsibility": "b",
    "sign_a_commitment": "a",
    "sign_b_commitment": "b",
}
PARTY_LABELS = {"a": "甲方", "b": "乙方"}
STATUS_LABELS = {"pending": "待签署", "signed": "已签署", "void": "已作废"}


# --------------------------------------------------------------------------- generation


@dataclass
class _People:
    unit_heads: list[User] = field(default_factory=list)
    dept_heads: dict[int, list[User]] = field(default_factory=dict)
    staff: dict[int, list[User]] = field(default_factory=dict)


def _people(unit: Unit, department_ids: set[int]) -> _People:
    """Unit heads (assigned at the unit itself), department heads and staff, in one query."""
    rows = db.session.execute(
        select(RoleAssignment.role, RoleAssignment.unit_id, User)
        .join(User, User.id == RoleAssignment.user_id)
        .where(
            # the unit's ancestors first, then (role, unit) index probes: a join on the closure let
            # the planner scan every assignment of the role in the county
            RoleAssignment.unit_id.in_(select(UnitClosure.ancestor_id).where(UnitClosure.descendant_id == unit.id)),
            RoleAssignment.role.in_(("unit_head", "dept_head", "staff")),
            User.active.is_(True),
        )
        .order_by(User.id)
    ).all()
    people = _People()
    seen: set[tuple[str, int]] = set()
    for role, scope_id, user in rows:
        if role == "unit_head" and scope_id != unit.id:
            continue  # a head of a unit above: not a party of this unit's letters (whatever the row order)
        if (role, user.id) in seen:
            continue
        seen.add((role, user.id))
        if role == "unit_head":
            people.unit_heads.append(user)
        elif user.department_id in department_ids:
            bucket = people.dept_heads if role == "dept_head" else people.staff
            bucket.setdefault(user.department_id, []).append(user)
    return people


def issued_targets(version: TargetVersion) -> list[Target]:
    """The unit's issued individual targets: its Indicator rows of ``version`` (else the version's items)."""
    rows = db.session.scalars(
        select(Indicator).where(
            Indicator.version_id == version.id, Indicator.unit_id == version.unit_id, Indicator.part == "individual"
        )
    ).all()
    if rows:
        return sorted((Target.of_indicator(r) for r in rows), key=lambda t: t.sort_key)
    return [Target.of_item(item, i) for i, item in enumerate(version.items or []) if isinstance(item, dict)]


def common_targets(cycle_id: int) -> list[Target]:
    rows = db.session.scalars(
        select(Indicator).where(Indicator.cycle_id == cycle_id, Indicator.unit_id.is_(None), Indicator.part == "common")
    ).all()
    return sorted((Target.of_indicator(r) for r in rows), key=lambda t: t.sort_key)


def _due_at(day: dt.date) -> dt.datetime:
    """The end of ``day`` in China time, as naive UTC."""
    local = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=clock.CST)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def generate_for_unit(cycle_unit: CycleUnit, version: TargetVersion, actor: User) -> list[Letter]:
    """Generate (idempotently) every letter of ``cycle_unit`` from its issued ``version``.

    Returns all letters of that version, 责任书 first. Letters already generated for the version
    are kept (a staff member added since gets theirs); pending letters of an older version are
    voided and their cases cancelled. Raises DomainError, before writing anything, when the unit
    has no unit head, a department with targets or members has no department head, or a target
    names no department of the unit.
    """
    if version.unit_id != cycle_unit.unit_id or version.cycle_id != cycle_unit.cycle_id:
        raise DomainError("目标版本不属于该单位的本年度考核")
    if cycle_unit.issued_version_id not in (None, version.id):
        raise Conflict("该单位已下达的是另一版目标，不能按此版本生成责任书")
    cycle = db.session.get(Cycle, cycle_unit.cycle_id)
    unit = db.session.get(Unit, cycle_unit.unit_id)
    assert cycle is not None and unit is not None
    departments = {
        d.id: d
        for d in db.session.scalars(select(Department).where(Department.unit_id == unit.id).order_by(Department.id))
    }
    targets = issued_targets(version)
    stray = [t.name for t in targets if t.department_id not in departments]
    if stray:
        raise DomainError(f"以下目标未指定本单位的责任科室，无法生成责任书：{'、'.join(stray)}")
    people = _people(unit, set(departments))
    if not people.unit_heads:
        raise DomainError(f"{unit.name} 没有单位主要负责人（unit_head），无法生成目标责任书")
    by_department: dict[int, list[Target]] = {}
    for target in targets:
        by_department.setdefault(target.department_id or 0, []).append(target)
    covered = [d for d in departments.values() if d.id in by_department or d.id in people.dept_heads
               or d.id in people.staff]
    headless = [d.name for d in covered if not people.dept_heads.get(d.id)]
    if headless:
        raise DomainError(f"以下科室没有科室负责人（dept_head），无法生成责任书：{'、'.join(headless)}")

    existing = list(
        db.session.scalars(
            select(Letter).where(Letter.cycle_id == cycle.id, Letter.unit_id == unit.id, Letter.status != "void")
        )
    )
    _void_superseded([x for x in existing if x.version_id != version.id], actor)
    kept = {(x.kind, x.department_id, x.party_a_id, x.party_b_id): x for x in existing if x.version_id == version.id}

    head = people.unit_heads[0]
    common = tuple(common_targets(cycle.id))
    now = clock.now()
    created: list[Letter] = []

    def make(kind: str, dept: Department, a: User, b: User, post_a: str, post_b: str, parent: Letter | None) -> Letter:
        key = (kind, dept.id, a.id, b.id)
        if key in kept:
            return kept[key]
        spec = LetterSpec(
            kind=kind,
            unit_name=unit.name,
            department_name=dept.name,
            year=cycle.year,
            cycle_title=cycle.title,
            version_number=version.number,
            version_sha256=version.sha256,
            party_a=Party(a.display_name, post_a),
            party_b=Party(b.display_name, post_b),
            targets=tuple(by_department.get(dept.id, [])),
            common=common if kind == "responsibility" else (),
        )
        body = render(spec)
        letter = Letter(
            cycle_id=cycle.id, unit_id=unit.id, kind=kind, department_id=dept.id, version_id=version.id,
            parent_letter_id=parent.id if parent else None, party_a_id=a.id, party_b_id=b.id,
            title=title_of(spec), body=body, sha256=digest(body), status="pending", due_on=cycle.letters_due_on,
            created_at=now,
        )
        created.append(letter)
        return letter

    responsibility: dict[int, Letter | None] = {}
    for dept in covered:
        dept_head = people.dept_heads[dept.id][0]
        if dept_head.id == head.id:  # the unit head runs this department: nobody to sign with
            responsibility[dept.id] = None
            continue
        responsibility[dept.id] = make("responsibility", dept, head, dept_head, f"{unit.name} 单位主要负责人",
                                       f"{unit.name}{dept.name} 科室负责人", None)
    db.session.add_all(created)
    db.session.flush()  # 责任书 ids, for the 承诺书 parents (one batched INSERT)
    first_batch = len(created)
    for dept in covered:
        dept_head = people.dept_heads[dept.id][0]
        for member in people.staff.get(dept.id, []):
            if member.id == dept_head.id:
                continue
            make("commitment", dept, dept_head, member, f"{unit.name}{dept.name} 科室负责人",
                 f"{unit.name}{dept.name} 工作人员", responsibility[dept.id])
    db.session.add_all(created[first_batch:])
    db.session.flush()
    _start_cases(created, cycle, unit, actor)
    return list(
        db.session.scalars(
            select(Letter)
            .where(Letter.cycle_id == cycle.id, Letter.unit_id == unit.id, Letter.version_id == version.id,
                   Letter.status != "void")
            .order_by(Letter.kind.desc(), Letter.department_id, Letter.id)
        )
    )


def _start_cases(letters: list[Letter], cycle: Cycle, unit: Unit, actor: User) -> None:
    """One case per letter; then the letters' case ids and the tasks' due dates in two statements."""
    if not letters:
        return
    starts = [
        CaseStart(
            unit_id=unit.id,
            title=letter.title,
            cycle_id=cycle.id,
            subject=("letter", letter.id),
            data={"letter_id": letter.id, "kind": letter.kind, "party_a": letter.party_a_id,
                  "party_b": letter.party_b_id},
        )
        for letter in letters
    ]
    case_ids = start_cases(PROCESS_KEY, starts, started_by=actor)
    links = [{"id": letter.id, "case_id": case_id} for letter, case_id in zip(letters, case_ids, strict=True)]
    db.session.execute(update(Letter), links)
    if cycle.letters_due_on:
        db.session.execute(
            update(HumanTask)
            .where(HumanTask.case_id.in_([link["case_id"] for link in links]), HumanTask.status == "open")
            .values(due_at=_due_at(cycle.letters_due_on))
        )
    for letter, link in zip(letters, links, strict=True):
        letter.case_id = link["case_id"]
    db.session.flush()


def _void_superseded(letters: list[Letter], actor: User) -> None:
    for letter in letters:
        if letter.status == "pending":
            void_letter(letter, actor, "目标重新下达，原责任书作废")


def void_letter(letter: Letter, actor: User, reason: str) -> None:
    """Void a pending letter (and cancel its case). A signed letter can never change."""
    ensure_mutable(letter)
    if letter.case_id is not None:
        case = db.session.get(Case, letter.case_id)
        if case is not None and case.status == "running":
            cases.cancel_case(case.id, actor, reason)
    letter.status = "void"
    db.session.flush()


def ensure_mutable(letter: Letter) -> None:
    if letter.status == "signed":
        raise Conflict("该责任书已由双方签署，内容不得更改")
    if letter.status == "void":
        raise Conflict("该责任书已作废")
