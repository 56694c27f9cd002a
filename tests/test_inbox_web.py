"""The inbox blueprint through HTTP: lists, the task page, access rules, the case page and appeals."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select, update

from app import clock
from app.extensions import db
from app.models import Appeal, Case, CaseEvent, HumanTask, SelfAssessmentEntry, User
from app.services import cases, inbox_facets, org
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, indicator_ids, open_task, run_to_publicity, self_assessment_data
from tests.web import Browser
from tests.web import login as web_login

TASK_LINK = re.compile(r'href="/tasks/(\d+)"')


def login(app: Flask, user: User) -> Browser:
    """A logged-in Browser whose inbox page opens."""
    browser = web_login(app, user)
    assert browser.get("/tasks").status_code == 200
    return browser


def self_form(case_id: int, narrative: str = "完成良好", **files: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"comment": "请审核"}
    for ind in indicator_ids(case_id):
        data[f"completion-{ind}"] = "95.5"
        data[f"narrative-{ind}"] = f"指标{ind}{narrative}"
    data.update(files)
    return data


def pdf(name: str = "证明材料.pdf", size: int = 0) -> tuple[io.BytesIO, str]:
    return io.BytesIO(b"%PDF-1.4\n" + b"0" * size), name


def event_count(case_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)) or 0


@contextmanager
def count_queries() -> Iterator[list[int]]:
    seen = [0]

    def hit(*args: Any) -> None:
        seen[0] += 1

    event.listen(db.engine, "before_cursor_execute", hit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", hit)


def test_officer_submits_self_assessment_and_supervisor_sees_it(app, county):
    case_id = start_assessment(county)
    officer = login(app, county.users["officer"])
    page = officer.get("/tasks").get_data(as_text=True)
    task_id = open_task(case_id, "self_assessment").id
    assert "县第一中学 2025 年度考核" in page and "单位自评" in page and f'href="/tasks/{task_id}"' in page
    form = officer.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "党风廉政建设" in form and "高考本科上线率" in form and 'enctype="multipart/form-data"' in form

    first = indicator_ids(case_id)[0]
    response = officer.post(f"/tasks/{task_id}", self_form(case_id, **{f"evidence-{first}": [pdf()]}))
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks")
    assert "已提交" in officer.get("/tasks").get_data(as_text=True)
    assert open_task(case_id).step == "supervisor_review"
    assert db.session.scalar(select(func.count()).select_from(SelfAssessmentEntry)) == 3

    supervisor = login(app, county.users["supervisor"])
    listing = supervisor.get("/tasks").get_data(as_text=True)
    assert "主管部门审核" in listing and "县第一中学 2025 年度考核" in listing
    review = supervisor.get(f"/tasks/{open_task(case_id).id}").get_data(as_text=True)
    assert "证明材料.pdf" in review and f"指标{first}完成良好" in review and "95.50%" in review
    assert "请审核" in review  # the officer's comment in the history
    assert "证明材料.pdf" in supervisor.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "单位自评" in officer.get("/tasks/done").get_data(as_text=True)
    assert "暂无待办事项" in officer.get("/tasks").get_data(as_text=True)


def test_return_needs_a_reason_and_the_officer_reads_it(app, county):
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    supervisor = login(app, county.users["supervisor"])
    task_id = open_task(case_id, "supervisor_review").id
    before = event_count(case_id)

    response = supervisor.post(f"/tasks/{task_id}", {"decision": "return", "reason": "  "})
    assert response.status_code == 422
    assert "退回时必须填写理由" in response.get_data(as_text=True)
    db.session.expire_all()
    assert event_count(case_id) == before and open_task(case_id).id == task_id

    response = supervisor.post(f"/tasks/{task_id}", {"decision": "return", "reason": "佐证不足，请补充会议记录"})
    assert response.status_code == 302
    officer = login(app, county.users["officer"])
    again = open_task(case_id, "self_assessment")
    page = officer.get(f"/tasks/{again.id}").get_data(as_text=True)
    assert "佐证不足，请补充会议记录" in page and "退回" in page and "教育局周科长" in page
    assert "党风廉政建设完成良好" in page  # the form is pre-filled from the previous round


def test_other_unit_user_can_neither_see_nor_act(app, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    before = event_count(case_id)
    other = login(app, county.users["other_officer"])
    assert "县第一中学" not in other.get("/tasks").get_data(as_text=True)
    assert other.get(f"/tasks/{task_id}").status_code == 404
    assert other.post(f"/tasks/{task_id}", self_form(case_id)).status_code in (403, 404)
    assert other.get(f"/cases/{case_id}").status_code == 404
    assert other.get("/tasks/999999").status_code == 404
    # the unit head may view the case but is no candidate for the officer's task
    head = login(app, county.users["head"])
    assert head.get(f"/tasks/{task_id}").status_code == 404
    assert head.post(f"/tasks/{task_id}", self_form(case_id)).status_code == 403
    page = head.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "单位自评" in page and "发起" in page and "提出申诉" not in page
    db.session.expire_all()
    assert event_count(case_id) == before and open_task(case_id).id == task_id


def test_second_post_of_the_same_task_is_a_conflict(app, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id).id
    officer = login(app, county.users["officer"])
    assert officer.post(f"/tasks/{task_id}", self_form(case_id)).status_code == 302
    officer.get("/tasks")  # consume the success message
    events = event_count(case_id)
    response = officer.post(f"/tasks/{task_id}", self_form(case_id, "第二次"), follow_redirects=True)
    assert "该任务已办理" in response.get_data(as_text=True)
    db.session.expire_all()
    assert event_count(case_id) == events
    assert db.session.scalar(select(func.max(SelfAssessmentEntry.round))) == 1
    # the completed task opens read-only for the officer who did it
    page = officer.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "只读" in page and f'action="/tasks/{task_id}"' not in page


def test_overdue_filter_pagination_and_no_n_plus_one(app, county):
    first = start_assessment(county)
    officer = login(app, county.users["officer"])
    assert "没有逾期的待办事项" in officer.get("/tasks?overdue=1").get_data(as_text=True)
    db.session.expire_all()
    inbox_facets.clear_cache()  # both pages read their filter choices (no cache hit on either)
    with count_queries() as one:
        officer.get("/tasks")
    for _ in range(4):
        start_assessment(county)
    db.session.expire_all()
    inbox_facets.clear_cache()
    with count_queries() as five:
        page = officer.get("/tasks").get_data(as_text=True)
    assert len(set(TASK_LINK.findall(page))) == 5 and five[0] == one[0]

    paged = officer.get("/tasks?per_page=2").get_data(as_text=True)
    assert len(set(TASK_LINK.findall(paged))) == 2 and "page=3" in paged and "共 5 条" in paged
    last = officer.get("/tasks?per_page=2&page=3").get_data(as_text=True)
    assert len(set(TASK_LINK.findall(last))) == 1

    clock.advance(dt.timedelta(days=11))
    overdue = officer.get("/tasks?overdue=1").get_data(as_text=True)
    assert "tag-overdue" in overdue and "逾期" in overdue and len(set(TASK_LINK.findall(overdue))) == 5
    assert f'href="/tasks/{open_task(first).id}"' in overdue

    do(first, "self_assessment", county.users["officer"], self_assessment_data(first))
    db.session.expire_all()
    with count_queries() as done_one:
        officer.get("/tasks/done")
    waiting = select(HumanTask.case_id).where(HumanTask.status == "open", HumanTask.step == "self_assessment")
    for case_id in list(db.session.scalars(waiting))[:3]:
        do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    db.session.expire_all()
    with count_queries() as done_four:
        done_page = officer.get("/tasks/done").get_data(as_text=True)
    assert done_page.count("单位自评") == 4 and done_four[0] == done_one[0]
    office = login(app, county.users["office"])
    assert office.get("/cases/mine").get_data(as_text=True).count("县第一中学 2025 年度考核") == 5


def test_every_step_form_through_the_web_and_an_appeal(app, county):
    u = county.users
    case_id = start_assessment(county)
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "approve"})
    auditor = login(app, u["auditor"])
    assert auditor.post(f"/tasks/{open_task(case_id).id}", {"decision": "approve"}).status_code == 302

    assessor = login(app, u["assessor"])
    scoring = open_task(case_id, "scoring").id
    page = assessor.get(f"/tasks/{scoring}").get_data(as_text=True)
    assert "95.00%" in page and "党风廉政建设完成良好" in page  # the self-assessment beside each indicator
    ids = indicator_ids(case_id)
    too_high = {f"points-{i}": "60" for i in ids}
    response = assessor.post(f"/tasks/{scoring}", too_high)
    assert response.status_code == 422 and "得分应在 0–15" in response.get_data(as_text=True)
    assert assessor.post(f"/tasks/{scoring}", {f"points-{i}": "10" for i in ids}).status_code == 302

    monitor = login(app, u["monitor"])
    monitoring = open_task(case_id, "monitoring").id
    response = monitor.post(f"/tasks/{monitoring}", {"flagged": "y", "note": ""})
    assert response.status_code == 422 and "发现异常时必须填写监督意见" in response.get_data(as_text=True)
    assert monitor.post(f"/tasks/{monitoring}", {"flagged": "y", "note": "评分现场有被考核单位人员"}).status_code == 302
    office = login(app, u["office"])
    irregular = open_task(case_id, "irregularity_review").id
    assert office.post(f"/tasks/{irregular}", {"decision": "dismiss", "reason": "核实无影响"}).status_code == 302
    committee = login(app, u["committee"])
    assert committee.post(f"/tasks/{open_task(case_id).id}", {"decision": "approve"}).status_code == 302

    head = login(app, u["head"])
    case_page = head.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "提出申诉" in case_page and "30.00" in case_page
    response = head.post(f"/cases/{case_id}/appeal", {"reason": ""})
    assert response.status_code == 422 and "请填写申诉理由" in response.get_data(as_text=True)
    response = head.post(f"/cases/{case_id}/appeal", {"reason": "依法行政扣分有误"}, follow_redirects=True)
    appeal = db.session.scalar(select(Appeal))
    assert appeal is not None and appeal.appellant_kind == "unit"
    assert f"受理编号 {appeal.reference}" in response.get_data(as_text=True)
    second = head.post(f"/cases/{case_id}/appeal", {"reason": "再次申诉"}, follow_redirects=True)
    assert "已有申诉正在处理" in second.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Appeal)) == 1
    assert login(app, u["other_officer"]).post(f"/cases/{case_id}/appeal", {"reason": "x"}).status_code == 404

    review = open_task(case_id, "appeal_review").id
    page = office.get(f"/tasks/{review}").get_data(as_text=True)
    assert "依法行政扣分有误" in page and "一中郑校长" in page and appeal.reference in page
    assert office.post(f"/tasks/{review}", {"finding": "核查了扣分依据"}).status_code == 302
    decision = open_task(case_id, "appeal_decision").id
    response = committee.post(f"/tasks/{decision}", {"upheld": "y", "note": "扣分依据不足"})
    assert response.status_code == 422 and "申诉成立时必须填写更正后总分" in response.get_data(as_text=True)
    data = {"upheld": "y", "corrected_total": "35", "note": "扣分依据不足"}
    assert committee.post(f"/tasks/{decision}", data).status_code == 302
    answer = open_task(case_id, "appeal_answer").id
    assert office.post(f"/tasks/{answer}", {"answer": "经复核，更正总分为 35 分。"}).status_code == 302

    case_page = head.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "经复核，更正总分为 35 分。" in case_page and "已答复" in case_page and "35.00" in case_page
    assert "裁定申诉成立" in case_page and "发现异常" in case_page
    started = head.get("/cases/mine").get_data(as_text=True)
    assert appeal.reference in started and "经复核，更正总分为 35 分。" in started


def test_a_cadre_of_the_unit_files_an_appeal_and_closed_publicity_is_refused(app, county):
    case_id = start_assessment(county)
    run_to_publicity(county, case_id)
    teacher = org.create_user("teacher", "一中张老师", PASSWORD, unit=county.school)
    org.assign_role(teacher, "staff", county.school)
    db.session.commit()
    browser = login(app, teacher)
    assert "提出申诉" in browser.get(f"/cases/{case_id}").get_data(as_text=True)
    assert browser.post(f"/cases/{case_id}/appeal", {"reason": "个人对结果有异议"}).status_code == 302
    assert db.session.scalar(select(Appeal.appellant_kind)) == "cadre"
    assert "个人对结果有异议" in browser.get("/cases/mine").get_data(as_text=True)

    other = start_assessment(county)
    run_to_publicity(county, other)
    clock.advance(dt.timedelta(days=10))
    cases.fire_due_timers()
    db.session.commit()
    head = login(app, county.users["head"])
    assert "提出申诉" not in head.get(f"/cases/{other}").get_data(as_text=True)
    response = head.post(f"/cases/{other}/appeal", {"reason": "迟到"}, follow_redirects=True)
    assert "公示期已结束" in response.get_data(as_text=True)


def test_todo_rows_escape_every_text_column(app, county):
    """The 待办 rows are rendered outside autoescape with |e on the text columns: markup in a case
    title, a unit name or a step name comes out as text."""
    case_id = start_assessment(county)
    case = db.session.get(Case, case_id)
    case.title = '<script>alert("t")</script>'
    county.school.name = "<b>一中</b>"
    db.session.execute(update(HumanTask).where(HumanTask.case_id == case_id).values(name="<i>自评</i> & 提交"))
    db.session.commit()
    page = login(app, county.users["officer"]).get("/tasks").get_data(as_text=True)
    row = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in row and "<script>" not in row
    assert "&lt;b&gt;一中&lt;/b&gt;" in row and "<b>" not in row
    assert "&lt;i&gt;自评&lt;/i&gt; &amp; 提交" in row and "<i>" not in row
