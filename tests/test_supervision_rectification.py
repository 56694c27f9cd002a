"""Rectification (rectification.bpmn): 四个具体, supervisor return, 三不放过, deadline escalation, 销号."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, LedgerItem, Rectification, RectificationCheck, RectificationPlan, Timer
from app.services import cases, inspections, rectification
from tests.supervision_support import act, actions, build_current, days, pdf, set_today, task, tasks_of, today


@pytest.fixture
def sc():
    return build_current()


def _open(sc, verifier: str = "office") -> Rectification:
    c = sc.county
    rect = rectification.open_rectification(
        unit=c.school, cycle=c.cycle, source="complaint", source_id=None, title="窗口服务态度差",
        problem="群众投诉：办事窗口工作人员推诿扯皮。", opened_by=c.users["office"], verifier_role=verifier,
    )
    db.session.commit()
    return rect


def _plan(**overrides) -> dict:
    plan = {"target": "窗口服务零投诉", "items": "1. 整顿窗口纪律\n2. 公开服务承诺", "deadline": days(20).isoformat(),
            "measures": "制定首问负责制，校长每周抽查"}
    plan.update(overrides)
    return plan


VERIFY_OK = {"root_cause_found": "yes", "measures_done": "yes", "up_to_standard": "yes"}


@pytest.mark.parametrize("missing,label", [("target", "具体目标"), ("items", "具体事项"), ("deadline", "具体时限"),
                                           ("measures", "具体措施")])
def test_plan_missing_one_of_the_four_is_refused_naming_it(sc, missing, label):
    rect = _open(sc)
    with pytest.raises(ValidationFailed) as info:
        act(rect.case_id, "submit_plan", sc.county.users["officer"], _plan(**{missing: "  "}))
    assert label in info.value.message
    assert missing in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(RectificationPlan.id)) is None
    assert task(rect.case_id, "submit_plan").status == "open"


def test_plan_missing_several_names_them_all(sc):
    rect = _open(sc)
    with pytest.raises(ValidationFailed) as info:
        act(rect.case_id, "submit_plan", sc.county.users["officer"], {"items": "整顿"})
    assert "具体目标、具体时限、具体措施" in info.value.message
    assert set(info.value.fields) == {"target", "deadline", "measures"}


def test_plan_deadline_in_the_past_or_malformed_is_refused(sc):
    rect = _open(sc)
    officer = sc.county.users["officer"]
    with pytest.raises(ValidationFailed) as info:
        act(rect.case_id, "submit_plan", officer, _plan(deadline=days(-1).isoformat()))
    assert "不能早于今天" in info.value.message
    db.session.rollback()
    with pytest.raises(ValidationFailed) as info:
        act(rect.case_id, "submit_plan", officer, _plan(deadline="30/04/2025"))
    assert "YYYY-MM-DD" in info.value.fields["deadline"][0]
    db.session.rollback()
    act(rect.case_id, "submit_plan", officer, _plan(deadline=today().isoformat()))  # today is fine
    assert db.session.get(Rectification, rect.id).status == "plan_review"


def test_rejected_plan_failed_check_then_closure_keeps_every_round(sc):
    c = sc.county
    officer, supervisor, office = c.users["officer"], c.users["supervisor"], c.users["office"]
    rect = _open(sc)
    case_id = rect.case_id
    act(case_id, "submit_plan", officer, _plan(target="尽量改进"))
    with pytest.raises(ValidationFailed):
        act(case_id, "review_plan", supervisor, {"decision": "return"})  # a return needs a reason
    db.session.rollback()
    act(case_id, "review_plan", supervisor, {"decision": "return", "reason": "目标不具体，请量化"})
    assert db.session.get(Rectification, rect.id).status == "plan"
    act(case_id, "submit_plan", officer, _plan())
    act(case_id, "review_plan", supervisor, {"decision": "approve"})
    rect = db.session.get(Rectification, rect.id)
    assert rect.status == "in_progress" and rect.deadline == days(20)

    with pytest.raises(ValidationFailed) as info:  # completion needs evidence
        act(case_id, "carry_out", officer, {"summary": "已整改"})
    assert "佐证" in info.value.message
    db.session.rollback()
    act(case_id, "carry_out", officer, {"summary": "已整顿纪律"}, {"evidence": [pdf()]})
    assert db.session.get(Rectification, rect.id).status == "verifying"

    with pytest.raises(ValidationFailed) as info:  # a "no" needs reasons naming what failed
        act(case_id, "verify_office", office, {**VERIFY_OK, "root_cause_found": "no"})
    assert "问题根源是否查清" in info.value.message
    db.session.rollback()
    act(case_id, "verify_office", office, {**VERIFY_OK, "root_cause_found": "no", "reasons": "推诿的根源未查清"})
    rect = db.session.get(Rectification, rect.id)
    assert rect.status == "in_progress" and rect.closed_at is None
    assert task(case_id, "carry_out").status == "open"  # sent back to the unit

    act(case_id, "carry_out", officer, {"summary": "查清为岗位职责不清，已明确"}, {"evidence": [pdf("职责表.pdf")]})
    act(case_id, "verify_office", office, VERIFY_OK)
    rect = db.session.get(Rectification, rect.id)
    case = db.session.get(Case, case_id)
    assert rect.status == "closed" and rect.closed_at is not None
    assert case.status == "completed" and not tasks_of(case_id)
    assert db.session.scalar(select(Timer.status).where(Timer.case_id == case_id)) == "cancelled"
    plans = rectification.plans(rect.id)
    assert [(p.round, p.decision) for p in plans] == [(2, "approve"), (1, "return")]
    assert plans[1].decision_reason == "目标不具体，请量化"
    assert [r.round for r in rectification.reports(rect.id)] == [2, 1]
    assert [(k.round, k.passed, k.root_cause_found) for k in rectification.checks(rect.id)] == [
        (2, True, True), (1, False, False)]
    history = actions(case_id)
    for action in ("plan", "return", "approve", "rect_report", "verify_fail", "close", "end"):
        assert action in history
    assert history.index("verify_fail") < history.index("close")


def test_checks_are_append_only(sc):
    c = sc.county
    rect = _open(sc)
    act(rect.case_id, "submit_plan", c.users["officer"], _plan())
    act(rect.case_id, "review_plan", c.users["supervisor"], {"decision": "approve"})
    act(rect.case_id, "carry_out", c.users["officer"], {"summary": "完成"}, {"evidence": [pdf()]})
    act(rect.case_id, "verify_office", c.users["office"], {**VERIFY_OK, "up_to_standard": "no", "reasons": "未达标"})
    check = db.session.scalar(select(RectificationCheck))
    check.passed = True
    with pytest.raises(Exception, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_overdue_escalates_to_unit_head_and_office_by_timer(sc, app):
    c = sc.county
    rect = _open(sc)
    case_id = rect.case_id
    act(case_id, "submit_plan", c.users["officer"], _plan(deadline=days(5).isoformat()))
    act(case_id, "review_plan", c.users["supervisor"], {"decision": "approve"})
    timer = db.session.scalar(select(Timer).where(Timer.case_id == case_id, Timer.status == "pending"))
    assert timer is not None and timer.step == "deadline_timer"
    assert clock.to_local(timer.due_at).date() == days(5)  # end of the deadline day, China time
    assert not tasks_of(case_id) or {t.step for t in tasks_of(case_id)} == {"carry_out"}

    set_today(days(5), hour=23)
    assert cases.fire_due_timers() == 0  # not yet due
    set_today(days(1), hour=9)
    result = app.test_cli_runner().invoke(args=["timers", "run", "--once"])
    assert "fired 1 timer" in result.output, result.output
    db.session.expire_all()
    head_task = task(case_id, "escalate_head")
    office_task = task(case_id, "escalate_office")
    assert cases.may_work_on(c.users["head"], head_task) and not cases.may_work_on(c.users["officer"], head_task)
    assert cases.may_work_on(c.users["office"], office_task)
    assert task(case_id, "carry_out").status == "open"  # the unit still has to finish
    assert db.session.get(Rectification, rect.id).is_overdue
    assert "timer" in actions(case_id)

    act(case_id, "escalate_head", c.users["head"], {"explanation": "人员调整延误，承诺 4 月 20 日前完成"})
    act(case_id, "escalate_office", c.users["office"], {"note": "通报并扣分", "points": "0.5"})
    item = db.session.scalar(select(LedgerItem).where(LedgerItem.source == "rectification"))
    assert item.points == Decimal("0.5") and item.unit_id == c.school.id and item.source_id == rect.id
    act(case_id, "carry_out", c.users["officer"], {"summary": "完成"}, {"evidence": [pdf()]})
    act(case_id, "verify_office", c.users["office"], VERIFY_OK)
    assert db.session.get(Case, case_id).status == "completed"
    assert {"explain", "supervise", "close"} <= set(actions(case_id))


def test_finding_opens_rectification_verified_by_inspectors(sc):
    c = sc.county
    finding = inspections.record_finding(c.cycle, sc.inspector, {
        "unit_id": c.school.id, "kind": "covert", "category": "attendance", "description": "上班时间 3 人缺岗",
        "found_on": today().isoformat(), "points": "1", "open_rectification": True,
    })
    db.session.commit()
    rect = db.session.get(Rectification, finding.rectification_id)
    assert rect.source == "finding" and rect.source_id == finding.id and rect.verifier_role == "inspector"
    act(rect.case_id, "submit_plan", c.users["officer"], _plan())
    act(rect.case_id, "review_plan", c.users["supervisor"], {"decision": "approve"})
    act(rect.case_id, "carry_out", c.users["officer"], {"summary": "已整改"}, {"evidence": [pdf()]})
    verify = task(rect.case_id, "verify_inspector")
    assert verify.role == "inspector"
    with pytest.raises(Forbidden):
        act(rect.case_id, "verify_inspector", c.users["office"], VERIFY_OK)  # the inspectors verify this one
    db.session.rollback()
    act(rect.case_id, "verify_inspector", sc.inspector, VERIFY_OK)
    assert db.session.get(Rectification, rect.id).status == "closed"


def test_only_the_office_or_inspectors_open_and_appeals_must_be_upheld(sc):
    c = sc.county
    with pytest.raises(Forbidden):
        rectification.open_rectification(unit=c.school, cycle=c.cycle, source="complaint", source_id=None,
                                          title="x", problem="y", opened_by=c.users["officer"])
    with pytest.raises(ValidationFailed):
        rectification.open_rectification(unit=c.school, cycle=c.cycle, source="appeal", source_id=999,
                                          title="x", problem="y", opened_by=c.users["office"])
    with pytest.raises(ValidationFailed):
        rectification.open_rectification(unit=c.school, cycle=c.cycle, source="complaint", source_id=None,
                                          title=" ", problem="y", opened_by=c.users["office"])
