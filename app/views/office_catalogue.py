"""Office pages on the ``office`` blueprint: the indicator catalogue (共性指标, 社会评价), the scheme
filing overview (备案情况) and the negotiation board (三上三下进度, bulk start)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

import forms.negotiation  # noqa: F401  (registers the negotiation step forms)
from app.errors import DomainError
from app.extensions import db
from app.models import Indicator, Unit
from app.services import catalogue, cycles, negotiation, targets
from app.views.office import action_form, bp, cycle_or_404, me, refused
from forms.office import IndicatorForm


def _indicator_or_404(indicator_id: int) -> Indicator:
    row = db.session.get(Indicator, indicator_id)
    if row is None:
        abort(404)
    return row


# --------------------------------------------------------------------------- catalogue


def _catalogue_page(cycle_id: int, form: IndicatorForm, status: int = 200) -> tuple[str, int]:
    item = cycle_or_404(cycle_id)
    html = render_template(
        "office/catalogue.html",
        cycle=item,
        form=form,
        action=action_form(),
        common=catalogue.common_indicators(item),
        social=catalogue.social_indicator(item),
        total=catalogue.common_total(item),
        expected=cycles.weight(item, "common"),
        settings=cycles.settings_of(item),
        issued_at=catalogue.catalogue_issued_at(item),
    )
    return html, status


@bp.route("/cycles/<int:cycle_id>/catalogue", methods=["GET", "POST"])
def catalogue_page(cycle_id: int) -> Any:
    item = cycle_or_404(cycle_id)
    form = IndicatorForm()
    if form.validate_on_submit():
        try:
            row = catalogue.add_common(item, me(), form.to_data())
            db.session.commit()
        except DomainError as exc:
            for message in refused(exc, form):
                flash(message, "error")
            return _catalogue_page(cycle_id, form, 422)
        flash(f"已添加共性指标 {row.code} {row.name}", "success")
        return redirect(url_for("office.catalogue_page", cycle_id=cycle_id))
    return _catalogue_page(cycle_id, form, 422 if form.is_submitted() else 200)


@bp.route("/indicators/<int:indicator_id>/edit", methods=["GET", "POST"])
def indicator_edit(indicator_id: int) -> Any:
    row = _indicator_or_404(indicator_id)
    form = IndicatorForm() if request.method == "POST" else IndicatorForm.of(row)
    status = 200
    if form.validate_on_submit():
        try:
            catalogue.update_indicator(row, me(), form.to_data())
            db.session.commit()
        except DomainError as exc:
            for message in refused(exc, form):
                flash(message, "error")
            status = 409 if exc.status == 409 else 422
        else:
            flash(f"已保存指标 {row.code} {row.name}", "success")
            return redirect(url_for("office.catalogue_page", cycle_id=row.cycle_id))
    elif form.is_submitted():
        status = 422
    row = _indicator_or_404(indicator_id)
    return render_template("office/indicator_edit.html", form=form, indicator=row), status


@bp.post("/indicators/<int:indicator_id>/delete")
def indicator_delete(indicator_id: int) -> Response:
    row = _indicator_or_404(indicator_id)
    cycle_id = row.cycle_id
    if action_form().validate_on_submit():
        try:
            catalogue.delete_common(row, me())
            db.session.commit()
        except DomainError as exc:
            refused(exc)
        else:
            flash("已删除指标", "success")
    return redirect(url_for("office.catalogue_page", cycle_id=cycle_id))


@bp.post("/cycles/<int:cycle_id>/catalogue/issue")
def catalogue_issue(cycle_id: int) -> Any:
    item = cycle_or_404(cycle_id)
    if not action_form().validate_on_submit():
        flash("请求已过期，请刷新页面后重试", "error")
        return redirect(url_for("office.catalogue_page", cycle_id=cycle_id))
    try:
        count = catalogue.issue_catalogue(item, me())
        db.session.commit()
    except DomainError as exc:
        refused(exc)
        return _catalogue_page(cycle_id, IndicatorForm(formdata=None), exc.status)
    flash(f"已下达 {count} 项共性指标及社会评价，此后不能再修改", "success")
    return redirect(url_for("office.catalogue_page", cycle_id=cycle_id))


# --------------------------------------------------------------------------- schemes (备案)


@bp.get("/cycles/<int:cycle_id>/schemes")
def schemes(cycle_id: int) -> str:
    item = cycle_or_404(cycle_id)
    rows = cycles.scheme_overview(item)
    return render_template(
        "office/schemes.html",
        cycle=item,
        rows=rows,
        filed=sum(1 for r in rows if r.latest),
        late=sum(1 for r in rows if r.latest and r.latest.late),
    )


# --------------------------------------------------------------------------- negotiation board


@bp.get("/cycles/<int:cycle_id>/negotiations")
def board(cycle_id: int) -> str:
    item = cycle_or_404(cycle_id)
    rows = targets.board(item)
    stage = request.args.get("stage") or ""
    shown = [r for r in rows if not stage or (r.stage or "none") == stage]
    return render_template(
        "office/board.html",
        cycle=item,
        rows=shown,
        all_rows=rows,
        stage=stage,
        not_started=sum(1 for r in rows if r.case is None),
        action=action_form(),
    )


@bp.post("/cycles/<int:cycle_id>/negotiations/start")
def start_all(cycle_id: int) -> Response:
    item = cycle_or_404(cycle_id)
    if action_form().validate_on_submit():
        try:
            started = negotiation.start_all(item, me())
            db.session.commit()
        except DomainError as exc:
            refused(exc)
        else:
            flash(f"已为 {len(started)} 个单位启动目标协商，待办已发送至各单位绩效员", "success")
    return redirect(url_for("office.board", cycle_id=cycle_id))


@bp.post("/cycles/<int:cycle_id>/negotiations/start/<int:unit_id>")
def start_one(cycle_id: int, unit_id: int) -> Response:
    item = cycle_or_404(cycle_id)
    unit = db.session.get(Unit, unit_id)
    if unit is not None and action_form().validate_on_submit():
        try:
            case = negotiation.start_negotiation(item, unit, me())
            db.session.commit()
        except DomainError as exc:
            refused(exc)
        else:
            flash(f"已启动 {unit.name} 的目标协商（案件 {case.id}）", "success")
    else:
        flash("单位不存在或请求已过期", "error")
    return redirect(url_for("office.board", cycle_id=cycle_id))
