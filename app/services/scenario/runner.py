"""Acts a scenario's year out through the real workflows (see ../shared/scenario-format.md).

Every step is a user task completed by a user holding the right role, through ``steps.submit``
— the same handlers the web pages and the API call. Time is advanced on the application clock
(publicity windows close without waiting). The caller commits; the runner commits itself after
each phase of each unit so a large county never holds one giant transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select

from app import clock
from app.errors import DomainError
from app.extensions import db
from app.models import ArchiveRecord, Case, Cycle, HumanTask, Indicator, Letter, User
from app.services import assessment, cases, catalogue, cycles, ledger, negotiation, social, steps
from app.services.scenario import setup
from app.services.scenario.spec import AppealSpec, Scenario, UnitSpec
from app.services.scoring import D

CENT = Decimal("0.01")
COMMON_NAMES = ("党的建设与党风廉政建设", "依法行政与营商环境", "平安建设与安全生产", "重点工作督查落实")


class ScenarioError(DomainError):
    pass


@dataclass
class Run:
    scenario: Scenario
    county: setup.County
    cycle: Cycle
    tasks_completed: int = 0
    assessment_cases: dict[str, int] = field(default_factory=dict)  # by unit code
    commit: Callable[[], None] = db.session.commit

    @property
    def office(self) -> User:
        return self.county.region_users["office"]

    def user(self, role: str) -> User:
        return self.county.region_users[role]

    def open_tasks(self, case_id: int) -> list[HumanTask]:
        return list(
            db.session.scalars(
                select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open").order_by(HumanTask.id)
            )
        )

    def do(self, case_id: int, step: str, user: User, data: dict[str, Any]) -> None:
        row = db.session.connection().execute(_OPEN_STEP, {"case_id": case_id, "step": step}).first()
        if row is None:
            have = [t.step for t in self.open_tasks(case_id)]
            raise ScenarioError(f"案件 {case_id} 没有待办步骤 {step}（当前：{have or '无'}）")
        handler = steps.registered(row.form_key)
        if handler is not None:  # the same handler steps.submit picks, without loading the row first
            handler.submit(row.id, user, data, {})
        else:
            task = db.session.get(HumanTask, row.id)
            assert task is not None
            steps.submit(task, user, data)
        self.tasks_completed += 1


# The first open task of a step of a case (the runner acts on one step at a time); Core columns
# on the connection, as this lookup is not part of what a user's request does.
_TASKS = cast(Table, HumanTask.__table__)
_OPEN_STEP = (
    select(_TASKS.c.id, _TASKS.c.form_key)
    .where(_TASKS.c.case_id == bindparam("case_id"), _TASKS.c.status == "open", _TASKS.c.step == bindparam("step"))
    .order_by(_TASKS.c.id)
    .limit(1)
)


def split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights`` in cents; the last share takes the remainder."""
    whole = sum(weights, Decimal(0))
    if not weights:
        return []
    if whole == 0:
        return [Decimal(0)] * (len(weights) - 1) + [total]
    shares = [(total * w / whole).quantize(CENT) for w in weights[:-1]]
    return [*shares, total - sum(shares, Decimal(0))]


# --------------------------------------------------------------------------- the year


def run(scenario: Scenario, *, commit: Callable[[], None] | None = None) -> Run:
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        return _run(scenario, commit)
    finally:
        session.expire_on_commit = expire


def _run(scenario: Scenario, commit: Callable[[], None] | None) -> Run:
    county = setup.build(scenario)
    office = county.region_users["office"]
    _history(scenario, county)
    year = scenario.year
    cycle = cycles.open_cycle(
        year,
        scenario.title,
        office,
        settings=scenario.overrides,
        dates={"starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31)},
        participants=[(county.people[u.code].unit.id, county.groups[u.group].id) for u in scenario.units],
    )
    state = Run(scenario, county, cycle, commit=commit or db.session.commit)
    _catalogue(state)
    state.commit()
    for spec in scenario.units:
        _negotiate(state, spec)
        _sign_letters(state, spec)
        _ledger_and_social(state, spec)
        _assess(state, spec)
        state.commit()
    from app.services.scenario import yearend

    yearend.publish_appeal_finalise(state)
    return state


def _history(scenario: Scenario, county: setup.County) -> None:
    rows = []
    for spec in scenario.units:
        unit = county.people[spec.code].unit
        first = scenario.year - len(spec.history)
        for offset, grade in enumerate(spec.history):
            rows.append({"unit_id": unit.id, "year": first + offset, "grade": grade, "group_code": spec.group,
                         "flags": [], "source": "history", "note": "历史等次（场景导入）", "archived_at": clock.now()})
    if rows:
        db.session.execute(insert(ArchiveRecord), rows)


def _catalogue(state: Run) -> None:
    weight = D(state.scenario.settings["weights"]["common"])
    parts = split(weight, [Decimal(1)] * 2)
    for i, points in enumerate(parts):
        catalogue.add_common(state.cycle, state.office, {
            "code": f"C{i + 1}", "name": COMMON_NAMES[i], "points": str(points),
            "scoring_rule": "按考核细则逐项评分，未完成的按比例扣分。",
        })
    catalogue.issue_catalogue(state.cycle, state.office)


def _items(state: Run, spec: UnitSpec) -> list[dict[str, Any]]:
    people = state.county.people[spec.code]
    weight = D(state.scenario.settings["weights"]["individual"])
    shares = split(weight, [Decimal(1)] * len(people.departments))
    return [
        {"code": f"G{i + 1:02d}", "name": f"{dept.name}年度重点目标", "target_value": "100", "measure_unit": "%",
         "points": str(points), "scoring_rule": "完成目标得满分，每低于目标1个百分点扣0.5分。",
         "lead_name": f"{people.unit.name}分管领导", "department_id": dept.id,
         "responsible_name": people.dept_heads[i].display_name, "deadline": f"{state.scenario.year}-12-15"}
        for i, (dept, points) in enumerate(zip(people.departments, shares, strict=True))
    ]


def _negotiate(state: Run, spec: UnitSpec) -> None:
    people = state.county.people[spec.code]
    case = negotiation.start_negotiation(state.cycle, people.unit, state.office)
    items = _items(state, spec)
    returns = spec.negotiation_returns
    state.do(case.id, "propose", people.officer, {"items": items})
    state.do(case.id, "submit_proposal", people.head, {"decision": "approve"})
    if returns >= 1:  # 一下 returns the proposal
        state.do(case.id, "office_review", state.office,
                 {"decision": "return", "reason": "个性指标目标值偏低，请对标上年实绩重新申报。"})
        state.do(case.id, "propose", people.officer, {"items": items})
        state.do(case.id, "submit_proposal", people.head, {"decision": "approve"})
    state.do(case.id, "office_review", state.office, {"decision": "comment", "comment": "请细化评分细则。"})
    state.do(case.id, "revise", people.officer, {"items": items})
    opinion = {"opinion": "同意", "suggested_tier": spec.tier}
    state.do(case.id, "supervisor_opinion", state.user("supervisor"), opinion)
    if returns >= 2:  # 二下 returns the revision
        back = {"decision": "return", "reason": "完成时限与年度方案不一致，请修改。"}
        state.do(case.id, "finalize", state.office, back)
        state.do(case.id, "revise", people.officer, {"items": items})
        state.do(case.id, "supervisor_opinion", state.user("supervisor"), opinion)
    state.do(case.id, "finalize", state.office, {"decision": "finalize", "tier": spec.tier})
    state.do(case.id, "confirm", people.head, {"decision": "confirm"})
    state.do(case.id, "committee_approval", state.user("committee"), {"decision": "approve"})
    state.do(case.id, "issue", state.office, {})


def _sign_letters(state: Run, spec: UnitSpec) -> None:
    unit_id = state.county.people[spec.code].unit.id
    letter_cases = list(db.session.scalars(
        select(Letter.case_id).where(Letter.cycle_id == state.cycle.id, Letter.unit_id == unit_id)
    ))
    users: dict[int, User] = {}
    for _ in range(4):  # each party signs in turn; a letter case has at most two signing steps
        tasks = list(db.session.scalars(
            select(HumanTask).where(HumanTask.case_id.in_(letter_cases), HumanTask.status == "open")
            .order_by(HumanTask.id)
        ))
        if not tasks:
            return
        for task in tasks:
            if task.assignee_id is None:
                raise ScenarioError(f"责任书任务 {task.id} 没有指定签署人")
            signer = users.get(task.assignee_id) or db.session.get(User, task.assignee_id)
            assert signer is not None
            users[task.assignee_id] = signer
            steps.submit(task, signer, {"agree": True})
            state.tasks_completed += 1
    raise ScenarioError(f"{spec.name} 的责任书未能全部签署")


def _ledger_and_social(state: Run, spec: UnitSpec) -> None:
    unit = state.county.people[spec.code].unit
    month = f"{state.scenario.year}-06"
    for points in spec.bonus:
        ledger.record_item(state.cycle, unit, kind="bonus", points=points, month=month,
                           reason="工作成效获群众表扬（场景）", actor=state.user("inspector"), source="import")
    for points in spec.deductions:
        ledger.record_item(state.cycle, unit, kind="deduction", points=points, month=month,
                           reason="日常督查发现问题扣分（场景）", actor=state.user("inspector"), source="import")
    if spec.veto:
        ledger.record_item(state.cycle, unit, kind="veto", points=Decimal(0), month=month,
                           reason="发生一票否决事项（场景）", actor=state.user("inspector"), source="import")
    social.record_satisfaction(state.cycle, unit, spec.satisfaction, actor=state.office, source="import")


def _assess(state: Run, spec: UnitSpec) -> None:
    people = state.county.people[spec.code]
    case = cases.start_case(
        "assessment",
        unit_id=people.unit.id,
        title=f"{people.unit.name} {state.scenario.year}年度绩效考核",
        started_by=state.office,
        cycle_id=state.cycle.id,
        group_id=state.county.groups[spec.group].id,
        data={"publicity_days": int(state.scenario.settings.get("publicity_days", 5))},
        subject=("cycle_unit", cycles.cycle_unit(state.cycle, people.unit.id).id),
    )
    state.assessment_cases[spec.code] = case.id
    indicators = assessment.indicators_for(case)
    entries = {"entries": [{"indicator_id": i.id, "completion": "100", "narrative": f"{i.name}：已完成。"}
                           for i in indicators]}
    for _ in range(spec.self_assessment_returns):
        state.do(case.id, "self_assessment", people.officer, entries)
        state.do(case.id, "supervisor_review", state.user("supervisor"),
                 {"decision": "return", "reason": "佐证材料不完整，请补充后重新提交。"})
    state.do(case.id, "self_assessment", people.officer, entries)
    state.do(case.id, "supervisor_review", state.user("supervisor"), {"decision": "approve"})
    state.do(case.id, "audit", state.user("auditor"), {"decision": "approve"})
    scores = scores_for(indicators, spec.common, spec.individual)
    state.do(case.id, "scoring", state.user("assessor"), {"scores": scores})
    state.do(case.id, "monitoring", state.user("monitor"), {"flagged": False})


def scores_for(indicators: list[Indicator], common: Decimal, individual: Decimal) -> list[dict[str, Any]]:
    """Points per indicator adding up to the scenario's part totals (in proportion to each one's points)."""
    out: list[dict[str, Any]] = []
    for part, total in (("common", common), ("individual", individual)):
        chosen = [i for i in indicators if i.part == part]
        if not chosen:
            if total:
                raise ScenarioError(f"没有{part}指标可以记录 {total} 分")
            continue
        for indicator, points in zip(chosen, split(total, [Decimal(i.points) for i in chosen]), strict=True):
            out.append({"indicator_id": indicator.id, "points": str(points), "note": "实地考评"})
    for indicator in indicators:
        if indicator.part not in ("common", "individual"):
            out.append({"indicator_id": indicator.id, "points": "0", "note": "社会评价另行计算"})
    return out


def appellant(state: Run, spec: AppealSpec) -> User | None:
    people = state.county.people[spec.unit]
    return {"unit": people.head, "cadre": people.cadre, "public": None}[spec.by]


__all__ = ["Run", "ScenarioError", "run", "split", "scores_for", "appellant", "Case"]
