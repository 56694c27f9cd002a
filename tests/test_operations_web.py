"""The approval operations in the web UI: task-page panel, case-page actions, 抄送我的, bulk and proxy pages."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CaseEvent, HumanTask
from tests.factories import start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.ops_support import add_people
from tests.test_inbox_web import login

APPROVE = {"decision": "approve"}


def at_audit(county) -> int:
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", county.users["supervisor"], APPROVE)
    return case_id


def test_return_from_the_task_page_reaches_the_submitter_with_the_reason(app, county):
    case_id = at_audit(county)
    audit = open_task(case_id, "audit").id
    auditor = login(app, county.users["auditor"])
    page = auditor.get(f"/tasks/{audit}").get_data(as_text=True)
    assert 'id="task-ops"' in page and 'value="self_assessment"' in page and 'value="supervisor_review"' in page
    assert "批量审批本环节" in page  # audit is marked bulk-approvable
    refused = auditor.post(f"/tasks/{audit}/return", {"return-target_step": "self_assessment", "return-reason": ""})
    assert refused.status_code == 302 and open_task(case_id, "audit").id == audit
    response = auditor.post(f"/tasks/{audit}/return",
                            {"return-target_step": "self_assessment", "return-reason": "第二项佐证缺失"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks")

    officer = login(app, county.users["officer"])
    task = open_task(case_id, "self_assessment")
    assert f'href="/tasks/{task.id}"' in officer.get("/tasks").get_data(as_text=True)
    page = officer.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="task-note"' in page and "第二项佐证缺失" in page and "审核组赵组长" in page
    assert "第一个办理环节" in page  # nothing to return to from the first step
    case_page = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "审核组核查佐证 → 单位自评" in case_page and "已退回" in case_page


def test_transfer_panel_and_a_task_that_is_not_yours(app, county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review").id
    outsider = login(app, county.users["other_supervisor"])
    assert outsider.post(f"/tasks/{review}/transfer", {"transfer-to_user_id": str(people["supervisor2"].id),
                                                        "transfer-reason": "抢"}).status_code == 404
    supervisor = login(app, county.users["supervisor"])
    page = supervisor.get(f"/tasks/{review}").get_data(as_text=True)
    assert "教育局吴副科长（supervisor2）" in page
    response = supervisor.post(f"/tasks/{review}/transfer", {"transfer-to_user_id": str(people["supervisor2"].id),
                                                              "transfer-reason": "出差"})
    assert response.status_code == 302
    assert db.session.get(HumanTask, review).assignee_id == people["supervisor2"].id
    assert supervisor.get(f"/tasks/{review}").status_code in (403, 404)


def test_delegation_shows_resolve_form_and_hides_the_step_form(app, county):
    people = add_people(county)
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review").id
    supervisor = login(app, county.users["supervisor"])
    supervisor.get(f"/tasks/{review}")
    assert supervisor.post(f"/tasks/{review}/delegate", {"delegate-users": "clerk",
                                                          "delegate-reason": "请核对"}).status_code == 302
    owner_page = supervisor.get(f"/tasks/{review}").get_data(as_text=True)
    assert "已委派给 教育局办事员林" in owner_page and "task-form" not in owner_page
    clerk = login(app, people["clerk"])
    page = clerk.get(f"/tasks/{review}").get_data(as_text=True)
    assert 'id="resolve-form"' in page and "task-form" not in page
    assert clerk.post(f"/tasks/{review}/resolve", {"resolve-comment": "核对无误"}).status_code == 302
    assert "task-form" in supervisor.get(f"/tasks/{review}").get_data(as_text=True)


def test_case_page_withdraw_urge_and_cc_then_copies_list(app, county):
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    review = open_task(case_id, "supervisor_review").id
    office = login(app, county.users["office"])
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f'id="op-urge-{review}"' in page
    assert office.post(f"/tasks/{review}/urge", {f"urge{review}-note": "请抓紧"}).status_code == 302
    again = office.post(f"/tasks/{review}/urge", {f"urge{review}-note": "再催"})
    assert again.status_code == 302 and "一小时内已催办" in office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert office.post(f"/cases/{case_id}/cc", {"cc-users": "other_officer, nobody", "cc-note": "x"}).status_code == 302
    assert "nobody" in office.get(f"/cases/{case_id}").get_data(as_text=True)  # unknown account reported
    assert office.post(f"/cases/{case_id}/cc", {"cc-users": "other_officer", "cc-note": "请知悉"}).status_code == 302

    reader = login(app, county.users["other_officer"])
    listing = reader.get("/cc").get_data(as_text=True)
    copy_id = re.search(r'href="/cc/(\d+)"', listing).group(1)
    assert "请知悉" in listing and "未读" in listing
    opened = reader.get(f"/cc/{copy_id}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/cases/{case_id}")
    assert reader.get(f"/cases/{case_id}").status_code == 200
    assert "未读" not in reader.get("/cc").get_data(as_text=True)
    assert reader.get(f"/tasks/{review}").status_code == 404  # read-only: no task page

    officer = login(app, county.users["officer"])
    assert 'id="op-withdraw"' in officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert officer.post(f"/cases/{case_id}/withdraw", {"withdraw-reason": "重新上传"}).status_code == 302
    assert open_task(case_id, "self_assessment")
    actions = db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id)).all()
    assert {"urge", "cc", "withdraw"} <= set(actions)


def test_bulk_page(app, county):
    case_ids = []
    for _ in range(2):
        case_id = start_assessment(county)
        do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
        case_ids.append(case_id)
    supervisor = login(app, county.users["supervisor"])
    page = supervisor.get("/tasks/bulk").get_data(as_text=True)
    assert "主管部门审核" in page and "step=supervisor_review" in page
    listing = supervisor.get("/tasks/bulk?process=assessment&step=supervisor_review").get_data(as_text=True)
    ids = re.findall(r'name="task_ids" value="(\d+)"', listing)
    assert len(ids) == 2
    response = supervisor.post("/tasks/bulk?process=assessment&step=supervisor_review",
                               {"task_ids": ids, "comment": "同意"})
    assert response.status_code == 200 and "通过 2 件" in response.get_data(as_text=True)
    assert all(open_task(c, "audit") for c in case_ids)


def test_proxy_page(app, county):
    people = add_people(county)
    supervisor = login(app, county.users["supervisor"])
    supervisor.get("/proxies")
    local = clock.to_local(clock.now())
    start, end = local - dt.timedelta(hours=1), local + dt.timedelta(days=2)
    response = supervisor.post("/proxies", {"users": "clerk", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
                                            "ends_at": end.strftime("%Y-%m-%dT%H:%M"), "reason": "休假"})
    assert response.status_code == 302
    page = supervisor.get("/proxies").get_data(as_text=True)
    assert "教育局办事员林" in page and "代理中" in page
    proxy_id = re.search(r'action="/proxies/(\d+)/end"', page).group(1)
    clerk = login(app, people["clerk"])
    assert "教育局周科长" in clerk.get("/proxies").get_data(as_text=True)
    assert supervisor.post(f"/proxies/{proxy_id}/end").status_code == 302
    assert "已结束" in supervisor.get("/proxies").get_data(as_text=True)
