"""Reporting pages: monthly reports (open a month, overdue list), quarterly summaries, the mid-year
evaluation, the quarterly bulletin PDF, and cadres' monthly scores with the in-unit ranking."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.errors import DomainError
from app.extensions import db
from app.models import Unit
from app.services import access, bulletin, cadres, midyear, reports
from app.services import supervision as sv
from app.views.supervision import cycle_or_404, fail, me, my_units, need
from forms.supervision import CadreMonthForm, ConfirmForm, MonthForm, QuarterForm, unit_choices

bp = Blueprint("reports", __name__, url_prefix="/supervision/reports")

OFFICE_VIEW = ("office", "inspector", "monitor", "committee")


@bp.get("/")
@login_required
def index() -> str:
    cycle = cycle_or_404()
    office = me().is_admin or access.holds_role(me(), *OFFICE_VIEW)
    unit_ids = None if office else [u.id for u in my_units(("unit_head", "unit_officer"), cycle)]
    if unit_ids is not None and not unit_ids:
        abort(403)
    month = request.args.get("month") or None
    quarter = request.args.get("quarter", type=int) or sv.quarter_of(sv.today().strftime("%Y-%m"))
    return render_template(
        "supervision/reports.html", cycle=cycle, office=office, month=month, quarter=quarter,
        rows=reports.month_reports(cycle.id, month, unit_ids),
        overdue=reports.overdue_reports(cycle.id) if office else [],
        summaries=[s for s in reports.latest_summaries(cycle.id, quarter) if unit_ids is None or s.unit_id in unit_ids],
        evaluations=[e for e in midyear.evaluations(cycle.id) if unit_ids is None or e.unit_id in unit_ids],
        month_form=MonthForm(), quarter_form=QuarterForm(quarter=quarter), confirm=ConfirmForm(),
        ratings=midyear.RATINGS,
    )


@bp.post("/open")
@login_required
def open_month() -> Response:
    need("office")
    cycle = cycle_or_404()
    form = MonthForm()
    if not form.validate_on_submit():
        flash("月份格式应为 YYYY-MM", "error")
        return redirect(url_for("reports.index"))
    try:
        created = reports.open_month(cycle, form.month.data or "", me())
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("reports.index"))
    flash(f"已向 {len(created)} 个单位发起 {form.month.data} 月度目标进展报告", "success")
    return redirect(url_for("reports.index", month=form.month.data))


@bp.post("/quarter")
@login_required
def compile_quarter() -> Response:
    need("office")
    cycle = cycle_or_404()
    form = QuarterForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        done = reports.compile_quarter_all(cycle, form.quarter.data or 1, me())
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("reports.index"))
    flash(f"已汇总第 {form.quarter.data} 季度 {len(done)} 个单位的月度报告", "success")
    return redirect(url_for("reports.index", quarter=form.quarter.data))


@bp.post("/midyear")
@login_required
def start_midyear() -> Response:
    need("office")
    cycle = cycle_or_404()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        created = midyear.start_midyear(cycle, me())
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("reports.index"))
    flash(f"已向 {len(created)} 个单位发起年中评估", "success")
    return redirect(url_for("reports.index"))


@bp.get("/bulletin")
@login_required
def bulletin_pdf() -> Response:
    need(*OFFICE_VIEW)
    cycle = cycle_or_404()
    quarter = request.args.get("quarter", 1, type=int)
    if quarter not in (1, 2, 3, 4):
        abort(404)
    try:
        content = bulletin.bulletin_pdf(cycle, quarter)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("reports.index", quarter=quarter))
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    filename = f"bulletin-{cycle.year}-Q{quarter}.pdf"
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- cadres


def _cadre_units(cycle_id: int) -> list[Unit]:
    """The office sees every unit of the cycle; others the units where they hold a cadre role."""
    if me().is_admin or access.holds_role(me(), "office"):
        return sv.participants(cycle_id)
    ids = {a.unit_id for a in me().roles if a.role in cadres.VIEWERS}
    return list(db.session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.code)))


@bp.get("/cadres")
@login_required
def cadre_index() -> Any:
    cycle = cycle_or_404()
    units = _cadre_units(cycle.id)
    if not units:
        abort(403)
    unit_id = request.args.get("unit", type=int) or (me().unit_id if me().unit_id in {u.id for u in units}
                                                      else units[0].id)
    unit = next((u for u in units if u.id == unit_id), None)
    if unit is None:
        abort(404)
    quarter = request.args.get("quarter", type=int) or sv.quarter_of(sv.today().strftime("%Y-%m"))
    form = CadreMonthForm(unit_id=unit.id)
    form.unit_id.choices = unit_choices([u for u in units if sv.holds_any_for(me(), cadres.MANAGERS, u.id)])
    months = cadres.months_of(unit.id)
    return render_template(
        "supervision/cadres.html", cycle=cycle, units=units, unit=unit, quarter=quarter, form=form,
        ranking=cadres.quarter_ranking(unit, cycle.year, quarter), months=months,
        names=sv.names({m.user_id for m in months}), may_open=sv.holds_any_for(me(), cadres.MANAGERS, unit.id),
    )


@bp.post("/cadres/open")
@login_required
def cadre_open() -> Response:
    cycle = cycle_or_404()
    form = CadreMonthForm()
    form.unit_id.choices = unit_choices(_cadre_units(cycle.id))
    if not form.validate_on_submit():
        flash("提交内容有误：请选择单位并填写月份（YYYY-MM）", "error")
        return redirect(url_for("reports.cadre_index"))
    unit = db.session.get(Unit, form.unit_id.data)
    if unit is None:
        abort(404)
    try:
        created = cadres.open_month(unit, form.month.data or "", me(), cycle)
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("reports.cadre_index", unit=unit.id))
    flash(f"已向 {len(created)} 名干部发起 {form.month.data} 月度考评", "success")
    return redirect(url_for("reports.cadre_index", unit=unit.id))
