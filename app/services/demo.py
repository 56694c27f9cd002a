"""Demo data: a small county with one account per role and a year-end cycle left mid-way.

Every step is taken through the real workflow services, so each role's inbox holds real work.
Idempotent: does nothing when the demo region already exists.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Case, Cycle, CycleUnit, HumanTask, Indicator, Unit, User
from app.services import assessment, cases, org, steps

DEMO_PASSWORD = "Demo#2025pass"

GROUPS = [("T1", "一类乡镇"), ("D1", "县直部门(经济类)"), ("E1", "教育卫生类")]
# code, name, kind, group, staff, parent code (None = region)
UNITS = [
    ("T1-01", "城关镇", "township", "T1", 48, None),
    ("T1-02", "石桥镇", "township", "T1", 31, None),
    ("T1-03", "龙泉镇", "township", "T1", 27, None),
    ("D1-01", "县发展和改革局", "department", "D1", 35, None),
    ("D1-02", "县财政局", "department", "D1", 40, None),
    ("D1-03", "县商务局", "department", "D1", 18, None),
    ("E1-00", "县教育局", "department", "E1", 30, None),
    ("E1-01", "县第一中学", "institution", "E1", 120, "E1-00"),
]
COMMON = [("C1", "党风廉政建设", "10"), ("C2", "依法行政", "10"), ("C3", "作风效能建设", "10")]
REGION_ROLES = [
    ("office", "绩效办 王主任"),
    ("committee", "考核委员会 李委员"),
    ("auditor", "审核组 赵组长"),
    ("assessor", "考核组 钱组长"),
    ("monitor", "监督组 孙组长"),
    ("inspector", "督查室 周主任"),
]


def _user(username: str, name: str, unit: Unit, roles: list[tuple[str, Unit]], **kw: Any) -> User:
    user = org.create_user(username, name, DEMO_PASSWORD, unit=unit, **kw)
    for role, scope in roles:
        org.assign_role(user, role, scope)
    return user


def seed() -> bool:
    if db.session.scalar(select(Unit.id).where(Unit.code == "DEMO")):
        return False
    region = org.create_unit("DEMO", "示范县", kind="region")
    groups = {code: org.create_group(code, name) for code, name in GROUPS}
    units: dict[str, Unit] = {}
    for code, name, kind, group, staff, parent in UNITS:
        units[code] = org.create_unit(
            code, name, kind=kind, parent=units[parent] if parent else region, group=groups[group], staff_count=staff
        )
        for i, dept in enumerate(("综合办公室", "业务科", "督查科")[: 2 if staff < 40 else 3], start=1):
            org.add_department(units[code], f"K{i}", dept)

    _user("admin", "系统管理员", region, [], is_admin=True)
    people = {role: _user(role, name, region, [(role, region)]) for role, name in REGION_ROLES}
    # supervisors: 县委督查室 supervises the townships and economic departments; 教育局 its school
    sup = _user(
        "supervisor",
        "县委督查室 吴科长",
        region,
        [
            (role_unit, units[c])
            for role_unit, c in (
                ("supervisor", "T1-01"),
                ("supervisor", "T1-02"),
                ("supervisor", "T1-03"),
                ("supervisor", "D1-01"),
                ("supervisor", "D1-02"),
                ("supervisor", "D1-03"),
                ("supervisor", "E1-00"),
            )
        ],
    )
    _user("edu_supervisor", "县教育局 郑科长", units["E1-00"], [("supervisor", units["E1-00"])])
    officers, heads = {}, {}
    for code, unit in units.items():
        slug = code.lower().replace("-", "")
        officers[code] = _user(f"{slug}_officer", f"{unit.name} 绩效员", unit, [("unit_officer", unit)])
        heads[code] = _user(f"{slug}_head", f"{unit.name} 主要负责人", unit, [("unit_head", unit)])
    depts = units["T1-01"].departments
    _user(
        "t101_dept",
        f"城关镇 {depts[0].name}负责人",
        units["T1-01"],
        [("dept_head", units["T1-01"])],
        department=depts[0],
    )
    _user("t101_staff", "城关镇 工作人员", units["T1-01"], [("staff", units["T1-01"])], department=depts[0])

    cycle = Cycle(year=2025, title="示范县2025年度绩效考核", settings={"publicity_days": 5})
    db.session.add(cycle)
    db.session.flush()
    for order, (code, name, points) in enumerate(COMMON, start=1):
        db.session.add(
            Indicator(cycle_id=cycle.id, part="common", code=code, name=name, points=Decimal(points), sort_order=order)
        )
    for code, unit in units.items():
        db.session.add(CycleUnit(cycle_id=cycle.id, unit_id=unit.id, group_id=unit.group_id or 0, tier="I"))
        for order, (name, target, points) in enumerate(
            (("重点项目推进", "12", "30"), ("群众满意度提升", "90", "20")), start=1
        ):
            db.session.add(
                Indicator(
                    cycle_id=cycle.id,
                    unit_id=unit.id,
                    part="individual",
                    code=f"{code}-G{order}",
                    name=f"{unit.name}{name}",
                    points=Decimal(points),
                    target_value=target,
                    measure_unit="项" if order == 1 else "%",
                    sort_order=order,
                )
            )
    db.session.flush()
    _advance_cases(cycle, units, people, sup, officers, heads)
    from app.services import demo_next

    demo_next.seed_next_year(cycle)
    return True


def _do(case: Case, user: User, data: dict[str, Any]) -> None:
    task = db.session.scalar(select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open"))
    assert task is not None
    steps.submit(task, user, data)


def _advance_cases(
    cycle: Cycle,
    units: dict[str, Unit],
    people: dict[str, User],
    sup: User,
    officers: dict[str, User],
    heads: dict[str, User],
) -> None:
    """Start one assessment per unit and leave each at a different step."""
    stop_after = {"T1-01": 1, "T1-02": 2, "T1-03": 2, "D1-01": 3, "D1-02": 4, "D1-03": 5, "E1-00": 6, "E1-01": 7}
    for code, unit in units.items():
        case = cases.start_case(
            "assessment",
            unit_id=unit.id,
            title=f"{unit.name} 2025年度绩效考核",
            started_by=people["office"],
            cycle_id=cycle.id,
            data={"publicity_days": 5},
            subject=("cycle_unit", unit.id),
        )
        entries = {
            "entries": [
                {"indicator_id": i.id, "completion": "96", "narrative": f"{i.name}：已按计划完成。"}
                for i in assessment.indicators_for(case)
            ]
        }
        scores = {
            "scores": [
                {"indicator_id": i.id, "points": str((i.points * Decimal("0.9")).quantize(Decimal("0.01")))}
                for i in assessment.indicators_for(case)
            ]
        }
        reviewer = sup
        plan: list[tuple[User, dict[str, Any]]] = [
            (officers[code], entries),
            (reviewer, {"decision": "approve"}),
            (people["auditor"], {"decision": "approve"}),
            (people["assessor"], scores),
            (people["monitor"], {"flagged": False}),
            (people["committee"], {"decision": "approve"}),
        ]
        if code == "T1-02":  # one return so the history shows the loop
            plan = [(officers[code], entries), (reviewer, {"decision": "return", "reason": "佐证材料不完整，请补充。"})]
        for user, data in plan[: stop_after[code]]:
            _do(case, user, data)
        if code == "E1-01":
            assessment.file_appeal(
                case.id, user=heads[code], kind="unit", reason="第三季度督查扣分所涉事项已于当月整改到位，申请复核。"
            )
