"""Approval operations through the service layer: 退回, 撤回, 转办, 委派 (allowed and forbidden)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import engine
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, Notification
from app.services import casefile, cases, inbox, operations, steps
from tests.factories import start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.ops_support import add_people, deploy_ops_processes, open_rows, start

APPROVE = {"decision": "approve"}


def to_audit(county) -> int:
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    return case_id


def events(case_id: int, action: str) -> list[CaseEvent]:
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action).order_by(CaseEvent.id)
    ))


# --------------------------------------------------------------------------- 退回


def test_return_to_previous_step_records_reason_and_reaches_the_returned_to_user(county):
    case_id = to_audit(county)
    audit = open_task(case_id, "audit")
    assert operations.return_targets(audit) == [("supervisor_review", "主管部门审核"), ("self_assessment", "单位自评")]

    operations.return_to(audit.id, county.users["auditor"], target_step=None, reason="佐证材料与审核意见不符")
    db.session.commit()

    db.session.expire_all()
    returned = db.session.get(HumanTask, audit.id)
    assert (returned.status, returned.completed_by_id, returned.outcome) == ("returned", county.users["auditor"].id,
                                                                            "return_to")
    review = open_task(case_id, "supervisor_review")
    assert "佐证材料与审核意见不符" in (review.note or "") and "审核组赵组长" in review.note
    event = events(case_id, "return_to")[-1]
    assert event.comment == "佐证材料与审核意见不符" and event.user_id == county.users["auditor"].id
    assert event.step == "审核组核查佐证 → 主管部门审核" and event.data["target_step"] == "supervisor_review"
    assert any(item.label == "退回" and item.comment == "佐证材料与审核意见不符"
               for item in casefile.history(db.session.get(Case, case_id)))
    note = db.session.scalar(select(Notification).where(Notification.user_id == county.users["supervisor"].id,
                                                        Notification.kind == "returned"))
    assert note is not None and note.task_id == review.id
    # the returned-to person works on as usual
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    assert open_task(case_id, "audit").status == "open"


def test_return_to_the_first_step_shows_the_task_and_reason_in_the_submitters_inbox(county):
    case_id = to_audit(county)
    audit = open_task(case_id, "audit")
    operations.return_to(audit.id, county.users["auditor"], target_step="self_assessment", reason="请补充第二项佐证")
    db.session.commit()

    todo = inbox.todo(county.users["officer"])
    task = next(t for t in todo.items if t.case_id == case_id)
    assert task.step == "self_assessment" and "请补充第二项佐证" in (task.note or "")
    assert [row.id for row in open_rows(case_id)] == [task.id]  # nothing else open: review and audit are behind us
    db.session.expire_all()
    assert db.session.get(Case, case_id).current_step == "单位自评"
    # and the case goes through again
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    do(case_id, "audit", county.users["auditor"], APPROVE)
    assert open_task(case_id, "scoring")


def test_return_refusals(county):
    case_id = to_audit(county)
    audit = open_task(case_id, "audit")
    with pytest.raises(ValidationFailed) as exc:
        operations.return_to(audit.id, county.users["auditor"], target_step=None, reason="  ")
    assert "reason" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        operations.return_to(audit.id, county.users["auditor"], target_step="scoring", reason="x")
    assert "target_step" in exc.value.fields
    with pytest.raises(Forbidden):
        operations.return_to(audit.id, county.users["supervisor"], target_step=None, reason="not mine")
    db.session.rollback()
    first = start_assessment(county)
    with pytest.raises(Conflict, match="第一个办理环节"):
        operations.return_to(open_task(first, "self_assessment").id, county.users["officer"], target_step=None,
                             reason="x")
    db.session.rollback()
    assert open_task(case_id, "audit").id == audit.id  # nothing changed


def test_return_discards_a_parallel_branch(county):
    deploy_ops_processes()
    case_id = start(county, "ops_parallel")
    do(case_id, "draft", county.users["officer"], APPROVE)
    a, b = open_task(case_id, "check_a"), open_task(case_id, "check_b")
    operations.return_to(a.id, county.users["supervisor"], target_step="draft", reason="起草有误")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(HumanTask, a.id).status == "returned"
    assert db.session.get(HumanTask, b.id).status == "returned"
    assert [t.step for t in open_rows(case_id)] == ["draft"]
    do(case_id, "draft", county.users["officer"], APPROVE)
    assert {t.step for t in open_rows(case_id)} == {"check_a", "check_b"}


def test_repeated_returns_keep_the_task_tree_small(county):
    case_id = start_assessment(county)
    officer, supervisor = county.users["officer"], county.users["supervisor"]
    for _ in range(40):
        do(case_id, "self_assessment", officer, self_assessment_data(case_id))
        operations.return_to(open_task(case_id, "supervisor_review").id, supervisor, target_step=None, reason="再改")
        db.session.commit()
    case = db.session.get(Case, case_id)
    size = len(cases.load_instance(case).workflow.tasks)
    assert size < 40 < engine.MAX_TASKS_PER_INSTANCE  # a reset drops what followed; BPMN loops add to it
    assert len(events(case_id, "return_to")) == 40


# --------------------------------------------------------------------------- 撤回


def test_withdraw_own_submission_while_the_next_step_is_untouched(county):
    case_id = start_assessment(county)
    officer = county.users["officer"]
    first = open_task(case_id, "self_assessment")
    do(case_id, "self_assessment", officer, self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    operations.urge(review.id, county.users["office"], "请尽快")  # urging is not acting
    db.session.commit()

    operations.withdraw(case_id, officer, "漏传一份佐证")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(HumanTask, first.id).status == "withdrawn"
    assert db.session.get(HumanTask, review.id).status == "withdrawn"
    again = open_task(case_id, "self_assessment")
    assert again.id != first.id and "漏传一份佐证" in (again.note or "")
    assert events(case_id, "withdraw")[0].comment == "漏传一份佐证"
    do(case_id, "self_assessment", officer, self_assessment_data(case_id))
    assert open_task(case_id, "supervisor_review")


def test_withdraw_refused_after_the_next_step_acted(county):
    case_id = to_audit(county)
    with pytest.raises(Conflict, match="下一环节已有人办理"):
        operations.withdraw(case_id, county.users["officer"], "想改")  # review already approved
    db.session.rollback()
    with pytest.raises(Conflict, match="没有可撤回"):
        operations.withdraw(case_id, county.users["auditor"], "从未提交")
    db.session.rollback()


@pytest.mark.parametrize("action", ["transfer", "cosign", "delegate", "return"])
def test_withdraw_refused_after_transfer_cosign_or_delegation_on_the_next_step(county, action):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    supervisor = county.users["supervisor"]
    if action == "transfer":
        operations.transfer(review.id, supervisor, people["supervisor2"].id, "出差")
    elif action == "cosign":
        operations.add_cosigner(review.id, supervisor, [county.users["auditor"].id], "请审核组把关")
    elif action == "delegate":
        operations.delegate(review.id, supervisor, people["clerk"].id, "请核对材料")
    else:
        operations.return_to(review.id, supervisor, target_step=None, reason="先退回")
        db.session.commit()
        with pytest.raises(Conflict):
            operations.withdraw(case_id, county.users["officer"], "想改")
        return
    db.session.commit()
    with pytest.raises(Conflict, match="无法撤回"):
        operations.withdraw(case_id, county.users["officer"], "想改")
    db.session.rollback()


# --------------------------------------------------------------------------- 转办


def test_transfer_to_a_holder_of_the_role(county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    supervisor, other = county.users["supervisor"], people["supervisor2"]
    operations.transfer(review.id, supervisor, other.id, "本人出差，请吴副科长办理")
    db.session.commit()
    db.session.expire_all()
    review = db.session.get(HumanTask, review.id)
    assert review.assignee_id == other.id
    assert not cases.may_work_on(supervisor, review) and cases.may_work_on(other, review)
    assert [t.id for t in inbox.todo(other).items] == [review.id]
    assert inbox.todo(supervisor).total == 0
    with pytest.raises(Forbidden):
        steps.submit(review, supervisor, APPROVE)
    db.session.rollback()
    event = events(case_id, "transfer")[0]
    assert (event.user_id, event.data["to_user_id"]) == (supervisor.id, other.id)
    assert event.comment == "本人出差，请吴副科长办理"
    do(case_id, "supervisor_review", other, APPROVE)
    assert db.session.get(HumanTask, review.id).completed_by_id == other.id


def test_transfer_refusals(county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    with pytest.raises(Forbidden):  # a task that is not yours
        operations.transfer(review.id, county.users["other_supervisor"], people["supervisor2"].id, "抢过来")
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="不具有"):  # the target lacks the role in scope
        operations.transfer(review.id, county.users["supervisor"], county.users["other_supervisor"].id, "给财政")
    db.session.rollback()
    people["supervisor2"].active = False
    db.session.commit()
    with pytest.raises(ValidationFailed, match="停用"):
        operations.transfer(review.id, county.users["supervisor"], people["supervisor2"].id, "给停用的人")
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        operations.transfer(review.id, county.users["supervisor"], people["supervisor2"].id, "")
    db.session.rollback()
    assert db.session.get(HumanTask, review.id).assignee_id is None
    assert events(case_id, "transfer") == []


# --------------------------------------------------------------------------- 委派


def test_delegate_then_resolve_then_the_owner_completes(county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    supervisor, clerk = county.users["supervisor"], people["clerk"]
    operations.delegate(review.id, supervisor, clerk.id, "请先核对佐证材料")
    db.session.commit()

    assert [t.id for t in inbox.todo(clerk).items] == [review.id]
    with pytest.raises(Conflict, match="委派给 教育局办事员林"):  # the owner cannot complete while delegated
        steps.submit(review, supervisor, APPROVE)
    db.session.rollback()
    with pytest.raises(Conflict, match="处理完毕交回"):  # nor can the delegate complete it
        steps.submit(review, clerk, APPROVE)
    db.session.rollback()
    with pytest.raises(Forbidden):
        operations.resolve_delegation(review.id, people["supervisor2"], "不是我的")
    db.session.rollback()

    operations.resolve_delegation(review.id, clerk, "材料齐全，无问题")
    db.session.commit()
    assert inbox.todo(clerk).total == 0
    do(case_id, "supervisor_review", supervisor, APPROVE)
    assert [e.action for e in db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.task_id == review.id).order_by(CaseEvent.id)
    )] == ["delegate", "resolve", "approve"]
    assert events(case_id, "resolve")[0].comment == "材料齐全，无问题"


def test_delegate_refusals(county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review")
    with pytest.raises(ValidationFailed, match="本单位同事"):
        operations.delegate(review.id, county.users["supervisor"], people["outsider"].id, "外单位")
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="自己"):
        operations.delegate(review.id, county.users["supervisor"], county.users["supervisor"].id, "自己")
    db.session.rollback()
    with pytest.raises(Forbidden):
        operations.delegate(review.id, county.users["other_supervisor"], people["clerk"].id, "不是我的")
    db.session.rollback()
    operations.delegate(review.id, county.users["supervisor"], people["clerk"].id, "核对")
    db.session.commit()
    with pytest.raises(Conflict, match="已委派"):  # no transfer or second delegation meanwhile
        operations.transfer(review.id, county.users["supervisor"], people["supervisor2"].id, "转走")
    db.session.rollback()
