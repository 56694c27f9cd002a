"""Builders for test data: a small county with one user per role, a cycle with indicators."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from app.extensions import db
from app.models import Cycle, CycleUnit, Indicator, Unit, User
from app.services import cases, org

PASSWORD = "Test#2025pass"


@dataclass
class County:
    region: Unit
    bureau: Unit
    school: Unit
    other: Unit
    cycle: Cycle
    users: dict[str, User] = field(default_factory=dict)


def build_county() -> County:
    """县 → 教育局 → 县一中, and 县财政局 as an unrelated unit.

    Region-wide roles: office, committee, auditor, assessor, monitor. 教育局 supervises 县一中.
    县一中 has an officer and a head; 县财政局 has its own officer (the "other unit" user).
    """
    g1 = org.create_group("D1", "教育类")
    g2 = org.create_group("D2", "经济类")
    region = org.create_unit("R", "示范县", kind="region")
    bureau = org.create_unit("EDU", "县教育局", kind="department", parent=region, group=g2, staff_count=40)
    school = org.create_unit("SCH1", "县第一中学", kind="institution", parent=bureau, group=g1, staff_count=120)
    other = org.create_unit("FIN", "县财政局", kind="department", parent=region, group=g2, staff_count=35)
    users: dict[str, User] = {}

    def person(username: str, name: str, unit: Unit, *roles: tuple[str, Unit]) -> User:
        user = org.create_user(username, name, PASSWORD, unit=unit)
        for role, scope in roles:
            org.assign_role(user, role, scope)
        users[username] = user
        return user

    person("office", "绩效办王主任", region, ("office", region))
    person("committee", "考核委员会李委员", region, ("committee", region))
    person("auditor", "审核组赵组长", region, ("auditor", region))
    person("assessor", "考核组钱组长", region, ("assessor", region))
    person("monitor", "监督组孙组长", region, ("monitor", region))
    person("supervisor", "教育局周科长", bureau, ("supervisor", bureau))
    person("officer", "一中绩效员吴老师", school, ("unit_officer", school))
    person("head", "一中郑校长", school, ("unit_head", school))
    person("other_officer", "财政局绩效员冯", other, ("unit_officer", other))
    person("other_supervisor", "财政主管陈", other, ("supervisor", other))
    admin = org.create_user("admin", "系统管理员", PASSWORD, unit=region, is_admin=True)
    users["admin"] = admin

    cycle = Cycle(year=2025, title="示范县2025年度绩效考核", settings={"publicity_days": 5})
    db.session.add(cycle)
    db.session.flush()
    for unit, group in ((school, g1), (other, g2)):
        db.session.add(CycleUnit(cycle_id=cycle.id, unit_id=unit.id, group_id=group.id, tier="I"))
    db.session.add_all(
        [
            Indicator(
                cycle_id=cycle.id,
                unit_id=None,
                part="common",
                code="C1",
                name="党风廉政建设",
                points=Decimal("15"),
                sort_order=1,
            ),
            Indicator(
                cycle_id=cycle.id,
                unit_id=None,
                part="common",
                code="C2",
                name="依法行政",
                points=Decimal("15"),
                sort_order=2,
            ),
            Indicator(
                cycle_id=cycle.id,
                unit_id=school.id,
                part="individual",
                code="S1",
                name="高考本科上线率",
                points=Decimal("50"),
                target_value="85",
                measure_unit="%",
                sort_order=1,
            ),
            Indicator(
                cycle_id=cycle.id,
                unit_id=other.id,
                part="individual",
                code="F1",
                name="财政收入增长",
                points=Decimal("50"),
                sort_order=1,
            ),
        ]
    )
    db.session.flush()
    return County(region, bureau, school, other, cycle, users)


def start_assessment(county: County, unit: Unit | None = None) -> int:
    unit = unit or county.school
    case = cases.start_case(
        "assessment",
        unit_id=unit.id,
        title=f"{unit.name} {county.cycle.year} 年度考核",
        started_by=county.users["office"],
        cycle_id=county.cycle.id,
        data={"publicity_days": county.cycle.setting("publicity_days")},
        subject=("cycle_unit", unit.id),
    )
    db.session.commit()
    return case.id
