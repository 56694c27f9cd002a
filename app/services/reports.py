"""Monthly progress reports (monthly_report.bpmn) and quarterly summaries (季度汇总).

The office opens a month: every unit of the cycle with issued targets (individual indicators)
gets a case; the unit_officer fills progress per target, the unit_head submits (or returns). The
report is due on the ``report_due_day`` (default 5) of the next month, end of day, China time; a
timer on the fill and submit steps flags an overdue report to the office (a 逾期督办 task) and the
unit then files late. Data contract per form key:
- monthly_report.fill: {"entries": [{"indicator_id", "progress" (0–100), "narrative"}], "comment"}
  plus files under "evidence"
- monthly_report.submit: {"decision": "approve"|"return", "reason"}
- monthly_report.overdue: {"note"} (the office's 督办 record)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app import clock
from app.errors import NotFound
from app.extensions import db
from app.models import (
    Case,
    Cycle,
    CycleUnit,
    HumanTask,
    Indicator,
    MonthlyReport,
    MonthlyReportEntry,
    QuarterlySummary,
    Unit,
    User,
)
from app.services import cases
from app.services import supervision as sv
from app.services.steps import Checker, FieldSpec, Files, register

DEFAULT_DUE_DAY = 5


def issued_targets(cycle_id: int, unit_id: int) -> list[Indicator]:
    return list(
        db.session.scalars(
            select(Indicator)
            .where(Indicator.cycle_id == cycle_id, Indicator.unit_id == unit_id, Indicator.part == "individual")
            .order_by(Indicator.sort_order, Indicator.id)
        )
    )


def due_at(cycle: Cycle, month: str) -> dt.datetime:
    year, mon = int(month[:4]), int(month[5:7])
    nxt = dt.date(year + mon // 12, mon % 12 + 1, 1)
    day = int(cycle.setting("report_due_day") or DEFAULT_DUE_DAY)
    return sv.end_of_day_utc(nxt.replace(day=min(max(day, 1), 28)))


def open_month(cycle: Cycle, month: str, actor: User) -> list[MonthlyReport]:
    """Start the month's report case of every unit with issued targets (skips units already started)."""
    sv.require_office(actor)
    sv.check_month(month, cycle)
    existing = set(
        db.session.scalars(
            select(MonthlyReport.unit_id).where(MonthlyReport.cycle_id == cycle.id, MonthlyReport.month == month)
        )
    )
    with_targets = set(
        db.session.scalars(
            select(Indicator.unit_id).where(
                Indicator.cycle_id == cycle.id, Indicator.part == "individual", Indicator.unit_id.is_not(None)
            )
        )
    )
    due = due_at(cycle, month)
    created = []
    for unit in sv.participants(cycle.id):
        if unit.id in existing or unit.id not in with_targets:
            continue
        report = MonthlyReport(cycle_id=cycle.id, unit_id=unit.id, month=month, due_at=due, created_at=clock.now())
        db.session.add(report)
        db.session.flush()
        case = cases.start_case(
            "monthly_report",
            unit_id=unit.id,
            title=f"{unit.name} {month} 月度目标进展报告",
            started_by=actor,
            cycle_id=cycle.id,
            data={"report_id": report.id, "due_at": sv.iso(due), "filled": False},
            subject=("monthly_report", report.id),
        )
        report.case_id = case.id
        created.append(report)
    return created


def of_case(case: Case) -> MonthlyReport:
    report = db.session.scalar(select(MonthlyReport).where(MonthlyReport.case_id == case.id))
    if report is None:
        raise NotFound("月度报告不存在")
    return report


def entries(report_id: int, round_no: int | None = None) -> list[MonthlyReportEntry]:
    """The entries of ``round_no`` (default: the latest round)."""
    if round_no is None:
        round_no = db.session.scalar(
            select(func.max(MonthlyReportEntry.round)).where(MonthlyReportEntry.report_id == report_id)
        )
        if round_no is None:
            return []
    return list(
        db.session.scalars(
            select(MonthlyReportEntry)
            .where(MonthlyReportEntry.report_id == report_id, MonthlyReportEntry.round == round_no)
            .order_by(MonthlyReportEntry.id)
        )
    )


def _describe_fill(task: HumanTask) -> list[FieldSpec]:
    report = of_case(task.case)
    items = [
        FieldSpec("indicator_id", "目标", "choice", True,
                  [(str(i.id), i.name) for i in issued_targets(report.cycle_id, report.unit_id)]),
        FieldSpec("progress", "进度(%)", "decimal", True, minimum=0, maximum=100),
        FieldSpec("narrative", "进展情况", "textarea", True),
    ]
    return [
        FieldSpec("entries", "逐项进展", "entries", True, item_fields=items, help="每个下达目标一项"),
        FieldSpec("comment", "备注", "textarea"),
        FieldSpec("evidence", "佐证材料", "file"),
    ]


@register("monthly_report.fill", _describe_fill)
def submit_fill(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    report = of_case(ctx.case)
    wanted = {i.id: i for i in issued_targets(report.cycle_id, report.unit_id)}
    check = Checker(data)
    parsed: dict[int, tuple[Decimal, str]] = {}
    rows = check.entries(wanted, empty="请逐项填写目标进展", noun="目标")
    for key, indicator_id, item in rows:
        name = wanted[indicator_id].name
        progress = check.decimal(
            f"{key}-progress", f"“{name}”进度", item.get("progress"), minimum=Decimal(0), maximum=Decimal(100)
        )
        narrative = Checker(item).text("narrative", "进展情况", max_len=5000)
        if not narrative:
            check.add(f"{key}-narrative", f"请填写“{name}”的进展情况")
        if progress is not None and narrative:
            parsed[indicator_id] = (progress, narrative)
    missing = [wanted[i].name for i in wanted if i not in parsed]
    if rows and missing and not check.errors:
        check.add("entries", "以下目标未填写：" + "、".join(missing))
    comment = check.text("comment", "备注", max_len=2000)
    checked = sv.check_files(check, files, "evidence")
    check.raise_if_any()
    round_no = (
        db.session.scalar(select(func.max(MonthlyReportEntry.round)).where(MonthlyReportEntry.report_id == report.id))
        or 0
    ) + 1
    now = clock.now()
    for indicator_id, (progress, narrative) in parsed.items():
        db.session.add(MonthlyReportEntry(
            report_id=report.id, indicator_id=indicator_id, round=round_no, progress=progress,
            narrative=narrative, filled_by_id=user.id, filled_at=now,
        ))
    sv.store_files("report", report.id, checked, user)
    return cases.finish_task(
        ctx, {"filled": True}, outcome="fill", comment=comment or None,
        event_data={"round": round_no, "targets": len(parsed), "files": len(checked)},
    )


def _describe_submit(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("decision", "审核意见", "choice", True, [("approve", "同意报送"), ("return", "退回修改")]),
        FieldSpec("reason", "理由 / 意见", "textarea", help="退回时必须填写理由"),
    ]


@register("monthly_report.submit", _describe_submit)
def submit_submit(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    report = of_case(ctx.case)
    check = Checker(data)
    decision = check.choice("decision", "审核意见", ["approve", "return"])
    reason = check.text("reason", "理由", required=decision == "return", max_len=2000)
    check.raise_if_any()
    event: dict[str, Any] = {}
    if decision == "approve":
        report.status = "submitted"
        report.submitted_at = clock.now()
        report.submitted_by_id = user.id
        event["late"] = report.is_late
    return cases.finish_task(
        ctx, {"decision": decision, "filled": decision == "approve"}, outcome=decision,
        comment=reason or None, event_data=event,
    )


def _describe_overdue(task: HumanTask) -> list[FieldSpec]:
    return [FieldSpec("note", "督办意见", "textarea", True, help="记录催报情况及处理意见")]


@register("monthly_report.overdue", _describe_overdue)
def submit_overdue(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    check = Checker(data)
    note = check.text("note", "督办意见", required=True, max_len=2000)
    check.raise_if_any()
    return cases.finish_task(ctx, {"supervised": True}, outcome="supervise", comment=note)


# --------------------------------------------------------------------------- boards


def month_reports(cycle_id: int, month: str | None = None, unit_ids: list[int] | None = None) -> list[MonthlyReport]:
    query = select(MonthlyReport).where(MonthlyReport.cycle_id == cycle_id)
    if month:
        query = query.where(MonthlyReport.month == month)
    if unit_ids is not None:
        query = query.where(MonthlyReport.unit_id.in_(unit_ids))
    return list(db.session.scalars(query.join(Unit).order_by(MonthlyReport.month.desc(), Unit.code)))


def overdue_reports(cycle_id: int) -> list[MonthlyReport]:
    """Reports past their due date: still open, or submitted late (the office's overdue list)."""
    now = clock.now()
    rows = db.session.scalars(
        select(MonthlyReport)
        .join(Unit)
        .where(
            MonthlyReport.cycle_id == cycle_id,
            MonthlyReport.due_at < now,
            (MonthlyReport.status == "open") | (MonthlyReport.submitted_at > MonthlyReport.due_at),
        )
        .order_by(MonthlyReport.month, Unit.code)
    )
    return list(rows)


def compile_quarter(cycle: Cycle, unit: Unit, quarter: int, actor: User | None) -> QuarterlySummary:
    """Compile the quarter's monthly reports of ``unit`` into a new summary revision."""
    months = sv.months_of_quarter(cycle.year, quarter)
    reports = {r.month: r for r in month_reports(cycle.id, None, [unit.id]) if r.month in months}
    targets = issued_targets(cycle.id, unit.id)
    progress: dict[int, dict[str, str]] = {t.id: {} for t in targets}
    latest: dict[int, str] = {}
    for month in months:
        report = reports.get(month)
        if report is None or report.status != "submitted":
            continue
        for entry in entries(report.id):
            if entry.indicator_id in progress:
                progress[entry.indicator_id][month] = str(entry.progress)
                latest[entry.indicator_id] = entry.narrative
    data = {
        "months": months,
        "reports": {
            m: {
                "status": r.status,
                "late": r.is_late or r.is_overdue,
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
            }
            for m, r in reports.items()
        },
        "targets": [
            {
                "indicator_id": t.id,
                "code": t.code,
                "name": t.name,
                "progress": progress[t.id],
                "latest_progress": progress[t.id][max(progress[t.id])] if progress[t.id] else None,
                "latest_narrative": latest.get(t.id),
            }
            for t in targets
        ],
        "submitted": sum(1 for r in reports.values() if r.status == "submitted"),
        "late": sum(1 for r in reports.values() if r.is_late or r.is_overdue),
        "missing": len([m for m in months if m not in reports or reports[m].status != "submitted"]),
    }
    revision = (
        db.session.scalar(
            select(func.max(QuarterlySummary.revision)).where(
                QuarterlySummary.cycle_id == cycle.id,
                QuarterlySummary.unit_id == unit.id,
                QuarterlySummary.quarter == quarter,
            )
        )
        or 0
    ) + 1
    summary = QuarterlySummary(
        cycle_id=cycle.id, unit_id=unit.id, quarter=quarter, revision=revision, data=data,
        compiled_by_id=actor.id if actor else None, compiled_at=clock.now(),
    )
    db.session.add(summary)
    db.session.flush()
    return summary


def compile_quarter_all(cycle: Cycle, quarter: int, actor: User) -> list[QuarterlySummary]:
    sv.require_office(actor)
    units = [u for u in sv.participants(cycle.id) if issued_targets(cycle.id, u.id)]
    return [compile_quarter(cycle, unit, quarter, actor) for unit in units]


def latest_summaries(cycle_id: int, quarter: int) -> list[QuarterlySummary]:
    newest = (
        select(QuarterlySummary.unit_id, func.max(QuarterlySummary.revision).label("rev"))
        .where(QuarterlySummary.cycle_id == cycle_id, QuarterlySummary.quarter == quarter)
        .group_by(QuarterlySummary.unit_id)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(QuarterlySummary)
            .join(newest, (newest.c.unit_id == QuarterlySummary.unit_id) & (newest.c.rev == QuarterlySummary.revision))
            .join(Unit, Unit.id == QuarterlySummary.unit_id)
            .where(QuarterlySummary.cycle_id == cycle_id, QuarterlySummary.quarter == quarter)
            .order_by(Unit.code)
        )
    )


def cycle_units(cycle_id: int) -> list[CycleUnit]:
    return list(db.session.scalars(select(CycleUnit).where(CycleUnit.cycle_id == cycle_id)))
