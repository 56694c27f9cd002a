"""Approval operations through the service layer: 加签, 会签/或签, 代理, 批量审批, 抄送, 催办."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask, Notification
from app.services import access, casefile, cases, inbox, operations, ops_notify, proxies, steps
from app.services.ops_notify import RateLimited
from tests.factories import start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.ops_support import add_people, deploy_ops_processes, open_rows, start

APPROVE = {"decision": "approve"}


def at_review(county) -> int:
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    return case_id


def submit(task: HumanTask, user, data) -> Case:
    case = steps.submit(task, user, data)
    db.session.commit()
    return case


# --------------------------------------------------------------------------- 加签


def test_cosigners_must_all_approve_before_the_main_task_completes(county):
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review")
    supervisor, auditor, head = county.users["supervisor"], county.users["auditor"], county.users["head"]
    rows = operations.add_cosigner(review.id, supervisor, [auditor.id, head.id], "请审核组和校长把关")
    db.session.commit()
    assert {r.assignee_id for r in rows} == {auditor.id, head.id} and all(r.kind == "cosign" for r in rows)
    cosign = next(r for r in rows if r.assignee_id == auditor.id)
    assert [t.id for t in inbox.todo(auditor).items if t.case_id == case_id] == [cosign.id]
    assert access.can_view_case(head, db.session.get(Case, case_id))

    with pytest.raises(Conflict, match="加签人尚未全部审批"):
        steps.submit(review, supervisor, APPROVE)
    db.session.rollback()
    submit(db.session.get(HumanTask, cosign.id), auditor, {"decision": "approve", "comment": "同意"})
    with pytest.raises(Conflict, match="加签人尚未全部审批"):
        steps.submit(db.session.get(HumanTask, review.id), supervisor, APPROVE)
    db.session.rollback()
    other = next(r for r in rows if r.assignee_id == head.id)
    with pytest.raises(ValidationFailed):  # a return needs a reason
        steps.submit(db.session.get(HumanTask, other.id), head, {"decision": "return"})
    db.session.rollback()
    submit(db.session.get(HumanTask, other.id), head, {"decision": "approve"})
    submit(db.session.get(HumanTask, review.id), supervisor, APPROVE)
    assert open_task(case_id, "audit")
    actions = [e.action for e in db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]
    assert actions[-4:] == ["cosign", "cosign_approve", "cosign_approve", "approve"]


def test_a_cosigners_return_returns_the_main_task(county):
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review")
    supervisor, auditor, head = county.users["supervisor"], county.users["auditor"], county.users["head"]
    rows = operations.add_cosigner(review.id, supervisor, [auditor.id, head.id], "会审")
    db.session.commit()
    first = next(r for r in rows if r.assignee_id == auditor.id)
    submit(db.session.get(HumanTask, first.id), auditor, {"decision": "return", "comment": "指标二无佐证"})
    db.session.expire_all()
    assert db.session.get(HumanTask, review.id).status == "returned"
    assert db.session.get(HumanTask, next(r.id for r in rows if r.assignee_id == head.id)).status == "cancelled"
    again = open_task(case_id, "self_assessment")
    assert "指标二无佐证" in (again.note or "")


def test_cosign_refusals(county):
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review")
    supervisor = county.users["supervisor"]
    with pytest.raises(ValidationFailed, match="自己"):
        operations.add_cosigner(review.id, supervisor, [supervisor.id], "x")
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        operations.add_cosigner(review.id, supervisor, [], "x")
    db.session.rollback()
    with pytest.raises(Forbidden):
        operations.add_cosigner(review.id, county.users["auditor"], [county.users["head"].id], "不是我的")
    db.session.rollback()
    operations.add_cosigner(review.id, supervisor, [county.users["head"].id], "x")
    db.session.commit()
    with pytest.raises(ValidationFailed, match="已在加签中"):
        operations.add_cosigner(review.id, supervisor, [county.users["head"].id], "again")
    db.session.rollback()


# --------------------------------------------------------------------------- 会签 / 或签


def test_countersign_all_completes_when_everyone_approved(county):
    people = add_people(county)
    deploy_ops_processes()
    case_id = start(county, "ops_countersign")
    do(case_id, "prepare", county.users["officer"], APPROVE)
    rows = open_rows(case_id, "review")
    assert {r.assignee_id for r in rows} == {county.users["supervisor"].id, people["supervisor2"].id}
    assert {r.kind for r in rows} == {"countersign"}
    mine = next(r for r in rows if r.assignee_id == county.users["supervisor"].id)
    submit(mine, county.users["supervisor"], APPROVE)
    assert [r.assignee_id for r in open_rows(case_id, "review")] == [people["supervisor2"].id]
    assert open_rows(case_id, "final") == []
    event = db.session.scalars(select(CaseEvent).where(CaseEvent.task_id == mine.id)).one()
    assert event.data["countersign_pending"] == 1
    theirs = open_rows(case_id, "review")[0]
    submit(theirs, people["supervisor2"], APPROVE)
    assert open_rows(case_id, "review") == []
    final = open_rows(case_id, "final")
    assert len(final) == 1 and final[0].kind == "task" and final[0].assignee_id is None  # 或签: anyone of the role
    submit(final[0], county.users["office"], APPROVE)
    assert db.session.get(Case, case_id).status == "completed"


def test_countersign_any_return_returns_the_step(county):
    people = add_people(county)
    deploy_ops_processes()
    case_id = start(county, "ops_countersign")
    do(case_id, "prepare", county.users["officer"], APPROVE)
    rows = open_rows(case_id, "review")
    submit(next(r for r in rows if r.assignee_id == people["supervisor2"].id), people["supervisor2"], APPROVE)
    mine = open_rows(case_id, "review")[0]
    submit(mine, county.users["supervisor"], {"decision": "return", "reason": "材料不全"})
    assert open_rows(case_id, "review") == []
    assert [r.step for r in open_rows(case_id)] == ["prepare"]
    do(case_id, "prepare", county.users["officer"], APPROVE)
    assert len(open_rows(case_id, "review")) == 2  # a new round asks everyone again


# --------------------------------------------------------------------------- 代理


def test_proxy_sees_and_completes_within_the_window_and_history_names_both(county):
    people = add_people(county)
    case_id = at_review(county)
    supervisor, clerk = county.users["supervisor"], people["clerk"]
    review = open_task(case_id, "supervisor_review")
    assert not cases.may_work_on(clerk, review)
    now = clock.now()
    window = proxies.set_proxy(supervisor, clerk.id, now - dt.timedelta(minutes=1), now + dt.timedelta(days=3), "休假")
    db.session.commit()
    assert [t.id for t in inbox.todo(clerk).items] == [review.id]
    assert cases.may_work_on(clerk, review) and access.can_view_case(clerk, review.case)
    # only the principal's own tasks: not the finance bureau's review (another supervisor's scope)
    elsewhere = start_assessment(county, county.other)
    do(elsewhere, "self_assessment", county.users["other_officer"], self_assessment_data(elsewhere))
    foreign = open_task(elsewhere, "supervisor_review")
    assert [t.id for t in inbox.todo(clerk).items] == [review.id]
    assert not cases.may_work_on(clerk, foreign) and not access.can_view_case(clerk, foreign.case)
    with pytest.raises(Forbidden):
        steps.submit(foreign, clerk, APPROVE)
    db.session.rollback()

    submit(review, clerk, APPROVE)
    db.session.expire_all()
    done = db.session.get(HumanTask, review.id)
    assert (done.completed_by_id, done.acting_for_id) == (clerk.id, supervisor.id)
    event = db.session.scalars(select(CaseEvent).where(CaseEvent.task_id == review.id)).one()
    assert event.user_id == clerk.id and event.data["on_behalf_of"] == supervisor.id
    item = next(i for i in casefile.history(db.session.get(Case, case_id)) if i.action == "approve")
    assert item.actor == "教育局办事员林" and "代 教育局周科长 办理" in item.detail
    proxies.end_proxy(supervisor, window.id)
    db.session.commit()


def test_proxy_window_start_and_end(county):
    people = add_people(county)
    case_id = at_review(county)
    supervisor, clerk = county.users["supervisor"], people["clerk"]
    review = open_task(case_id, "supervisor_review")
    now = clock.now()
    window = proxies.set_proxy(supervisor, clerk.id, now + dt.timedelta(days=1), now + dt.timedelta(days=2), "出差")
    db.session.commit()
    assert inbox.todo(clerk).total == 0  # not started yet
    with pytest.raises(Forbidden):
        steps.submit(review, clerk, APPROVE)
    db.session.rollback()
    clock.advance(dt.timedelta(days=1, hours=1))
    assert inbox.todo(clerk).total == 1 and cases.may_work_on(clerk, review)
    clock.advance(dt.timedelta(days=1))  # past the end
    assert inbox.todo(clerk).total == 0
    with pytest.raises(Forbidden):
        steps.submit(review, clerk, APPROVE)
    db.session.rollback()
    # ended early
    clock.reset()
    with pytest.raises(Conflict, match="重叠"):
        proxies.set_proxy(supervisor, clerk.id, now, now + dt.timedelta(days=5), "重叠")
    db.session.rollback()
    proxies.end_proxy(supervisor, window.id)
    db.session.commit()
    clock.advance(dt.timedelta(days=1, hours=1))
    assert inbox.todo(clerk).total == 0
    with pytest.raises(ValidationFailed):
        proxies.set_proxy(supervisor, supervisor.id, now, now + dt.timedelta(days=5), "自己")
    with pytest.raises(ValidationFailed):
        proxies.set_proxy(supervisor, clerk.id, now, now - dt.timedelta(days=1), "倒序")
    with pytest.raises(Forbidden):
        proxies.end_proxy(clerk, window.id)


# --------------------------------------------------------------------------- 批量审批


def test_bulk_approve_marked_step_each_recorded(county):
    case_ids = [at_review(county) for _ in range(3)]
    tasks = [open_task(c, "supervisor_review").id for c in case_ids]
    results = operations.bulk_approve(tasks, county.users["supervisor"], "同意")
    db.session.commit()
    assert [r.ok for r in results] == [True, True, True]
    for case_id, task_id in zip(case_ids, tasks, strict=True):
        assert open_task(case_id, "audit")
        event = db.session.scalars(select(CaseEvent).where(CaseEvent.task_id == task_id)).one()
        assert (event.action, event.comment, event.data) == ("approve", "同意", {"bulk": True})


def test_bulk_approve_reports_each_failure_and_keeps_the_others(county):
    case_ids = [at_review(county) for _ in range(2)]
    first, second = (open_task(c, "supervisor_review").id for c in case_ids)
    do(case_ids[1], "supervisor_review", county.users["supervisor"], APPROVE)  # already done
    results = operations.bulk_approve([first, second, 2_000_000], county.users["supervisor"], None)
    db.session.commit()
    assert [(r.task_id, r.ok, r.status) for r in results] == [(first, True, 200), (second, False, 409),
                                                               (2_000_000, False, 404)]
    assert open_task(case_ids[0], "audit")


def test_bulk_approve_refusals(county):
    case_id = start_assessment(county)
    self_task = open_task(case_id, "self_assessment").id
    with pytest.raises(Forbidden, match="未设置为可批量审批"):
        operations.bulk_approve([self_task], county.users["officer"])
    with pytest.raises(ValidationFailed, match="最多"):
        operations.bulk_approve(list(range(1, 102)), county.users["supervisor"])
    with pytest.raises(ValidationFailed):
        operations.bulk_approve([], county.users["supervisor"])
    other = at_review(county)
    with pytest.raises(ValidationFailed, match="同一环节"):
        operations.bulk_approve([self_task, open_task(other, "supervisor_review").id], county.users["supervisor"])
    db.session.rollback()
    results = operations.bulk_approve([open_task(other, "supervisor_review").id], county.users["auditor"])
    assert [(r.ok, r.status) for r in results] == [(False, 403)]  # not a candidate
    db.session.rollback()
    assert open_task(other, "supervisor_review")


# --------------------------------------------------------------------------- 抄送 / 催办


def test_carbon_copy_gives_read_only_access_and_lists_it(county):
    case_id = at_review(county)
    case = db.session.get(Case, case_id)
    reader = county.users["other_officer"]
    assert not access.can_view_case(reader, case)
    ops_notify.carbon_copy(case_id, county.users["supervisor"], [reader.id], "供参考")
    db.session.commit()
    assert access.can_view_case(reader, case)
    review = open_task(case_id, "supervisor_review")
    assert not cases.may_work_on(reader, review)  # read-only
    page = ops_notify.copies_for(reader)
    assert page.total == 1 and page.items[0][1].id == case_id and page.items[0][0].note == "供参考"
    assert db.session.scalar(select(Notification.kind).where(Notification.user_id == reader.id)) == "cc"
    assert any(i.action == "cc" and "财政局绩效员冯" in i.detail for i in casefile.history(case))
    with pytest.raises(Forbidden):  # someone who cannot see the case cannot copy it
        ops_notify.carbon_copy(case_id, county.users["other_supervisor"], [reader.id], None)
    with pytest.raises(ValidationFailed):
        ops_notify.carbon_copy(case_id, county.users["supervisor"], [county.users["supervisor"].id], None)


def test_urge_notifies_the_candidates_once_an_hour(county):
    people = add_people(county)
    case_id = at_review(county)
    review = open_task(case_id, "supervisor_review")
    office = county.users["office"]
    assert ops_notify.urge(review.id, office, "明天截止") == 2  # both supervisors
    db.session.commit()
    notes = db.session.scalars(select(Notification).where(Notification.kind == "urge")).all()
    assert {n.user_id for n in notes} == {county.users["supervisor"].id, people["supervisor2"].id}
    assert notes[0].body == "明天截止" and notes[0].task_id == review.id
    with pytest.raises(RateLimited) as exc:
        ops_notify.urge(review.id, office, "再催")
    assert exc.value.status == 429
    db.session.rollback()
    clock.advance(dt.timedelta(minutes=61))
    assert ops_notify.urge(review.id, office, None) == 2
    db.session.commit()
    with pytest.raises(ValidationFailed, match="自己"):
        ops_notify.urge(review.id, county.users["supervisor"], None)
    db.session.rollback()
    with pytest.raises(Conflict):
        do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
        ops_notify.urge(review.id, office, None)
    db.session.rollback()
    assert len(db.session.scalars(select(CaseEvent).where(CaseEvent.action == "urge")).all()) == 2
