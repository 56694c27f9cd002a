"""Rectification (整改, rectification.bpmn): plan with the 四个具体 → supervisor review → completion
report with evidence → 三不放过 verification → 销号; a deadline timer escalates overdue cases.

Data contract per form key:
- rectification.plan: {"target", "items", "deadline": "YYYY-MM-DD", "measures"} — all four required
  (具体目标, 具体事项, 具体时限, 具体措施); a deadline before today is refused.
- rectification.review: {"decision": "approve"|"return", "reason"} (reason required on return)
- rectification.report: {"summary"} plus files under "evidence" (at least one)
- rectification.verify: {"root_cause_found": "yes"|"no", "measures_done": "yes"|"no",
  "up_to_standard": "yes"|"no", "reasons"} — closed only with three "yes"; any "no" needs reasons
  and sends the case back to the unit.
- rectification.escalation_head: {"explanation"} (the unit head answers for the overdue case)
- rectification.escalation_office: {"note", "points"} (optional deduction for the overdue case)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app import clock
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Appeal,
    Case,
    Cycle,
    Finding,
    HumanTask,
    Rectification,
    RectificationCheck,
    RectificationPlan,
    RectificationReport,
    Unit,
    User,
)
from app.models.rectification import RECTIFICATION_SOURCES
from app.services import cases, ledger
from app.services import supervision as sv
from app.services.steps import Checker, FieldSpec, Files, register

PLAN_FIELDS = {"target": "具体目标", "items": "具体事项", "deadline": "具体时限", "measures": "具体措施"}
CHECKS = {
    "root_cause_found": "问题根源是否查清",
    "measures_done": "整改措施是否落实",
    "up_to_standard": "整改效果是否达标",
}
YES_NO = [("yes", "是"), ("no", "否")]


def open_rectification(
    *,
    unit: Unit,
    cycle: Cycle | None,
    source: str,
    source_id: int | None,
    title: str,
    problem: str,
    opened_by: User,
    verifier_role: str | None = None,
) -> Rectification:
    """Open a rectification case about ``unit``; ``source`` is finding | appeal | complaint."""
    check = Checker({"title": title, "problem": problem})
    title = check.text("title", "整改事项", required=True, max_len=200)
    problem = check.text("problem", "问题描述", required=True, max_len=5000)
    if source not in RECTIFICATION_SOURCES:
        check.add("source", "整改来源无效")
    check.raise_if_any()
    if source == "finding":
        finding = db.session.get(Finding, source_id or 0)
        if finding is None or finding.unit_id != unit.id:
            raise NotFound("督查记录不存在")
        if finding.inspector_id != opened_by.id:
            sv.require_office(opened_by)
        verifier_role = verifier_role or "inspector"
    elif source == "appeal":
        appeal = db.session.get(Appeal, source_id or 0)
        if appeal is None or not appeal.upheld:
            raise ValidationFailed("只有裁定成立的申诉才能转整改", {"source_id": ["申诉未裁定成立"]})
        sv.require_office(opened_by)
    else:
        sv.require_any_for(opened_by, ("office", "inspector"), unit.id, "仅绩效办或督查组可以登记群众投诉整改")
    verifier_role = verifier_role or "office"
    if verifier_role not in ("office", "inspector"):
        raise ValidationFailed("核验方无效", {"verifier_role": ["核验方应为绩效办或督查组"]})
    rect = Rectification(
        reference=sv.reference("ZG"),
        cycle_id=cycle.id if cycle else None,
        unit_id=unit.id,
        source=source,
        source_id=source_id,
        title=title,
        problem=problem,
        verifier_role=verifier_role,
        status="plan",
        opened_by_id=opened_by.id,
        opened_at=clock.now(),
    )
    db.session.add(rect)
    db.session.flush()
    case = cases.start_case(
        "rectification",
        unit_id=unit.id,
        title=f"{unit.name} 整改：{title}"[:300],
        started_by=opened_by,
        cycle_id=cycle.id if cycle else None,
        data={"rectification_id": rect.id, "verifier_role": verifier_role},
        subject=("rectification", rect.id),
    )
    rect.case_id = case.id
    return rect


def open_manual(cycle: Cycle, actor: User, data: dict[str, Any]) -> Rectification:
    """Open from the office's form: {"unit_id", "source": complaint|appeal, "source_ref" (an appeal's
    reference, for source appeal), "title", "problem", "verifier_role": office|inspector}."""
    unit = sv.require_participant(cycle, int(data.get("unit_id") or 0))
    source = data.get("source") or "complaint"
    source_id = None
    if source == "appeal":
        ref = str(data.get("source_ref") or "").strip().upper()
        source_id = db.session.scalar(select(Appeal.id).where(Appeal.reference == ref)) if ref else None
        if source_id is None:
            raise ValidationFailed("申诉编号不存在", {"source_ref": ["申诉编号不存在"]})
    elif source != "complaint":
        raise ValidationFailed("整改来源无效", {"source": ["整改来源无效"]})
    return open_rectification(
        unit=unit, cycle=cycle, source=source, source_id=source_id, title=str(data.get("title") or ""),
        problem=str(data.get("problem") or ""), opened_by=actor, verifier_role=data.get("verifier_role") or None,
    )


def of_case(case: Case) -> Rectification:
    rect = db.session.scalar(select(Rectification).where(Rectification.case_id == case.id))
    if rect is None:
        raise NotFound("整改记录不存在")
    return rect


def get(rect_id: int) -> Rectification:
    rect = db.session.get(Rectification, rect_id)
    if rect is None:
        raise NotFound("整改记录不存在")
    return rect


def _next_round(model: Any, rect_id: int) -> int:
    return (db.session.scalar(select(func.max(model.round)).where(model.rectification_id == rect_id)) or 0) + 1


def plans(rect_id: int) -> list[RectificationPlan]:
    return list(db.session.scalars(
        select(RectificationPlan).where(RectificationPlan.rectification_id == rect_id)
        .order_by(RectificationPlan.round.desc())
    ))


def reports(rect_id: int) -> list[RectificationReport]:
    return list(db.session.scalars(
        select(RectificationReport).where(RectificationReport.rectification_id == rect_id)
        .order_by(RectificationReport.round.desc())
    ))


def checks(rect_id: int) -> list[RectificationCheck]:
    return list(db.session.scalars(
        select(RectificationCheck).where(RectificationCheck.rectification_id == rect_id)
        .order_by(RectificationCheck.round.desc())
    ))


def listing(*, unit_ids: list[int] | None = None, status: str | None = None, limit: int = 200
            ) -> list[Rectification]:
    query = select(Rectification)
    if unit_ids is not None:
        query = query.where(Rectification.unit_id.in_(unit_ids))
    if status == "open":
        query = query.where(Rectification.status != "closed")
    elif status:
        query = query.where(Rectification.status == status)
    return list(db.session.scalars(query.order_by(Rectification.opened_at.desc(), Rectification.id.desc())
                                   .limit(limit)))


# --------------------------------------------------------------------------- plan


def _describe_plan(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("target", "具体目标", "textarea", True, help="整改要达到的具体目标"),
        FieldSpec("items", "具体事项", "textarea", True, help="逐项列出整改事项"),
        FieldSpec("deadline", "具体时限", "text", True, help="整改完成日期 YYYY-MM-DD，不得早于今天"),
        FieldSpec("measures", "具体措施", "textarea", True, help="落实整改的具体措施和责任人"),
    ]


@register("rectification.plan", _describe_plan)
def submit_plan(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    rect = of_case(ctx.case)
    check = Checker(data)
    values = {name: check.text(name, label, max_len=5000) for name, label in PLAN_FIELDS.items() if name != "deadline"}
    raw = data.get("deadline")
    given = {**values, "deadline": isinstance(raw, dt.date) or (isinstance(raw, str) and raw.strip() != "")}
    missing = {name: label for name, label in PLAN_FIELDS.items() if not given[name]}
    if missing:
        raise ValidationFailed(
            "整改方案须“四个具体”齐全，缺少：" + "、".join(missing.values()),
            {name: [f"请填写{label}"] for name, label in missing.items()},
        )
    deadline = sv.parse_date(check, "deadline", "具体时限")
    if deadline is not None and deadline < sv.today():
        check.add("deadline", f"整改时限 {deadline:%Y-%m-%d} 已过，不能早于今天")
    check.raise_if_any()
    assert deadline is not None
    round_no = _next_round(RectificationPlan, rect.id)
    db.session.add(RectificationPlan(
        rectification_id=rect.id,
        round=round_no,
        target=values["target"],
        items=values["items"],
        deadline=deadline,
        measures=values["measures"],
        submitted_by_id=user.id,
        submitted_at=clock.now(),
    ))
    rect.status = "plan_review"
    return cases.finish_task(
        ctx, {"plan_round": round_no}, outcome="plan", event_data={"round": round_no, "deadline": str(deadline)}
    )


def _describe_review(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "审核意见", "choice", True, [("approve", "通过"), ("return", "退回修改")]),
        FieldSpec("reason", "理由 / 意见", "textarea", help="退回时必须填写理由"),
    ]


@register("rectification.review", _describe_review)
def submit_review(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    rect = of_case(ctx.case)
    check = Checker(data)
    decision = check.choice("decision", "审核意见", ["approve", "return"])
    reason = check.text("reason", "理由", required=decision == "return", max_len=2000)
    check.raise_if_any()
    plan = plans(rect.id)[0]
    plan.decision = decision
    plan.decision_reason = reason or None
    plan.decided_by_id = user.id
    plan.decided_at = clock.now()
    result: dict[str, Any] = {"decision": decision}
    if decision == "approve":
        rect.status = "in_progress"
        rect.deadline = plan.deadline
        result["deadline_at"] = sv.iso(sv.end_of_day_utc(plan.deadline))
    else:
        rect.status = "plan"
    return cases.finish_task(ctx, result, outcome=decision, comment=reason or None, event_data={"round": plan.round})


# --------------------------------------------------------------------------- completion report


def _describe_report(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("summary", "整改完成情况", "textarea", True, help="逐项说明整改事项的落实情况"),
        FieldSpec("evidence", "整改佐证材料", "file", True),
    ]


@register("rectification.report", _describe_report)
def submit_report(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    rect = of_case(ctx.case)
    check = Checker(data)
    summary = check.text("summary", "整改完成情况", required=True)
    checked = sv.check_files(check, files, "evidence", required=True, label="整改佐证材料")
    check.raise_if_any()
    round_no = _next_round(RectificationReport, rect.id)
    report = RectificationReport(
        rectification_id=rect.id, round=round_no, summary=summary, submitted_by_id=user.id, submitted_at=clock.now()
    )
    db.session.add(report)
    db.session.flush()
    sv.store_files("rect_report", report.id, checked, user)
    rect.status = "verifying"
    return cases.finish_task(
        ctx, {"report_round": round_no}, outcome="rect_report", event_data={"round": round_no, "files": len(checked)}
    )


# --------------------------------------------------------------------------- 三不放过


def _describe_verify(task: HumanTask) -> list[FieldSpec]:
    return [
        *(FieldSpec(name, label, "choice", True, YES_NO) for name, label in CHECKS.items()),
        FieldSpec("reasons", "核验意见", "textarea", help="任一项为“否”时必须说明理由"),
    ]


@register("rectification.verify", _describe_verify)
def submit_verify(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    rect = of_case(ctx.case)
    check = Checker(data)
    answers = {name: check.choice(name, label, ["yes", "no"]) == "yes" for name, label in CHECKS.items()}
    check.raise_if_any()
    passed = all(answers.values())
    failed = [CHECKS[name] for name, ok in answers.items() if not ok]
    reasons = check.text("reasons", "核验意见", max_len=3000)
    if not passed and not reasons:
        check.add("reasons", "以下项未通过，请说明理由：" + "、".join(failed))
    check.raise_if_any()
    round_no = _next_round(RectificationCheck, rect.id)
    db.session.add(RectificationCheck(
        rectification_id=rect.id,
        round=round_no,
        passed=passed,
        reasons=reasons or None,
        checked_by_id=user.id,
        checked_at=clock.now(),
        **answers,
    ))
    now = clock.now()
    if passed:
        rect.status = "closed"
        rect.closed_at = now
    else:
        rect.status = "in_progress"
    return cases.finish_task(
        ctx,
        {"passed": passed},
        outcome="close" if passed else "verify_fail",
        comment=reasons or None,
        event_data={"round": round_no, "failed": failed},
    )


# --------------------------------------------------------------------------- escalation


def _describe_escalation_head(task: HumanTask) -> list[FieldSpec]:
    return [FieldSpec("explanation", "逾期原因及整改承诺", "textarea", True)]


@register("rectification.escalation_head", _describe_escalation_head)
def submit_escalation_head(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    explanation = check.text("explanation", "逾期原因及整改承诺", required=True, max_len=3000)
    check.raise_if_any()
    return cases.finish_task(ctx, {"explained": True}, outcome="explain", comment=explanation)


def _describe_escalation_office(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("note", "督办意见", "textarea", True),
        FieldSpec("points", "逾期扣分", "decimal", minimum=0, help="可选：对逾期整改记扣分，0 或留空为不扣分"),
    ]


@register("rectification.escalation_office", _describe_escalation_office)
def submit_escalation_office(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    rect = of_case(ctx.case)
    check = Checker(data)
    note = check.text("note", "督办意见", required=True, max_len=3000)
    raw = data.get("points")
    points = Decimal(0)
    if raw not in (None, ""):
        points = check.decimal("points", "逾期扣分", raw, minimum=Decimal(0), maximum=ledger.MAX_POINTS) or Decimal(0)
    check.raise_if_any()
    event: dict[str, Any] = {}
    if points > 0:
        cycle = db.session.get(Cycle, rect.cycle_id) if rect.cycle_id else None
        if cycle is None:
            raise ValidationFailed("该整改不属于任何考核年度，不能扣分", {"points": ["无考核年度"]})
        item = ledger.record_item(
            cycle, rect.unit, kind="deduction", points=points, month=sv.today().strftime("%Y-%m"),
            reason=f"整改逾期（{rect.reference} {rect.title}）：{note}", actor=user,
            source="rectification", source_id=rect.id,
        )
        event = {"points": str(points), "ledger_item": item.id}
    return cases.finish_task(ctx, {"supervised": True}, outcome="supervise", comment=note, event_data=event)


def may_view(user: User, rect: Rectification) -> bool:
    roles = ("office", "inspector", "supervisor", "unit_head", "unit_officer", "monitor", "committee")
    return sv.holds_any_for(user, roles, rect.unit_id)


def require_view(user: User, rect: Rectification) -> None:
    if not may_view(user, rect):
        raise Forbidden("您无权查看该整改事项")
