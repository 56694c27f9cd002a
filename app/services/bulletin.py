"""The quarterly bulletin (季度督查简报): a PDF compiled from the quarter's monthly reports, ledger
items (deductions and bonuses), inspection findings and rectification cases."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from flask import render_template
from sqlalchemy import or_, select

from app import clock
from app.extensions import db
from app.models import Cycle, Finding, LedgerItem, MonthlyReport, QuarterlySummary, Rectification, Unit
from app.models.rectification import RECTIFICATION_STATUS
from app.models.result import LEDGER_KINDS
from app.models.supervision import FINDING_CATEGORIES
from app.services import pdf, reports
from app.services import supervision as sv


@dataclass
class UnitLine:
    unit: Unit
    reports: dict[str, str] = field(default_factory=dict)  # month -> 按期/逾期/未报
    deductions: Decimal = Decimal(0)
    bonus: Decimal = Decimal(0)
    findings: int = 0
    rect_open: int = 0
    rect_closed: int = 0


@dataclass
class Bulletin:
    cycle: Cycle
    quarter: int
    months: list[str]
    generated_at: dt.datetime
    units: list[UnitLine]
    items: list[LedgerItem]
    categories: Counter[str]
    rectifications: list[Rectification]
    summaries: list[QuarterlySummary]

    @property
    def title(self) -> str:
        return f"{self.cycle.year} 年第 {self.quarter} 季度绩效督查简报"


def _quarter_bounds(year: int, quarter: int) -> tuple[dt.datetime, dt.datetime]:
    first = dt.date(year, quarter * 3 - 2, 1)
    last = dt.date(year + (quarter == 4), (quarter * 3) % 12 + 1, 1) - dt.timedelta(days=1)
    start = dt.datetime.combine(first, dt.time(0, 0), tzinfo=clock.CST).astimezone(dt.UTC).replace(tzinfo=None)
    return start, sv.end_of_day_utc(last)


def bulletin_data(cycle: Cycle, quarter: int) -> Bulletin:
    months = sv.months_of_quarter(cycle.year, quarter)
    start, end = _quarter_bounds(cycle.year, quarter)
    lines = {u.id: UnitLine(u) for u in sv.participants(cycle.id)}
    for report in db.session.scalars(
        select(MonthlyReport).where(MonthlyReport.cycle_id == cycle.id, MonthlyReport.month.in_(months))
    ):
        line = lines.get(report.unit_id)
        if line is None:
            continue
        if report.status == "submitted":
            line.reports[report.month] = "逾期" if report.is_late else "按期"
        else:
            line.reports[report.month] = "逾期未报" if report.is_overdue else "未报"
    items = list(
        db.session.scalars(
            select(LedgerItem)
            .where(LedgerItem.cycle_id == cycle.id, LedgerItem.month.in_(months), LedgerItem.status == "active")
            .order_by(LedgerItem.month, LedgerItem.id)
        )
    )
    for item in items:
        line = lines.get(item.unit_id)
        if line is not None and item.kind == "deduction":
            line.deductions += Decimal(item.points)
        elif line is not None and item.kind == "bonus":
            line.bonus += Decimal(item.points)
    categories: Counter[str] = Counter()
    for finding in db.session.scalars(
        select(Finding).where(Finding.cycle_id == cycle.id, Finding.month.in_(months))
    ):
        categories[finding.category] += 1
        if finding.unit_id in lines:
            lines[finding.unit_id].findings += 1
    rects = list(
        db.session.scalars(
            select(Rectification)
            .where(
                Rectification.cycle_id == cycle.id,
                or_(
                    Rectification.opened_at.between(start, end),
                    Rectification.closed_at.between(start, end),
                    (Rectification.opened_at <= end) & (Rectification.status != "closed"),
                ),
            )
            .order_by(Rectification.opened_at)
        )
    )
    for rect in rects:
        line = lines.get(rect.unit_id)
        if line is None:
            continue
        if rect.status == "closed":
            line.rect_closed += 1
        else:
            line.rect_open += 1
    return Bulletin(
        cycle=cycle,
        quarter=quarter,
        months=months,
        generated_at=clock.now(),
        units=list(lines.values()),
        items=items,
        categories=categories,
        rectifications=rects,
        summaries=reports.latest_summaries(cycle.id, quarter),
    )


def bulletin_html(cycle: Cycle, quarter: int) -> str:
    return render_template(
        "supervision/bulletin_pdf.html",
        b=bulletin_data(cycle, quarter),
        font_family=pdf.FONT_FAMILY,
        categories=FINDING_CATEGORIES,
        statuses=RECTIFICATION_STATUS,
        kinds=LEDGER_KINDS,
    )


def bulletin_pdf(cycle: Cycle, quarter: int) -> bytes:
    return pdf.render_pdf(bulletin_html(cycle, quarter))
