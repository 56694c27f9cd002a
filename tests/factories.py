"""Builders for test data: a small county with one user per role, a cycle with indicators."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Cycle, CycleUnit, Department, Indicator, TargetVersion, Unit, User
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


# --------------------------------------------------------------------------- issued targets (letters)

ISSUED_TARGETS = [
    # (department index, code, name, value, unit, points, rule, deadline)
    (0, "T1", "高考本科上线率", "85", "%", "20", "每低于目标1个百分点扣1分", "2025-07-31"),
    (0, "T2", "学生体质健康达标率", "95", "%", "15", "每低于目标1个百分点扣0.5分", "2025-11-30"),
    (1, "T3", "校园安全事故零发生", "0", "起", "15", "发生一起责任事故扣5分", "2025-12-31"),
]


@dataclass
class IssuedUnit:
    """A unit (县第一中学) whose targets were issued (下达): departments, heads, staff and the version."""

    county: County
    cycle_unit: CycleUnit
    version: TargetVersion
    head: User
    departments: list[Department] = field(default_factory=list)
    dept_heads: list[User] = field(default_factory=list)
    staff: dict[int, list[User]] = field(default_factory=dict)  # by department id

    @property
    def all_staff(self) -> list[User]:
        return [u for members in self.staff.values() for u in members]


def build_issued_unit(
    staff_per_department: int = 2, departments: int = 2, county: County | None = None, unit: Unit | None = None
) -> IssuedUnit:
    """The county plus, at 县第一中学 (or ``unit``, which then gets its own head and cycle entry):
    ``departments`` 科室 each with a 科室负责人 and ``staff_per_department`` 工作人员, and an issued
    TargetVersion with one Indicator row per target (part individual, department_id = 责任科室).
    The first two departments get the three targets of ISSUED_TARGETS, every further one one target.
    Usernames: dh<d>, st<d>_<n> (prefixed with the unit code in lower case and "_" for ``unit``)."""
    import datetime as dt
    import hashlib
    import json

    from app import clock

    county = county or build_county()
    school = unit or county.school
    office = county.users["office"]
    prefix = f"{school.code.lower()}_" if unit else ""
    if unit is not None:
        unit_head = org.create_user(f"{prefix}head", f"{unit.name}负责人", PASSWORD, unit=unit)
        org.assign_role(unit_head, "unit_head", unit)
        county.users[f"{prefix}head"] = unit_head
        if not db.session.scalar(select(CycleUnit.id).where(CycleUnit.cycle_id == county.cycle.id,
                                                            CycleUnit.unit_id == unit.id)):
            group_id = unit.group_id or county.school.group_id
            db.session.add(CycleUnit(cycle_id=county.cycle.id, unit_id=unit.id, group_id=group_id, tier="I"))
    names = ["教务处", "德育处", "总务处", "教研室", "办公室", "信息中心", "后勤处", "团委"]
    built_departments = []
    dept_heads = []
    staff: dict[int, list[User]] = {}
    for index in range(departments):
        name = names[index] if index < len(names) else f"第{index + 1}科室"
        dept = org.add_department(school, f"D{index + 1}", name)
        built_departments.append(dept)
        head = org.create_user(
            f"{prefix}dh{index + 1}", f"{name}负责人{index + 1}", PASSWORD, unit=school, department=dept
        )
        org.assign_role(head, "dept_head", school)
        dept_heads.append(head)
        county.users[f"{prefix}dh{index + 1}"] = head
        members = []
        for number in range(staff_per_department):
            username = f"{prefix}st{index + 1}_{number + 1}"
            member = org.create_user(username, f"{name}干部{number + 1}", PASSWORD, unit=school, department=dept)
            org.assign_role(member, "staff", school)
            county.users[username] = member
            members.append(member)
        staff[dept.id] = members
    specs = [spec for spec in ISSUED_TARGETS if spec[0] < departments]
    specs += [(i, f"T{i + 10}", f"{names[i % len(names)]}年度重点工作", "100", "%", "5", "未完成不得分", "2025-12-31")
              for i in range(2, departments)]
    items = [
        {"code": code, "name": name, "target_value": value, "measure_unit": measure, "points": points,
         "scoring_rule": rule, "lead_name": "郑校长", "department_id": built_departments[d].id,
         "responsible_name": dept_heads[d].display_name, "deadline": deadline}
        for d, code, name, value, measure, points, rule, deadline in specs
    ]
    holder = cases.start_case(
        "assessment", unit_id=school.id, title=f"{school.name} 目标下达（测试）", started_by=office,
        cycle_id=county.cycle.id, data={"publicity_days": 5},
    )
    version = TargetVersion(
        case_id=holder.id, cycle_id=county.cycle.id, unit_id=school.id, number=6, stage="down3", items=items,
        tier="II", note="三下：审定下达",
        sha256=hashlib.sha256(json.dumps(items, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
        created_by_id=office.id,
    )
    db.session.add(version)
    db.session.flush()
    now = clock.now()
    for order, item in enumerate(items, start=1):
        db.session.add(Indicator(
            cycle_id=county.cycle.id, unit_id=school.id, part="individual", code=item["code"], name=item["name"],
            points=Decimal(item["points"]), target_value=item["target_value"], measure_unit=item["measure_unit"],
            scoring_rule=item["scoring_rule"], lead_name=item["lead_name"], department_id=item["department_id"],
            responsible_name=item["responsible_name"], deadline=dt.date.fromisoformat(item["deadline"]),
            sort_order=order, version_id=version.id, issued_at=now,
        ))
    cycle_unit = db.session.scalars(
        select(CycleUnit).where(CycleUnit.cycle_id == county.cycle.id, CycleUnit.unit_id == school.id)
    ).one()
    cycle_unit.issued_version_id = version.id
    cycle_unit.issued_at = now
    cycle_unit.tier = "II"
    db.session.flush()
    head = county.users[f"{prefix}head"]
    return IssuedUnit(county, cycle_unit, version, head, built_departments, dept_heads, staff)


# --------------------------------------------------------------------------- 三上三下 negotiation (cycles, catalogue)


@dataclass
class NegotiationCounty:
    """A county whose cycle was opened through the services, ready for target negotiation.

    - ``cycle``: the current year (``clock.now().year``), 1 Jan – 31 Dec, default settings (weights
      30/50/20), participants 县第一中学 (group D1) and 县财政局 (group D2); common catalogue C1 15 +
      C2 15 issued; the social part S (20) issued. No individual indicators yet (negotiation issues them).
    - ``departments[unit.code]``: SCH1 → 教务处/德育处/总务处 (codes D1–D3), FIN → 预算科/国库科 (F1–F2).
    - ``users``: office, committee, supervisor (县教育局, covers 县第一中学), officer + head (县第一中学),
      other_officer + other_head + other_supervisor (县财政局), admin; per department a 科室负责人
      ``<unit>_dh<n>`` (dept_head at the unit, department set) and ``staff_per_department`` 工作人员
      ``<unit>_staff<n>_<k>`` (staff role), e.g. sch_dh1, sch_staff1_1, fin_dh2. Password ``PASSWORD``.
    """

    region: Unit
    bureau: Unit
    school: Unit
    other: Unit
    cycle: Cycle
    departments: dict[str, list[Department]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def items(self, unit: Unit | None = None, points: tuple[str, ...] = ("20", "15", "15")) -> list[dict]:
        """A valid 个性指标 set for ``unit`` (default 县第一中学): one item per entry of ``points``
        (which must add up to weights.individual = 50), departments round-robin, deadlines in the cycle."""
        unit = unit or self.school
        depts = self.departments[unit.code]
        names = ["重点工作完成率", "群众满意度", "安全生产零事故", "项目推进数", "制度建设"]
        return [
            {
                "code": "",
                "name": f"{unit.name}{names[i % len(names)]}",
                "target_value": str(90 + i),
                "measure_unit": "%",
                "points": value,
                "scoring_rule": "每低于目标 1 个百分点扣 1 分，超额完成每 1 个百分点加 0.5 分",
                "lead_name": "分管副职",
                "department_id": depts[i % len(depts)].id,
                "responsible_name": f"责任人{i + 1}",
                "deadline": f"{self.cycle.year}-{6 + i % 6:02d}-30",
            }
            for i, value in enumerate(points)
        ]


def build_negotiation_county(staff_per_department: int = 2) -> NegotiationCounty:
    """See ``NegotiationCounty``; flushed, not committed."""
    from app import clock
    from app.services import catalogue, cycles

    g1 = org.create_group("D1", "教育类")
    g2 = org.create_group("D2", "经济类")
    region = org.create_unit("R", "示范县", kind="region")
    bureau = org.create_unit("EDU", "县教育局", kind="department", parent=region, group=g2, staff_count=40)
    school = org.create_unit("SCH1", "县第一中学", kind="institution", parent=bureau, group=g1, staff_count=120)
    other = org.create_unit("FIN", "县财政局", kind="department", parent=region, group=g2, staff_count=35)
    users: dict[str, User] = {}

    def person(username: str, name: str, unit: Unit, *roles: tuple[str, Unit], department=None) -> User:
        user = org.create_user(username, name, PASSWORD, unit=unit, department=department)
        for role, scope in roles:
            org.assign_role(user, role, scope)
        users[username] = user
        return user

    person("office", "绩效办王主任", region, ("office", region))
    person("committee", "考核委员会李委员", region, ("committee", region))
    person("supervisor", "教育局周科长", bureau, ("supervisor", bureau))
    person("officer", "一中绩效员吴老师", school, ("unit_officer", school))
    person("head", "一中郑校长", school, ("unit_head", school))
    person("other_officer", "财政局绩效员冯", other, ("unit_officer", other))
    person("other_head", "财政局局长褚", other, ("unit_head", other))
    person("other_supervisor", "财政主管陈", other, ("supervisor", other))
    users["admin"] = org.create_user("admin", "系统管理员", PASSWORD, unit=region, is_admin=True)
    departments: dict[str, list[Department]] = {}
    for unit, slug, specs in (
        (school, "sch", [("D1", "教务处"), ("D2", "德育处"), ("D3", "总务处")]),
        (other, "fin", [("F1", "预算科"), ("F2", "国库科")]),
    ):
        departments[unit.code] = []
        for n, (code, name) in enumerate(specs, start=1):
            dept = org.add_department(unit, code, name)
            departments[unit.code].append(dept)
            person(f"{slug}_dh{n}", f"{unit.name}{name}负责人", unit, ("dept_head", unit), department=dept)
            for k in range(1, staff_per_department + 1):
                person(f"{slug}_staff{n}_{k}", f"{unit.name}{name}干部{k}", unit, ("staff", unit), department=dept)
    office = users["office"]
    year = clock.now().year
    cycle = cycles.open_cycle(
        year, f"示范县{year}年度绩效考核", office, participants=[(school.id, g1.id), (other.id, g2.id)]
    )
    catalogue.add_common(cycle, office, {"code": "C1", "name": "党风廉政建设", "points": "15",
                                         "scoring_rule": "发生违纪问题每起扣 3 分", "sort_order": 1})
    catalogue.add_common(cycle, office, {"code": "C2", "name": "依法行政", "points": "15",
                                         "scoring_rule": "行政复议被撤销每件扣 2 分", "sort_order": 2})
    catalogue.issue_catalogue(cycle, office)
    db.session.flush()
    return NegotiationCounty(region, bureau, school, other, cycle, departments, users)


def run_negotiation(county: NegotiationCounty, unit: Unit | None = None, *, returns: int = 0, tier: str = "II"):
    """Drive one unit's 三上三下 through the service layer to 下达, committing after each step.

    ``returns`` 0–2 as in the scenario format: 1 → the office returns at 一下, 2 → also at 二下.
    Returns the completed Case.
    """
    from app.models import HumanTask
    from app.services import negotiation, steps

    unit = unit or county.school
    u = county.users
    officer, head, supervisor = (
        (u["officer"], u["head"], u["supervisor"]) if unit is county.school
        else (u["other_officer"], u["other_head"], u["other_supervisor"])
    )
    case = negotiation.start_negotiation(county.cycle, unit, u["office"])
    db.session.commit()

    def act(step: str, user: User, data: dict) -> None:
        task = db.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open", HumanTask.step == step)
        ).one()
        steps.submit(task, user, data)
        db.session.commit()

    items = county.items(unit)
    act("propose", officer, {"items": items})
    act("submit_proposal", head, {"decision": "approve"})
    if returns >= 1:
        act("office_review", u["office"], {"decision": "return", "reason": "目标值偏低，请重新测算"})
        act("propose", officer, {"items": items, "comment": "已重新测算"})
        act("submit_proposal", head, {"decision": "approve"})
    act("office_review", u["office"], {"decision": "comment", "comment": "请细化评分细则"})
    act("revise", officer, {"items": items})
    act("supervisor_opinion", supervisor, {"opinion": "同意", "suggested_tier": tier})
    if returns >= 2:
        act("finalize", u["office"], {"decision": "return", "reason": "责任人需落实到具体人员"})
        act("revise", officer, {"items": items})
        act("supervisor_opinion", supervisor, {"opinion": "同意"})
    act("finalize", u["office"], {"decision": "finalize", "tier": tier})
    act("confirm", head, {"decision": "confirm"})
    act("committee_approval", u["committee"], {"decision": "approve"})
    act("issue", u["office"], {"comment": "下达执行"})
    db.session.refresh(case)
    return case


# --------------------------------------------------------------------------- results (helper H3)

RESULTS_UNITS: list[dict] = [
    # group R1: four townships; group R2: three departments (scenario-format unit dicts)
    {"code": "R1-01", "name": "东城镇", "group": "R1", "staff": 40, "tier": "I", "history": ["A", "A"],
     "common": 28, "individual": 46, "satisfaction": 92, "bonus": [1], "deductions": []},
    {"code": "R1-02", "name": "西河镇", "group": "R1", "staff": 30, "tier": "II", "history": ["B"],
     "common": 27, "individual": 44, "satisfaction": 90, "bonus": [], "deductions": [0.5]},
    {"code": "R1-03", "name": "南山镇", "group": "R1", "staff": 25, "tier": "I", "history": ["C"],
     "common": 26, "individual": 42, "satisfaction": 85, "bonus": [], "deductions": [1.0]},
    {"code": "R1-04", "name": "北岭镇", "group": "R1", "staff": 20, "tier": "III", "history": [],
     "common": 25, "individual": 40, "satisfaction": 80, "bonus": [], "deductions": [2.0]},
    {"code": "R2-01", "name": "县农业农村局", "group": "R2", "staff": 36, "tier": "I", "history": ["B", "B"],
     "common": 28, "individual": 45, "satisfaction": 91, "bonus": [2], "deductions": []},
    {"code": "R2-02", "name": "县交通运输局", "group": "R2", "staff": 28, "tier": "II", "history": ["B"],
     "common": 27, "individual": 44, "satisfaction": 88, "bonus": [], "deductions": [0.5]},
    {"code": "R2-03", "name": "县自然资源局", "group": "R2", "staff": 22, "tier": "I", "history": ["C", "C"],
     "common": 26, "individual": 43, "satisfaction": 86, "bonus": [], "deductions": [], "veto": True},
]
RESULTS_GROUPS = [{"code": "R1", "name": "一类乡镇"}, {"code": "R2", "name": "县直部门"}]


@dataclass
class ResultsCounty:
    region: Unit
    cycle: Cycle
    groups: dict[str, object]
    units: dict[str, Unit]
    cases: dict[str, int]
    users: dict[str, User]
    spec: dict


def build_results_county(scenario: dict | None = None, *, drive: bool = True) -> ResultsCounty:
    """A county of several units in two groups (or the groups/units of a pe-scenario/1 dict), each
    unit's year-end case driven through the real steps up to 考核委员会审定 (when ``drive``).

    Satisfaction, ledger items (bonus/deductions/veto) and earlier years' grades are recorded
    through the social, ledger and archive services; points are scored so that the common and
    individual parts equal the unit's ``common``/``individual`` values. Commits.
    """
    from app.services import archive, ledger, social
    from tests.helpers import do, self_assessment_data

    spec = scenario or {"cycle": {"year": 2025, "title": "示范县2025年度绩效考核"}, "groups": RESULTS_GROUPS,
                        "units": RESULTS_UNITS, "appeals": []}
    year = spec["cycle"]["year"]
    region = org.create_unit("REGION", "示范县", kind="region")
    groups = {g["code"]: org.create_group(g["code"], g["name"]) for g in spec["groups"]}
    users: dict[str, User] = {}

    def person(username: str, name: str, unit: Unit, *roles: tuple[str, Unit]) -> User:
        user = org.create_user(username, name, PASSWORD, unit=unit)
        for role, scope in roles:
            org.assign_role(user, role, scope)
        users[username] = user
        return user

    for role, name in (("office", "绩效办王主任"), ("committee", "考核委员会李委员"), ("auditor", "审核组赵组长"),
                       ("assessor", "考核组钱组长"), ("monitor", "监督组孙组长"), ("supervisor", "主管部门周科长"),
                       ("officer", "县绩效员吴")):
        person(role, name, region, ("unit_officer" if role == "officer" else role, region))
    settings = dict(spec.get("settings") or {})
    settings.setdefault("publicity_days", 5)
    cycle = Cycle(year=year, title=spec["cycle"]["title"], settings=settings)
    db.session.add(cycle)
    db.session.flush()
    db.session.add_all([
        Indicator(cycle_id=cycle.id, unit_id=None, part="common", code="C1", name="党风廉政建设",
                  points=Decimal(15), sort_order=1),
        Indicator(cycle_id=cycle.id, unit_id=None, part="common", code="C2", name="依法行政",
                  points=Decimal(15), sort_order=2),
    ])
    units: dict[str, Unit] = {}
    history: dict[int, list[str]] = {}
    for item in spec["units"]:
        unit = org.create_unit(item["code"], item["name"], kind="department", parent=region,
                               group=groups[item["group"]], staff_count=item.get("staff", 0))
        units[item["code"]] = unit
        person(f"head-{item['code']}", f"{item['name']}负责人", unit, ("unit_head", unit))
        db.session.add(CycleUnit(cycle_id=cycle.id, unit_id=unit.id, group_id=groups[item["group"]].id,
                                 tier=item.get("tier", "I")))
        db.session.add(Indicator(cycle_id=cycle.id, unit_id=unit.id, part="individual", code=f"I-{item['code']}",
                                 name="年度重点目标", points=Decimal(50), sort_order=1))
        for kind, key in (("bonus", "bonus"), ("deduction", "deductions")):
            for points in item.get(key, []):
                ledger.record_item(cycle, unit, kind=kind, points=Decimal(str(points)), month=f"{year}-06",
                                   reason=f"{unit.name}{kind}", actor=users["office"])
        if item.get("veto"):
            ledger.record_item(cycle, unit, kind="veto", points=Decimal(0), month=f"{year}-06",
                               reason="发生重大安全事故", actor=users["office"])
        if item.get("satisfaction") is not None:
            social.record_satisfaction(cycle, unit, Decimal(str(item["satisfaction"])), actor=users["office"])
        if item.get("history"):
            history[unit.id] = list(item["history"])
    archive.import_history(year, history, users["office"])
    db.session.flush()
    cases_by_code: dict[str, int] = {}
    for item in spec["units"]:
        unit = units[item["code"]]
        case = cases.start_case("assessment", unit_id=unit.id, title=f"{unit.name} {year} 年度考核",
                                started_by=users["office"], cycle_id=cycle.id, data={"publicity_days": 5},
                                subject=("cycle_unit", unit.id))
        cases_by_code[item["code"]] = case.id
    db.session.commit()
    built = ResultsCounty(region, cycle, groups, units, cases_by_code, users, spec)
    if drive:
        for item in spec["units"]:
            case_id = cases_by_code[item["code"]]
            do(case_id, "self_assessment", users["officer"], self_assessment_data(case_id))
            do(case_id, "supervisor_review", users["supervisor"], {"decision": "approve"})
            do(case_id, "audit", users["auditor"], {"decision": "approve"})
            do(case_id, "scoring", users["assessor"], results_scoring_data(case_id, item))
            do(case_id, "monitoring", users["monitor"], {"flagged": False})
    return built


def results_scoring_data(case_id: int, item: dict) -> dict:
    """Scores whose common part sums to ``item['common']`` and individual part to ``item['individual']``."""
    from app.models import Case
    from app.services import assessment

    case = db.session.get(Case, case_id)
    common = Decimal(str(item["common"]))
    out = []
    for ind in assessment.indicators_for(case):
        if ind.part == "common":
            points = min(Decimal(ind.points), common)
            common -= points
        else:
            points = Decimal(str(item["individual"]))
        out.append({"indicator_id": ind.id, "points": str(points)})
    return {"scores": out}


# --------------------------------------------------------------------------- supervision (step 4)


@dataclass
class SupervisionCounty:
    """The county plus an inspector (region-wide), 县一中's 教务处 with a head and two staff, and
    two issued targets of 县一中 (individual indicators with ``issued_at``)."""

    county: County
    inspector: User
    dept_head: User
    staff: list[User]
    targets: list[Indicator]


def build_supervision_county() -> SupervisionCounty:
    from app import clock

    county = build_county()
    school = county.school
    inspector = org.create_user("inspector", "督查室刘督查", PASSWORD, unit=county.region)
    org.assign_role(inspector, "inspector", county.region)
    dept = org.add_department(school, "SVJW", "教务处")
    dept_head = org.create_user("sv_dh", "教务处陈主任", PASSWORD, unit=school, department=dept)
    org.assign_role(dept_head, "dept_head", school)
    staff = []
    for index, name in enumerate(("教师甲", "教师乙"), start=1):
        person = org.create_user(f"sv_st{index}", name, PASSWORD, unit=school, department=dept)
        org.assign_role(person, "staff", school)
        staff.append(person)
    county.users.update({"inspector": inspector, "sv_dh": dept_head, "sv_st1": staff[0], "sv_st2": staff[1]})
    targets = list(
        db.session.scalars(
            select(Indicator).where(Indicator.unit_id == school.id, Indicator.part == "individual")
        )
    )
    extra = Indicator(
        cycle_id=county.cycle.id, unit_id=school.id, part="individual", code="S2", name="学生体质健康达标率",
        points=Decimal("20"), target_value="95", measure_unit="%", sort_order=2, issued_at=clock.now(),
    )
    db.session.add(extra)
    db.session.flush()
    return SupervisionCounty(county, inspector, dept_head, staff, [*targets, extra])
