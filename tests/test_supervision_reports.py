"""Monthly reports (monthly_report.bpmn) with overdue flagging, quarterly summaries, the mid-year
evaluation and the quarterly bulletin PDF."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, MidyearEntry, MidyearEvaluation, MonthlyReport, MonthlyReportEntry
from app.services import bulletin, cases, inspections, midyear, reports
from app.services import supervision as sv
from tests.supervision_support import act, actions, build_current, login, pdf, set_today, task, tasks_of, today


@pytest.fixture
def sc():
    return build_current()


def _month() -> str:
    return today().strftime("%Y-%m")


def _open(sc) -> dict[int, MonthlyReport]:
    created = reports.open_month(sc.county.cycle, _month(), sc.county.users["office"])
    db.session.commit()
    return {r.unit_id: r for r in created}


def _fill(report: MonthlyReport, progress: str = "40") -> dict:
    return {"entries": [{"indicator_id": t.id, "progress": progress, "narrative": f"{t.name}按计划推进"}
                        for t in reports.issued_targets(report.cycle_id, report.unit_id)]}


def test_open_month_starts_a_report_for_every_unit_with_issued_targets(sc):
    c = sc.county
    opened = _open(sc)
    assert set(opened) == {c.school.id, c.other.id}  # both have individual indicators
    report = opened[c.school.id]
    nxt = (today().replace(day=1) + dt.timedelta(days=32)).replace(day=5)
    assert clock.to_local(report.due_at).date() == nxt  # the 5th of next month, end of day (China time)
    assert task(report.case_id, "fill_report").role == "unit_officer"
    assert reports.open_month(c.cycle, _month(), c.users["office"]) == []  # idempotent
    with pytest.raises(Forbidden):
        reports.open_month(c.cycle, _month(), c.users["officer"])
    with pytest.raises(ValidationFailed):
        reports.open_month(c.cycle, "2020-01", c.users["office"])


def test_on_time_report_with_a_return_keeps_rounds(sc):
    c = sc.county
    report = _open(sc)[c.school.id]
    data = _fill(report)
    with pytest.raises(ValidationFailed) as info:  # every issued target must be reported
        act(report.case_id, "fill_report", c.users["officer"], {"entries": data["entries"][:1]})
    assert "未填写" in info.value.message
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        act(report.case_id, "fill_report", c.users["officer"], _fill(report, "120"))
    db.session.rollback()
    act(report.case_id, "fill_report", c.users["officer"], data, {"evidence": [pdf("进度表.pdf")]})
    act(report.case_id, "submit_report", c.users["head"], {"decision": "return", "reason": "进度偏低，请说明原因"})
    act(report.case_id, "fill_report", c.users["officer"], _fill(report, "45"))
    act(report.case_id, "submit_report", c.users["head"], {"decision": "approve"})
    db.session.expire_all()
    report = db.session.get(MonthlyReport, report.id)
    assert report.status == "submitted" and not report.is_late
    assert db.session.get(Case, report.case_id).status == "completed"
    rounds = db.session.scalars(select(MonthlyReportEntry.round).where(MonthlyReportEntry.report_id == report.id))
    assert sorted(set(rounds)) == [1, 2]
    assert [e.progress for e in reports.entries(report.id)] == [Decimal("45")] * 2
    assert report not in reports.overdue_reports(c.cycle.id)
    assert not [t for t in tasks_of(report.case_id, "completed") if t.step == "overdue_notice"]


def test_overdue_report_is_flagged_to_the_office_by_timer_and_filed_late(sc, app):
    c = sc.county
    opened = _open(sc)
    school, other = opened[c.school.id], opened[c.other.id]
    act(school.case_id, "fill_report", c.users["officer"], _fill(school))
    act(school.case_id, "submit_report", c.users["head"], {"decision": "approve"})
    # 县财政局 does nothing; the due date passes
    due_local = clock.to_local(other.due_at).date()
    set_today(due_local, hour=22)
    assert cases.fire_due_timers() == 0
    set_today(due_local + dt.timedelta(days=1), hour=8)
    result = app.test_cli_runner().invoke(args=["timers", "run", "--once"])
    assert "fired 1 timer" in result.output
    db.session.expire_all()
    notice = task(other.case_id, "overdue_notice")
    assert notice.role == "office" and cases.may_work_on(c.users["office"], notice)
    assert task(other.case_id, "fill_late").role == "unit_officer"
    assert "timer" in actions(other.case_id)
    overdue = reports.overdue_reports(c.cycle.id)
    assert [r.id for r in overdue] == [other.id] and overdue[0].is_overdue
    html = login(app, c.users["office"]).get("/supervision/reports/").get_data(as_text=True)
    assert "逾期未报" in html and "县财政局" in html

    act(other.case_id, "overdue_notice", c.users["office"], {"note": "电话催报，限 2 日内补报"})
    act(other.case_id, "fill_late", c.users["other_officer"], _fill(other, "30"))
    other_head = c.users["admin"]  # nobody holds unit_head at 县财政局: the admin cannot act either
    assert not cases.may_work_on(other_head, task(other.case_id, "submit_late"))
    from app.services import org

    head = org.create_user("fin_head", "财政局长", "Test#2025pass", unit=c.other)
    org.assign_role(head, "unit_head", c.other)
    db.session.commit()
    act(other.case_id, "submit_late", head, {"decision": "approve"})
    db.session.expire_all()
    other = db.session.get(MonthlyReport, other.id)
    assert other.status == "submitted" and other.is_late
    assert db.session.get(Case, other.case_id).status == "completed"
    assert [r.id for r in reports.overdue_reports(c.cycle.id)] == [other.id]  # still listed: filed late


def test_report_filled_but_not_submitted_by_the_head_is_also_flagged(sc):
    c = sc.county
    report = _open(sc)[c.school.id]
    act(report.case_id, "fill_report", c.users["officer"], _fill(report))
    set_today(clock.to_local(report.due_at).date() + dt.timedelta(days=1))
    assert cases.fire_due_timers() == 2  # 县一中's head and 县财政局's officer both missed it
    db.session.commit()
    steps = {t.step for t in tasks_of(report.case_id)}
    assert steps == {"overdue_notice", "submit_late"}  # the filled entries go straight to the head
    act(report.case_id, "submit_late", c.users["head"], {"decision": "return", "reason": "补充佐证"})
    assert {t.step for t in tasks_of(report.case_id)} == {"overdue_notice", "fill_late"}


def test_quarterly_summary_compiles_the_months(sc):
    c = sc.county
    report = _open(sc)[c.school.id]
    act(report.case_id, "fill_report", c.users["officer"], _fill(report, "60"))
    act(report.case_id, "submit_report", c.users["head"], {"decision": "approve"})
    quarter = sv.quarter_of(_month())
    summaries = reports.compile_quarter_all(c.cycle, quarter, c.users["office"])
    db.session.commit()
    mine = next(s for s in summaries if s.unit_id == c.school.id)
    assert mine.revision == 1 and mine.data["submitted"] == 1
    target = next(t for t in mine.data["targets"] if t["indicator_id"] == sc.targets[0].id)
    assert target["progress"] == {_month(): "60.00"} and target["latest_progress"] == "60.00"
    again = reports.compile_quarter(c.cycle, c.school, quarter, c.users["office"])
    assert again.revision == 2  # recompiling adds a revision
    assert [s.revision for s in reports.latest_summaries(c.cycle.id, quarter) if s.unit_id == c.school.id] == [2]


def test_midyear_evaluation_summary_return_and_rating(sc):
    c = sc.county
    created = midyear.start_midyear(c.cycle, c.users["office"])
    db.session.commit()
    evaluation = next(e for e in created if e.unit_id == c.school.id)
    act(evaluation.case_id, "self_summary", c.users["officer"], {"summary": "上半年完成目标 55%"})
    with pytest.raises(ValidationFailed):
        act(evaluation.case_id, "evaluate", c.users["office"], {"decision": "approve", "comment": "良好"})  # no rating
    db.session.rollback()
    act(evaluation.case_id, "evaluate", c.users["office"], {"decision": "return", "comment": "请补充存在问题"})
    act(evaluation.case_id, "self_summary", c.users["officer"],
        {"summary": "上半年完成目标 55%", "problems": "体育设施不足", "plans": "下半年新建操场"})
    act(evaluation.case_id, "evaluate", c.users["office"], {"decision": "approve", "rating": "good", "comment": "较好"})
    db.session.expire_all()
    evaluation = db.session.get(MidyearEvaluation, evaluation.id)
    assert evaluation.status == "evaluated" and evaluation.rating == "good"
    kinds = [(e.kind, e.round) for e in midyear.history(evaluation.id)]
    assert kinds == [("evaluation", 2), ("summary", 2), ("evaluation", 1), ("summary", 1)]
    entry = db.session.scalar(select(MidyearEntry).limit(1))
    entry.text = "改写"
    with pytest.raises(Exception, match="append-only"):
        db.session.flush()
    db.session.rollback()


@pytest.mark.skipif(shutil.which("wkhtmltopdf") is None or shutil.which("pdftotext") is None,
                    reason="wkhtmltopdf / pdftotext not installed")
def test_quarterly_bulletin_pdf(sc, app, tmp_path):
    c = sc.county
    report = _open(sc)[c.school.id]
    act(report.case_id, "fill_report", c.users["officer"], _fill(report, "70"))
    act(report.case_id, "submit_report", c.users["head"], {"decision": "approve"})
    inspections.record_finding(c.cycle, sc.inspector, {
        "unit_id": c.other.id, "kind": "covert", "category": "service_window", "description": "窗口人员玩手机",
        "found_on": today().isoformat(), "points": "1.5", "open_rectification": True})
    db.session.commit()
    quarter = sv.quarter_of(_month())
    data = bulletin.bulletin_data(c.cycle, quarter)
    lines = {line.unit.id: line for line in data.units}
    assert lines[c.school.id].reports[_month()] == "按期" and lines[c.other.id].deductions == Decimal("1.5")
    assert lines[c.other.id].rect_open == 1 and data.categories["service_window"] == 1
    response = login(app, c.users["office"]).get(f"/supervision/reports/bulletin?quarter={quarter}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    path = tmp_path / "bulletin.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("季度绩效督查简报", "县第一中学", "县财政局", "窗口人员玩手机", "按期"):
        assert expected in text, expected


def test_report_pages_render_for_office_and_unit(sc, app):
    _open(sc)
    office = login(app, sc.county.users["office"]).get("/supervision/reports/")
    assert office.status_code == 200 and "发起月度目标进展报告" in office.get_data(as_text=True)
    unit = login(app, sc.county.users["officer"]).get("/supervision/reports/")
    html = unit.get_data(as_text=True)
    assert unit.status_code == 200 and "县第一中学" in html and "县财政局" not in html
    assert db.session.scalar(select(HumanTask.id).where(HumanTask.step == "fill_report")) is not None


def test_cli_opens_the_current_month(sc, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["supervision", "open-month", "--as", "office"])
    assert "opened 2 monthly report(s)" in result.output, result.output
    again = runner.invoke(args=["supervision", "open-month", "--as", "office"])
    assert "opened 0 monthly report(s)" in again.output
    refused = runner.invoke(args=["supervision", "open-month", "--as", "officer"])
    assert refused.exit_code != 0 and "仅绩效办" in refused.output
