"""Demo data, part two: the next year's 三上三下 under way beside the year-end of the demo year.

As in a real December, the county negotiates next year's targets while it finishes this year's
assessment: the next cycle is opened with its catalogue issued, every unit's negotiation is
started and several are left at different steps (so the office, supervisor, committee, unit
officers and heads all have negotiation work); 城关镇's targets are issued, which generated its
letters, and its department head has already signed. An inspection of 石桥镇 recorded a
deduction (on the public ledger) and opened a rectification. Every step goes through the real
services, as the user holding the role.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Cycle, HumanTask, Unit, User
from app.services import catalogue, cycles, inspections, negotiation, steps

COMMON = [("C1", "党的建设与党风廉政建设", "10"), ("C2", "依法行政与营商环境", "10"), ("C3", "作风效能建设", "10")]
# unit code → the step its negotiation is left before (None = issued)
STOPS = {"T1-01": None, "T1-02": "office_review", "T1-03": "propose_again", "D1-01": "supervisor_opinion",
         "D1-02": "committee_approval", "D1-03": "submit_proposal"}


def _people() -> dict[str, User]:
    return {u.username: u for u in db.session.scalars(select(User))}


def _do(case_id: int, step: str, user: User, data: dict[str, Any]) -> None:
    task = db.session.scalar(
        select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open", HumanTask.step == step)
    )
    assert task is not None, f"demo: case {case_id} has no open {step}"
    steps.submit(task, user, data)


def _items(unit: Unit, year: int) -> list[dict[str, Any]]:
    dept = unit.departments[0]
    rows = [("重点项目建设", "15", "项", "30"), ("群众满意度", "92", "%", "20")]
    return [
        {"name": f"{unit.name}{name}", "target_value": value, "measure_unit": measure, "points": points,
         "scoring_rule": "完成目标得满分，每低于目标1%扣0.5分", "lead_name": f"{unit.name}分管副职",
         "department_id": dept.id, "responsible_name": f"{dept.name}负责人", "deadline": f"{year}-12-15"}
        for name, value, measure, points in rows
    ]


def seed_next_year(this_year: Cycle) -> None:
    people = _people()
    office, committee, supervisor = people["office"], people["committee"], people["supervisor"]
    year = this_year.year + 1
    units = {u.code: u for u in db.session.scalars(select(Unit).where(Unit.code.in_(list(STOPS))))}
    cycle = cycles.open_cycle(
        year, f"示范县{year}年度绩效考核", office,
        dates={"starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31),
               "letters_due_on": dt.date(year, 12, 31)},
        participants=[(u.id, u.group_id) for u in units.values()],
    )
    for order, (code, name, points) in enumerate(COMMON, start=1):
        catalogue.add_common(cycle, office, {"code": code, "name": name, "points": points, "sort_order": order,
                                             "scoring_rule": "按考核细则逐项评分"})
    catalogue.issue_catalogue(cycle, office)
    for code, stop in STOPS.items():
        unit = units[code]
        slug = code.lower().replace("-", "")
        officer, head = people[f"{slug}_officer"], people[f"{slug}_head"]
        case_id = negotiation.start_negotiation(cycle, unit, office).id
        plan: list[tuple[str, User, dict[str, Any]]] = [
            ("propose", officer, {"items": _items(unit, year)}),
            ("submit_proposal", head, {"decision": "approve"}),
            ("office_review", office, {"decision": "comment", "comment": "请细化重点项目的评分细则。"}),
            ("revise", officer, {"items": _items(unit, year)}),
            ("supervisor_opinion", supervisor, {"opinion": "目标合理，建议Ⅱ档。", "suggested_tier": "II"}),
            ("finalize", office, {"decision": "finalize", "tier": "II"}),
            ("confirm", head, {"decision": "confirm"}),
            ("committee_approval", committee, {"decision": "approve"}),
            ("issue", office, {"comment": "请抓好落实。"}),
        ]
        if stop == "propose_again":  # returned at 一下: the officer sees the reason in 待办
            plan = [plan[0], plan[1], ("office_review", office,
                                       {"decision": "return", "reason": "重点项目目标值低于上年实绩，请重新申报。"})]
        for step, user, data in plan:
            if step == stop:
                break
            _do(case_id, step, user, data)
    # 城关镇's letters exist now; its department head signs the 责任书, the unit head has not yet
    dept_head = people["t101_dept"]
    task = db.session.scalar(
        select(HumanTask).where(HumanTask.assignee_id == dept_head.id, HumanTask.status == "open",
                                HumanTask.step.like("sign_b_%"))
    )
    if task is not None:
        steps.submit(task, dept_head, {"agree": True, "comment": "同意。"})
    inspections.record_finding(this_year, people["inspector"], {
        "unit_id": units["T1-02"].id, "kind": "covert", "category": "service_window",
        "description": "暗访发现便民服务窗口工作时间无人值守。", "found_on": f"{this_year.year}-11-20",
        "points": "0.5", "open_rectification": True, "rectification_title": "便民服务窗口值守整改",
    })
