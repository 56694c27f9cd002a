"""Results and publicity through HTTP: permissions, committee approval page, public objections
(validation, window, rate limit), the appeal decision form, satisfaction entry, exports, archive."""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Appeal, ArchiveRecord, SocialEvaluation
from app.services import publicity, results
from tests.factories import build_results_county
from tests.test_inbox_web import Browser, login
from tests.test_results_flow import approve_all, finish_publicity


@pytest.fixture
def county7():
    return build_results_county()


def test_results_pages_are_for_office_and_committee_only(app, county7):
    c = county7
    urls = [f"/results/{c.cycle.id}", f"/results/units/{c.units['R1-01'].id}", f"/results/{c.cycle.id}/results.xlsx",
            f"/results/{c.cycle.id}/satisfaction"]
    for who in ("head-R1-01", "officer", "assessor"):
        browser = login(app, c.users[who])
        for url in urls:
            assert browser.get(url).status_code == 403, (who, url)
        assert "考核结果</a>" not in browser.get("/tasks").get_data(as_text=True)
    anonymous = Browser(app)
    assert anonymous.get(urls[0]).status_code == 302
    committee = login(app, c.users["committee"])
    assert committee.get(urls[0]).status_code == 200
    assert "考核结果</a>" in committee.get("/tasks").get_data(as_text=True)
    assert committee.get(urls[3]).status_code == 403  # satisfaction entry is the office's


def test_committee_approves_a_group_and_the_public_page_shows_it(app, county7):
    c = county7
    office = login(app, c.users["office"])
    page = office.get(f"/results/{c.cycle.id}").get_data(as_text=True)
    assert "东城镇" in page and "待审定" in page and "审定并公示" not in page  # office cannot approve
    head = login(app, c.users["head-R1-01"])
    r1 = c.groups["R1"].id
    assert head.post(f"/results/{c.cycle.id}/groups/{r1}/approve", {"note": ""}).status_code == 403
    committee = login(app, c.users["committee"])
    page = committee.get(f"/results/{c.cycle.id}").get_data(as_text=True)
    assert "审定并公示一类乡镇" in page and "<svg" in page and "总分分布" in page
    response = committee.post(f"/results/{c.cycle.id}/groups/{r1}/approve", {"note": "同意公示"},
                              follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "第 1 轮公示已开始" in body and "公示中" in body
    assert publicity.current_publication(c.cycle.id, r1).reason == "同意公示"
    public = Browser(app).get("/public/").get_data(as_text=True)
    assert "一类乡镇" in public and "东城镇" in public and "公示中" in public and "提出异议" in public
    assert "县直部门" not in public  # not approved yet
    again = committee.post(f"/results/{c.cycle.id}/groups/{r1}/approve", {"note": ""}, follow_redirects=True)
    assert "不能重复审定" in again.get_data(as_text=True)


def test_group_not_ready_lists_units_on_the_page(app):
    c = build_results_county(drive=False)
    committee = login(app, c.users["committee"])
    page = committee.get(f"/results/{c.cycle.id}").get_data(as_text=True)
    assert "尚未进入考核委员会审定环节" in page and "县农业农村局（单位自评）" in page
    response = committee.post(f"/results/{c.cycle.id}/groups/{c.groups['R2'].id}/approve", {"note": ""},
                              follow_redirects=True)
    assert "不能按组审定" in response.get_data(as_text=True)


def test_public_objection_requires_contact_and_is_rate_limited(app, county7):
    c = county7
    approve_all(c)
    rows = results.current(c.cycle)
    public = Browser(app)
    form = public.get(f"/public/results/{rows[0].id}/objection")
    assert form.status_code == 200 and "联系电话" in form.get_data(as_text=True)
    missing = public.post(f"/public/results/{rows[0].id}/objection", {"contact_name": "张三", "reason": "有异议"})
    assert missing.status_code == 422 and "请填写联系电话" in missing.get_data(as_text=True)
    bad_phone = public.post(f"/public/results/{rows[0].id}/objection",
                            {"contact_name": "张三", "contact_phone": "abc", "reason": "有异议"})
    assert bad_phone.status_code == 422 and "联系电话格式不正确" in bad_phone.get_data(as_text=True)
    for row in rows[:5]:
        response = public.post(f"/public/results/{row.id}/objection",
                               {"contact_name": "张三", "contact_phone": "13800000000", "reason": "对排名有异议"},
                               follow_redirects=True)
        assert "异议已受理" in response.get_data(as_text=True)
    sixth = public.post(f"/public/results/{rows[5].id}/objection",
                        {"contact_name": "张三", "contact_phone": "13800000000", "reason": "对排名有异议"})
    assert sixth.status_code == 429 and "每小时最多提出 5 次异议" in sixth.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Appeal)) == 5
    other = Browser(app)
    other.get(f"/public/results/{rows[5].id}/objection", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    ok = other.post(f"/public/results/{rows[5].id}/objection",
                    {"contact_name": "李四", "contact_phone": "13900000000", "reason": "异议"},
                    environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert ok.status_code == 302
    appeal = db.session.scalars(select(Appeal).order_by(Appeal.id.desc())).first()
    assert appeal.appellant_kind == "public" and appeal.contact_phone == "13900000000"
    lookup = Browser(app).get(f"/public/appeal?ref={appeal.reference}").get_data(as_text=True)
    assert "申诉正在处理中" in lookup
    clock.advance(dt.timedelta(hours=1, minutes=1))  # the window slides
    assert public.post(f"/public/results/{rows[6].id}/objection",
                       {"contact_name": "张三", "contact_phone": "13800000000", "reason": "异议"}).status_code == 302


def test_objection_after_the_window_is_refused_publicly_and_logged_in(app, county7):
    c = county7
    approve_all(c)
    row = results.current_of_case(c.cases["R1-01"])
    public = Browser(app)
    public.get(f"/public/results/{row.id}/objection")
    finish_publicity()
    page = Browser(app).get("/public/").get_data(as_text=True)
    assert "结果已确定" in page and "提出异议" not in page
    late = public.post(f"/public/results/{row.id}/objection",
                       {"contact_name": "张三", "contact_phone": "13800000000", "reason": "迟到的异议"})
    assert late.status_code == 409 and "公示期已结束，不再受理申诉" in late.get_data(as_text=True)
    head = login(app, c.users["head-R1-01"])
    response = head.post(f"/cases/{c.cases['R1-01']}/appeal", {"reason": "迟到"}, follow_redirects=True)
    assert "公示期已结束" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Appeal)) == 0


def test_appeal_review_with_evidence_and_decision_with_correction(app, county7):
    c = county7
    approve_all(c)
    case_id = c.cases["R1-04"]
    head = login(app, c.users["head-R1-04"])
    head.get(f"/cases/{case_id}")
    assert head.post(f"/cases/{case_id}/appeal", {"reason": "扣分事项已整改"}).status_code == 302
    from tests.helpers import open_task

    office = login(app, c.users["office"])
    review = open_task(case_id, "appeal_review").id
    office.get(f"/tasks/{review}")
    files = {"finding": "核查了整改记录", "evidence": (io.BytesIO(b"%PDF-1.4 evidence"), "整改记录.pdf")}
    response = office.post(f"/tasks/{review}", files, content_type="multipart/form-data")
    assert response.status_code == 302
    committee = login(app, c.users["committee"])
    decision = open_task(case_id, "appeal_decision").id
    page = committee.get(f"/tasks/{decision}").get_data(as_text=True)
    assert "整改记录.pdf" in page and "当前公示结果" in page and "扣分 2.00" in page
    assert committee.post(f"/tasks/{decision}", {"upheld": "y", "note": "成立"}).status_code == 422
    bad = committee.post(f"/tasks/{decision}", {"upheld": "y", "deductions": "一分", "note": "成立"})
    assert bad.status_code == 422 and "以逗号分隔" in bad.get_data(as_text=True)
    ok = committee.post(f"/tasks/{decision}", {"upheld": "y", "deductions": "无", "satisfaction": "100",
                                                 "common": "30", "individual": "50", "note": "扣分依据不足"})
    assert ok.status_code == 302
    rows = {r.unit.code: r for r in results.current(c.cycle, c.groups["R1"].id)}
    assert rows["R1-04"].rank == 1 and rows["R1-04"].deductions == 0 and rows["R1-04"].revision == 2
    public = Browser(app).get("/public/").get_data(as_text=True)
    assert "第 2 轮公示" in public and "更正后重新排名" in public
    case_page = head.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "更正后总分 95.00" in case_page


def test_office_enters_satisfaction(app, county7):
    c = county7
    unit = c.units["R2-02"]
    db.session.execute(SocialEvaluation.__table__.delete().where(SocialEvaluation.unit_id == unit.id))
    db.session.commit()
    committee = login(app, c.users["committee"])
    page = committee.get(f"/results/{c.cycle.id}").get_data(as_text=True)
    assert "尚无社会评价满意率：县交通运输局" in page and "审定并公示县直部门" not in page
    office = login(app, c.users["office"])
    form = office.get(f"/results/{c.cycle.id}/satisfaction").get_data(as_text=True)
    assert "未录入" in form
    assert office.post(f"/results/{c.cycle.id}/satisfaction", {f"rate-{unit.id}": "150"}).status_code == 200
    response = office.post(f"/results/{c.cycle.id}/satisfaction", {f"rate-{unit.id}": "88.5"},
                           follow_redirects=True)
    assert "已录入 1 个单位" in response.get_data(as_text=True)
    assert "审定并公示县直部门" in committee.get(f"/results/{c.cycle.id}").get_data(as_text=True)


def test_excel_export_has_every_unit_and_group(app, county7):
    c = county7
    approve_all(c)
    office = login(app, c.users["office"])
    response = office.get(f"/results/{c.cycle.id}/results.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["考核结果汇总", "排名-R1", "排名-R2"]
    summary = list(book["考核结果汇总"].iter_rows(values_only=True))
    assert summary[0][:4] == ("组别", "名次", "单位编码", "单位名称") and len(summary) == 8
    r2 = list(book["排名-R2"].iter_rows(values_only=True))[1:]
    assert [(r[1], r[2]) for r in r2] == [(1, "R2-01"), (2, "R2-02"), (3, "R2-03")]
    stored = {r.unit.code: r for r in results.current(c.cycle)}
    assert r2[0][12] == pytest.approx(float(stored["R2-01"].total)) and r2[2][11] == "是" and r2[2][13] == "C"


def _pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def test_pdf_notice_and_report_contain_unit_names(app, county7):
    c = county7
    approve_all(c)
    office = login(app, c.users["office"])
    notice = office.get(f"/results/{c.cycle.id}/groups/{c.groups['R1'].id}/notice.pdf")
    assert notice.status_code == 200 and notice.data.startswith(b"%PDF")
    text = _pdftotext(notice.data)
    assert "考核结果的公示" in text and all(name in text for name in ("东城镇", "西河镇", "南山镇", "北岭镇"))
    report = _pdftotext(office.get(f"/results/{c.cycle.id}/report.pdf").data)
    assert "结果报告" in report and "县自然资源局" in report and "否决" in report and "总分分布" in report


def test_finalize_page_and_archive_correction(app, county7):
    c = county7
    approve_all(c)
    office = login(app, c.users["office"])
    r1 = c.groups["R1"].id
    office.get(f"/results/{c.cycle.id}")
    early = office.post(f"/results/{c.cycle.id}/groups/{r1}/finalize", follow_redirects=True)
    assert "公示期未满" in early.get_data(as_text=True)
    clock.advance(dt.timedelta(days=10))
    from app.services import cases

    cases.fire_due_timers()
    db.session.commit()
    office.get(f"/results/{c.cycle.id}")
    done = office.post(f"/results/{c.cycle.id}/groups/{r1}/finalize", follow_redirects=True)
    assert "4 个单位已归入考评档案" in done.get_data(as_text=True)
    record = db.session.scalars(select(ArchiveRecord).where(ArchiveRecord.source == "cycle")).first()
    unit_page = office.get(f"/results/units/{record.unit_id}").get_data(as_text=True)
    assert "年度考核" in unit_page and "历史等次" in unit_page and "更正" in unit_page
    office.get(f"/results/archive/{record.id}/correct")
    response = office.post(f"/results/archive/{record.id}/correct", {"grade": "B", "note": "复查更正"},
                           follow_redirects=True)
    assert "已记录考评档案更正" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ArchiveRecord).where(
        ArchiveRecord.supersedes_id == record.id)) == 1
    committee = login(app, c.users["committee"])
    assert committee.get(f"/results/archive/{record.id}/correct").status_code == 403
