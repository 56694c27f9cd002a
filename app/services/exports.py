"""Outputs of a cycle's results: the Excel workbook, the PDF publicity notice and result report.

- ``results_workbook(cycle) -> bytes``: sheet 「考核结果汇总」 (every unit, by group and rank) and
  one 「排名-<group code>」 sheet per group; numbers are numeric cells with two decimals.
- ``notice_pdf(cycle, group_id) -> bytes``: 公示 notice of the group's current round.
- ``report_pdf(cycle) -> bytes``: the result report (every group with its ranking chart).
PDFs are rendered from templates/results/*_pdf.html by ``app.services.pdf.render_pdf``.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from flask import render_template
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from app import clock
from app.errors import NotFound
from app.models import Cycle
from app.models.target import TIERS
from app.services import pdf, review

HEADERS = ["组别", "名次", "单位编码", "单位名称", "难度档次", "共性指标", "个性指标", "满意率(%)", "社会评价",
           "加分", "扣分", "一票否决", "总分", "等次", "优秀名额", "结果运用", "状态"]
GRADE_FILL = {"A": "C8E6C9", "B": "BBDEFB", "C": "FFCDD2"}


def _row(group: review.GroupReview, row: review.Row) -> list[object]:
    return [group.group.name, row.rank, row.code, row.name, TIERS.get(row.tier, row.tier), row.common,
            row.individual, row.satisfaction, row.social, row.bonus, row.deductions, "是" if row.veto else "",
            row.total, row.grade, row.excellent_quota, "；".join(row.flag_labels), group.state_label]


def _sheet(ws: Any, title: str, rows: list[list[object]]) -> None:
    ws.title = title
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for values in rows:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in values])
        line = ws.max_row
        for col in (6, 7, 8, 9, 10, 11, 13):
            ws.cell(row=line, column=col).number_format = "0.00"
        fill = GRADE_FILL.get(str(values[13]))
        if fill:
            ws.cell(row=line, column=14).fill = PatternFill("solid", fgColor=fill)
    for index, width in enumerate([14, 6, 10, 20, 8, 9, 9, 9, 9, 7, 7, 8, 9, 6, 8, 40, 12], start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"


def results_workbook(cycle: Cycle) -> bytes:
    board = review.review(cycle)
    book = Workbook()
    _sheet(book.active, "考核结果汇总", [_row(g, r) for g in board for r in g.rows])
    for group in board:
        _sheet(book.create_sheet(), f"排名-{group.group.code}"[:31], [_row(group, r) for r in group.rows])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def notice_pdf(cycle: Cycle, group_id: int) -> bytes:
    board = [g for g in review.review(cycle) if g.group.id == group_id]
    if not board or not board[0].stored:
        raise NotFound("该组考核结果尚未审定公示")
    html = render_template("results/notice_pdf.html", cycle=cycle, item=board[0], font=pdf.FONT_FAMILY,
                           printed_at=clock.now())
    return pdf.render_pdf(html)


def report_pdf(cycle: Cycle) -> bytes:
    board = review.review(cycle)
    html = render_template("results/report_pdf.html", cycle=cycle, board=board,
                           histogram=review.histogram(board, "总分分布"), font=pdf.FONT_FAMILY, printed_at=clock.now())
    return pdf.render_pdf(html)
