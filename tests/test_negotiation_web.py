"""三上三下 through HTTP: step forms with target rows, errors on the rows, returns, version pages, access."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CaseEvent, TargetVersion
from app.services import negotiation, targets
from tests.factories import build_negotiation_county, run_negotiation
from tests.negotiation_support import act, login, open_step, row_fields, unlink_issued  # noqa: F401


@pytest.fixture
def county():
    built = build_negotiation_county()
    db.session.commit()
    return built


def _started(county):
    case = negotiation.start_negotiation(county.cycle, county.school, county.users["office"])
    db.session.commit()
    return case


def test_propose_through_the_form_with_blank_rows(app, county):
    case = _started(county)
    task = open_step(case.id, "propose")
    officer = login(app, county.users["officer"])
    page = officer.get(f"/tasks/{task.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('class="target-row"') == 5  # blank rows for a first proposal
    assert "items-4-points" in html and "target_rows.js" in html
    assert "教务处" in html and "个性指标总分 <strong>50</strong>" in html
    fields = row_fields(county.items())
    fields.update({"items-3-name": "", "items-4-points": "", "comment": "首次申报"})
    response = officer.post(f"/tasks/{task.id}", fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    version = targets.latest_version(case)
    assert version.stage == "up1" and len(version.items) == 3
    assert version.note == "首次申报"
    assert open_step(case.id).step == "submit_proposal"


def test_row_errors_come_back_on_the_rows(app, county):
    case = _started(county)
    task = open_step(case.id, "propose")
    officer = login(app, county.users["officer"])
    officer.get(f"/tasks/{task.id}")
    items = county.items()
    items[1]["deadline"] = "2099-01-01"
    items[2]["points"] = "1.234"
    fields = row_fields(items)
    fields["items-0-department_id"] = ""
    # a blank row between filled ones: errors must land on the right inputs
    fields = {k.replace("items-2-", "items-4-"): v for k, v in fields.items()}
    response = officer.post(f"/tasks/{task.id}", fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请选择责任科室" in html
    assert "完成时限应在考核期间" in html
    assert "最多两位小数" in html
    assert db.session.scalar(select(func.count()).select_from(TargetVersion)) == 0
    # the submitted values are kept in the re-rendered rows (renumbered without the gap)
    assert 'value="2099-01-01"' in html and 'name="items-2-points"' in html and 'value="1.234"' in html


def test_sum_not_matching_is_shown(app, county):
    case = _started(county)
    task = open_step(case.id, "propose")
    officer = login(app, county.users["officer"])
    officer.get(f"/tasks/{task.id}")
    response = officer.post(f"/tasks/{task.id}", row_fields(county.items(points=("20", "20", "20"))))
    assert response.status_code == 422
    assert "分值合计为 60.00" in response.get_data(as_text=True)


def test_return_without_reason_via_web_is_422_and_saves_nothing(app, county):
    case = _started(county)
    act(case.id, "propose", county.users["officer"], {"items": county.items()})
    act(case.id, "submit_proposal", county.users["head"], {"decision": "approve"})
    task = open_step(case.id, "office_review")
    office = login(app, county.users["office"])
    page = office.get(f"/tasks/{task.id}")
    assert "最新一轮目标" in page.get_data(as_text=True)
    events = db.session.scalar(select(func.count()).select_from(CaseEvent))
    response = office.post(f"/tasks/{task.id}", {"decision": "return", "opinion": ""})
    assert response.status_code == 422
    assert "必须填写理由" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == events
    response = office.post(f"/tasks/{task.id}", {"decision": "return", "opinion": "目标值偏低，请重新测算"})
    assert response.status_code == 302
    # the officer sees the reason and the previous round pre-filled
    task = open_step(case.id, "propose")
    page = login(app, county.users["officer"]).get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "目标值偏低，请重新测算" in page and 'id="last-return"' in page
    assert f'value="{county.items()[0]["name"]}"' in page and 'value="G01"' in page


def test_finalize_form_sets_the_tier(app, county):
    u = county.users
    case = _started(county)
    act(case.id, "propose", u["officer"], {"items": county.items()})
    act(case.id, "submit_proposal", u["head"], {"decision": "approve"})
    act(case.id, "office_review", u["office"], {"decision": "comment", "comment": "请细化"})
    act(case.id, "revise", u["officer"], {"items": county.items()})
    act(case.id, "supervisor_opinion", u["supervisor"], {"opinion": "目标合理", "suggested_tier": "II"})
    task = open_step(case.id, "finalize")
    office = login(app, u["office"])
    html = office.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "主管部门审核意见" in html and "目标合理" in html
    fields = row_fields(targets.latest_version(case).items)
    missing = office.post(f"/tasks/{task.id}", {**fields, "decision": "finalize"})
    assert missing.status_code == 422 and "定稿时必须选择难度档次" in missing.get_data(as_text=True)
    response = office.post(f"/tasks/{task.id}", {**fields, "decision": "finalize", "tier": "II", "opinion": "同意"})
    assert response.status_code == 302, response.get_data(as_text=True)
    latest = targets.latest_version(case)
    assert (latest.stage, latest.tier) == ("down2", "II")


def test_other_units_officer_cannot_list_open_or_complete(app, county):
    case = _started(county)
    task = open_step(case.id, "propose")
    other = login(app, county.users["other_officer"])
    assert f"/tasks/{task.id}" not in other.get("/tasks").get_data(as_text=True)
    assert other.get(f"/tasks/{task.id}").status_code == 404
    assert other.post(f"/tasks/{task.id}", row_fields(county.items())).status_code == 404
    assert other.get(f"/targets/cases/{case.id}").status_code == 404
    assert other.get(f"/cases/{case.id}").status_code == 404
    # the supervisor covers the unit: may view the case, but not act on the officer's task
    supervisor = login(app, county.users["supervisor"])
    assert supervisor.get(f"/targets/cases/{case.id}").status_code == 200
    assert supervisor.post(f"/tasks/{task.id}", row_fields(county.items())).status_code == 403
    assert open_step(case.id).id == task.id


def test_rounds_and_diff_pages(app, county):
    case = run_negotiation(county, returns=1)
    officer = login(app, county.users["officer"])
    rounds = officer.get(f"/targets/cases/{case.id}")
    html = rounds.get_data(as_text=True)
    assert rounds.status_code == 200
    assert html.count('class="round version"') == 7
    assert "三下：审定下达" in html and "已下达" in html and "摘要不符" not in html
    diff = officer.get(f"/targets/cases/{case.id}/diff?a=4&b=5")
    text = diff.get_data(as_text=True)
    assert diff.status_code == 200 and "难度档次" in text and "Ⅱ档" in text
    same = officer.get(f"/targets/cases/{case.id}/diff?a=1&b=2").get_data(as_text=True)
    assert "两版目标完全相同" in same
    assert officer.get(f"/targets/cases/{case.id}/diff?a=1&b=99").status_code == 404
    issued = officer.get(f"/unit/cycles/{county.cycle.id}/units/{county.school.id}/targets")
    page = issued.get_data(as_text=True)
    assert issued.status_code == 200 and 'id="issued-targets"' in page and county.items()[0]["name"] in page
    assert "党风廉政建设" in page
    assert login(app, county.users["other_officer"]).get(
        f"/unit/cycles/{county.cycle.id}/units/{county.school.id}/targets"
    ).status_code == 404


def test_office_board_and_bulk_start(app, county):
    office = login(app, county.users["office"])
    board = office.get(f"/office/cycles/{county.cycle.id}/negotiations")
    html = board.get_data(as_text=True)
    assert board.status_code == 200 and "为未启动的 2 个单位启动目标协商" in html
    response = office.post(f"/office/cycles/{county.cycle.id}/negotiations/start")
    assert response.status_code == 302
    rows = targets.board(county.cycle)
    assert all(r.case is not None and r.stage == "up1" for r in rows)
    html = office.get(f"/office/cycles/{county.cycle.id}/negotiations").get_data(as_text=True)
    assert "启动目标协商</button>" not in html and html.count("一上：单位申报") >= 2
    assert login(app, county.users["officer"]).get(f"/office/cycles/{county.cycle.id}/negotiations").status_code == 403


def test_every_step_page_renders(app, county):
    """Each step's page (with its context) renders for its candidate."""
    u = county.users
    case = _started(county)
    plan = [
        ("propose", u["officer"], {"items": county.items()}),
        ("submit_proposal", u["head"], {"decision": "approve"}),
        ("office_review", u["office"], {"decision": "comment", "comment": "请细化"}),
        ("revise", u["officer"], {"items": county.items()}),
        ("supervisor_opinion", u["supervisor"], {"opinion": "同意"}),
        ("finalize", u["office"], {"decision": "finalize", "tier": "I"}),
        ("confirm", u["head"], {"decision": "confirm"}),
        ("committee_approval", u["committee"], {"decision": "approve"}),
        ("issue", u["office"], {"comment": "下达"}),
    ]
    for step, user, data in plan:
        task = open_step(case.id, step)
        page = login(app, user).get(f"/tasks/{task.id}")
        assert page.status_code == 200, (step, page.get_data(as_text=True)[:2000])
        assert "查看各轮目标及差异" in page.get_data(as_text=True)
        act(case.id, step, user, data)
    assert db.session.get(type(case), case.id).status == "completed"
