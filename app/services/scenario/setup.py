"""Creates the organisation a scenario implies: groups, a region with its units and departments,
and one user per role (region-wide roles, and per unit its officer, head and department heads).

Set-based: a handful of statements per kind of row whatever the county's size. Every generated
account shares one password (hashed once; README documents it) so a demo year can be browsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import insert, select

from app import clock
from app.errors import Conflict
from app.extensions import db
from app.models import Department, Group, RoleAssignment, Unit, UnitClosure, User
from app.services import auth
from app.services.scenario.spec import Scenario

PASSWORD = "Demo#2025pass"
REGION_ROLES = ("office", "committee", "auditor", "assessor", "monitor", "inspector", "supervisor")
REGION_ROLE_NAMES = {
    "office": "绩效办", "committee": "考核委员会", "auditor": "审核组", "assessor": "考核组",
    "monitor": "监督组", "inspector": "督查室", "supervisor": "主管部门",
}
DEPARTMENT_NAMES = ("综合办公室", "业务一科", "业务二科", "政策法规科", "财务科", "人事科", "督查科", "信息科")


@dataclass
class UnitPeople:
    unit: Unit
    officer: User
    head: User
    departments: list[Department]
    dept_heads: list[User]
    cadre: User | None = None


@dataclass
class County:
    region: Unit
    groups: dict[str, Group]
    people: dict[str, UnitPeople] = field(default_factory=dict)  # by unit code
    region_users: dict[str, User] = field(default_factory=dict)  # by role


def _region_name(title: str) -> str:
    match = re.match(r"^(\D+?)(\d{4}|$)", title)
    return (match.group(1) if match else title)[:100] or "示范县"


def build(scenario: Scenario) -> County:
    if db.session.scalar(select(Unit.id).where(Unit.code.in_([u.code for u in scenario.units])).limit(1)):
        raise Conflict("场景中的单位编码已存在于数据库中，请在空库或不冲突的编码上运行")
    now = clock.now()
    password_hash = auth.hash_password(PASSWORD)
    prefix = f"s{scenario.year}"

    wanted = [code for code, _ in scenario.groups]
    groups = {g.code: g for g in db.session.scalars(select(Group).where(Group.code.in_(wanted)))}
    for code, name in scenario.groups:
        if code not in groups:
            groups[code] = Group(code=code, name=name)
            db.session.add(groups[code])
    region = Unit(code=f"R{scenario.year}-{len(scenario.units)}", name=_region_name(scenario.title), kind="region",
                  created_at=now)
    db.session.add(region)
    db.session.flush()
    units = [
        Unit(code=u.code, name=u.name, kind="township" if u.code.upper().startswith("T") else "department",
             parent_id=region.id, group_id=groups[u.group].id, staff_count=u.staff, created_at=now)
        for u in scenario.units
    ]
    db.session.add_all(units)
    db.session.flush()
    closure = [{"ancestor_id": region.id, "descendant_id": region.id, "depth": 0}]
    for unit in units:
        closure.append({"ancestor_id": unit.id, "descendant_id": unit.id, "depth": 0})
        closure.append({"ancestor_id": region.id, "descendant_id": unit.id, "depth": 1})
    db.session.execute(insert(UnitClosure), closure)

    departments: dict[str, list[Department]] = {}
    for spec, unit in zip(scenario.units, units, strict=True):
        departments[spec.code] = [
            Department(unit_id=unit.id, code=f"K{i + 1}", name=DEPARTMENT_NAMES[i % len(DEPARTMENT_NAMES)]
                       + (f"{i // len(DEPARTMENT_NAMES) + 1}" if i >= len(DEPARTMENT_NAMES) else ""))
            for i in range(spec.departments)
        ]
        db.session.add_all(departments[spec.code])
    db.session.flush()

    def user(username: str, name: str, unit: Unit, department: Department | None = None) -> User:
        return User(username=username, display_name=name, password_hash=password_hash, unit_id=unit.id,
                    department_id=department.id if department else None, created_at=now, password_changed_at=now)

    county = County(region=region, groups=groups)
    roles: list[tuple[User, str, Unit]] = []
    for role in REGION_ROLES:
        account = user(f"{prefix}.{role}", f"{region.name}{REGION_ROLE_NAMES[role]}", region)
        county.region_users[role] = account
        roles.append((account, role, region))
    cadre_units = {a.unit for a in scenario.appeals if a.by == "cadre"}
    for spec, unit in zip(scenario.units, units, strict=True):
        login = spec.code.lower()
        people = UnitPeople(
            unit=unit,
            officer=user(f"{login}.officer", f"{unit.name}绩效员", unit),
            head=user(f"{login}.head", f"{unit.name}主要负责人", unit),
            departments=departments[spec.code],
            dept_heads=[user(f"{login}.k{i + 1}", f"{unit.name}{d.name}负责人", unit, d)
                        for i, d in enumerate(departments[spec.code])],
        )
        roles += [(people.officer, "unit_officer", unit), (people.head, "unit_head", unit)]
        roles += [(head, "dept_head", unit) for head in people.dept_heads]
        if spec.code in cadre_units:
            people.cadre = user(f"{login}.cadre", f"{unit.name}干部", unit)
            roles.append((people.cadre, "staff", unit))
        county.people[spec.code] = people
    db.session.add_all([account for account, _, _ in roles])
    db.session.flush()
    db.session.execute(
        insert(RoleAssignment),
        [{"user_id": a.id, "role": role, "unit_id": scope.id, "created_at": now} for a, role, scope in roles],
    )
    return county
