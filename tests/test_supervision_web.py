"""The supervision pages through the web forms: access, step forms with their context, bad input."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    CadreMonth,
    DeductionAppeal,
    Finding,
    HumanTask,
    LedgerItem,
    MonthlyReport,
    Rectification,
    SpotCheckDraw,
    Survey,
)
from app.services import deduction_appeals, inspections, reports
from tests.supervision_support import Browser, build_current, login, task, today


@pytest.fixture
def sc():
    return build_current()


def _pdf() -> tuple[io.BytesIO, str]:
    return io.BytesIO(b"%PDF-1.4\n%x\n"), "照片.pdf"


def test_access_to_the_supervision_pages(sc, app):
    c = sc.county
    assert Browser(app).get("/supervision/").status_code == 302  # login first
    officer = login(app, c.users["officer"])
    assert officer.get("/supervision/").headers["Location"].endswith("/supervision/unit")
    assert officer.get("/supervision/findings").status_code == 403
    assert officer.get("/supervision/findings/new").status_code == 403
    assert officer.get("/supervision/surveys/").status_code == 403
    inspector = login(app, sc.inspector)
    for url in ("/supervision/", "/supervision/findings", "/supervision/findings/new", "/supervision/draws",
                "/supervision/rectifications", "/supervision/rectifications/new", "/supervision/reports/"):
        assert inspector.get(url).status_code == 200, url
    office = login(app, c.users["office"])
    for url in ("/supervision/surveys/", "/supervision/ledger/new", "/supervision/reports/cadres"):
        assert office.get(url).status_code == 200, url
    assert "督查整改" in office.get("/tasks").get_data(as_text=True)


def test_inspector_records_a_finding_through_the_form(sc, app):
    c = sc.county
    browser = login(app, sc.inspector)
    browser.get("/supervision/findings/new")
    form = {"unit_id": str(c.school.id), "kind": "open", "category": "work_log", "draw_id": "0",
            "found_on": today().isoformat(), "description": "工作日志缺记 5 天", "indicator_id": "0", "points": "0.8"}
    bad = browser.post("/supervision/findings/new", {**form, "description": ""})
    assert bad.status_code == 422 and db.session.scalar(select(Finding.id)) is None
    future = browser.post("/supervision/findings/new", {**form, "found_on": "2999-01-01"})
    assert future.status_code == 422 and "不能晚于今天" in future.get_data(as_text=True)
    done = browser.post("/supervision/findings/new", {**form, "evidence": _pdf()}, content_type="multipart/form-data")
    assert done.status_code == 302
    finding = db.session.scalar(select(Finding))
    assert finding.points == Decimal("0.80") and finding.ledger_item_id
    page = browser.get(f"/supervision/findings/{finding.id}").get_data(as_text=True)
    assert "工作日志缺记 5 天" in page and "照片.pdf" in page


def test_draw_through_the_form(sc, app):
    browser = login(app, sc.inspector)
    browser.get("/supervision/draws")
    response = browser.post("/supervision/draws", {"period": "五月", "size": "1", "category": "", "seed": "x1"})
    assert response.status_code == 302
    draw = db.session.scalar(select(SpotCheckDraw))
    assert draw.seed == "x1" and len(draw.drawn) == 1
    assert "复核一致" in browser.get(f"/supervision/draws/{draw.id}").get_data(as_text=True)


def test_complaint_rectification_and_plan_form(sc, app):
    c = sc.county
    office = login(app, c.users["office"])
    office.get("/supervision/rectifications/new")
    response = office.post("/supervision/rectifications/new", {
        "unit_id": str(c.school.id), "source": "complaint", "source_ref": "", "title": "乱收费",
        "problem": "家长投诉收取资料费", "verifier_role": "office"})
    assert response.status_code == 302
    rect = db.session.scalar(select(Rectification))
    officer = login(app, c.users["officer"])
    plan_task = task(rect.case_id, "submit_plan")
    page = officer.get(f"/tasks/{plan_task.id}").get_data(as_text=True)
    assert "家长投诉收取资料费" in page and 'name="measures"' in page
    refused = officer.post(f"/tasks/{plan_task.id}", {"target": "清退", "items": "", "deadline": "", "measures": ""})
    assert refused.status_code == 422 and "缺少：具体事项、具体时限、具体措施" in refused.get_data(as_text=True)
    bad_ref = office.post("/supervision/rectifications/new", {
        "unit_id": str(c.school.id), "source": "appeal", "source_ref": "SSNOPE", "title": "x", "problem": "y",
        "verifier_role": "office"})
    assert "申诉编号不存在" in bad_ref.get_data(as_text=True)


def test_deduction_appeal_review_form_shows_the_item(sc, app):
    c = sc.county
    finding = inspections.record_finding(c.cycle, sc.inspector, {
        "unit_id": c.school.id, "kind": "open", "category": "attendance", "description": "迟到三人",
        "found_on": today().isoformat(), "points": "1"})
    db.session.commit()
    appeal = deduction_appeals.file_appeal(finding.ledger_item_id, c.users["officer"], "其中一人公出")
    db.session.commit()
    review = task(appeal.case_id, "review")
    office = login(app, c.users["office"])
    page = office.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "迟到三人" in page and "其中一人公出" in page
    response = office.post(f"/tasks/{review.id}", {"decision": "upheld", "action": "change", "new_points": "0.67",
                                                   "answer": "核减一人"})
    assert response.status_code == 302
    db.session.expire_all()
    appeal = db.session.get(DeductionAppeal, appeal.id)
    assert appeal.status == "upheld"
    assert db.session.get(LedgerItem, appeal.replacement_item_id).points == Decimal("0.67")


def test_monthly_fill_form(sc, app):
    c = sc.county
    office = login(app, c.users["office"])
    office.get("/supervision/reports/")
    assert office.post("/supervision/reports/open", {"month": today().strftime("%Y-%m")}).status_code == 302
    report = db.session.scalar(select(MonthlyReport).where(MonthlyReport.unit_id == c.school.id))
    fill = task(report.case_id, "fill_report")
    officer = login(app, c.users["officer"])
    page = officer.get(f"/tasks/{fill.id}").get_data(as_text=True)
    assert all(t.name in page for t in sc.targets)
    data = {f"progress-{t.id}": "50" for t in sc.targets}
    data.update({f"narrative-{t.id}": "" for t in sc.targets})
    assert officer.post(f"/tasks/{fill.id}", data).status_code == 422
    data.update({f"narrative-{t.id}": "推进中" for t in sc.targets})
    assert officer.post(f"/tasks/{fill.id}", data).status_code == 302
    assert reports.entries(report.id)[0].narrative == "推进中"
    assert task(report.case_id, "submit_report").role == "unit_head"


def test_survey_and_cadre_pages(sc, app):
    c = sc.county
    office = login(app, c.users["office"])
    office.get("/supervision/surveys/")
    assert office.post("/supervision/surveys/", {"unit_id": str(c.school.id), "round": "year_end"}).status_code == 302
    survey = db.session.scalar(select(Survey))
    assert "已发放调查码 0 个" in office.get(f"/supervision/surveys/{survey.id}").get_data(as_text=True)
    closing = office.post(f"/supervision/surveys/{survey.id}/close")
    assert closing.status_code == 302 and db.session.get(Survey, survey.id).status == "open"  # no answers yet
    head = login(app, c.users["head"])
    head.get("/supervision/reports/cadres")
    response = head.post("/supervision/reports/cadres/open", {"unit_id": str(c.school.id),
                                                             "month": today().strftime("%Y-%m")})
    assert response.status_code == 302
    assert len(db.session.scalars(select(CadreMonth)).all()) == 2
    staff_task = db.session.scalar(select(HumanTask).where(HumanTask.assignee_id == sc.staff[0].id))
    page = login(app, sc.staff[0]).get(f"/tasks/{staff_task.id}")
    assert page.status_code == 200 and 'name="self_score"' in page.get_data(as_text=True)


def test_office_records_a_bonus_on_the_public_ledger(sc, app):
    c = sc.county
    office = login(app, c.users["office"])
    office.get("/supervision/ledger/new")
    response = office.post("/supervision/ledger/new", {"unit_id": str(c.other.id), "kind": "bonus", "points": "1",
                                                       "month": today().strftime("%Y-%m"), "reason": "群众来信表扬"})
    assert response.status_code == 302
    assert "群众来信表扬" in Browser(app).get("/public/ledger").get_data(as_text=True)
    wrong = office.post("/supervision/ledger/new", {"unit_id": str(c.other.id), "kind": "bonus", "points": "1",
                                                    "month": "2001-01", "reason": "x"})
    assert wrong.status_code == 200 and "年度内" in wrong.get_data(as_text=True)
