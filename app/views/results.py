"""Results (office and committee): group rankings and committee review, satisfaction entry,
finalization, exports (Excel / PDF), a unit's history across years and archive corrections."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import ArchiveRecord, Cycle, CycleUnit, Group, Unit, User
from app.models.target import TIERS
from app.services import access, archive, exports, publicity, review, social
from app.services.scoring import FLAG_LABELS
from forms.results import ApproveGroupForm, ArchiveCorrectionForm, ConfirmForm, satisfaction_form

bp = Blueprint("results", __name__, url_prefix="/results")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def me() -> User:
    return cast(User, current_user._get_current_object())


@bp.before_request
@login_required
def _office_or_committee() -> None:
    if not access.holds_role(me(), "office", "committee"):
        abort(403)


def _cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def _group(cycle: Cycle, group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    member = db.session.scalar(
        select(CycleUnit.id).where(CycleUnit.cycle_id == cycle.id, CycleUnit.group_id == group_id).limit(1)
    )
    if group is None or member is None:
        abort(404)
    return group


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    if isinstance(exc, Forbidden):
        abort(403)
    if isinstance(exc, NotFound):
        abort(404)
    flash(exc.message, "error")


@bp.get("/")
def index() -> Any:
    cycles = list(db.session.scalars(select(Cycle).order_by(Cycle.year.desc())))
    if len(cycles) == 1:
        return redirect(url_for("results.cycle", cycle_id=cycles[0].id))
    return render_template("results/index.html", cycles=cycles)


@bp.get("/<int:cycle_id>")
def cycle(cycle_id: int) -> str:
    item = _cycle(cycle_id)
    board = review.review(item)
    return render_template(
        "results/cycle.html", cycle=item, board=board, histogram=review.histogram(board), tiers=TIERS,
        approve_form=ApproveGroupForm(), confirm_form=ConfirmForm(), flag_labels=FLAG_LABELS,
        is_committee=access.holds_role(me(), "committee"), is_office=access.holds_role(me(), "office"),
    )


@bp.post("/<int:cycle_id>/groups/<int:group_id>/approve")
def approve(cycle_id: int, group_id: int) -> Any:
    item = _cycle(cycle_id)
    group = _group(item, group_id)
    form = ApproveGroupForm()
    if not form.validate_on_submit():
        flash("提交内容有误，请刷新页面后重试", "error")
        return redirect(url_for("results.cycle", cycle_id=cycle_id))
    try:
        pub = publicity.approve_group(item, group, me(), form.note.data or "")
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
        return redirect(url_for("results.cycle", cycle_id=cycle_id, _anchor=f"group-{group_id}"))
    flash(f"{group.name}考核结果已审定，第 {pub.round} 轮公示已开始。", "success")
    return redirect(url_for("results.cycle", cycle_id=cycle_id, _anchor=f"group-{group_id}"))


@bp.post("/<int:cycle_id>/groups/<int:group_id>/finalize")
def finalize(cycle_id: int, group_id: int) -> Any:
    item = _cycle(cycle_id)
    group = _group(item, group_id)
    if not access.holds_role(me(), "office") or not ConfirmForm().validate_on_submit():
        abort(403)
    try:
        records = archive.finalize_group(item, group, me())
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
        return redirect(url_for("results.cycle", cycle_id=cycle_id, _anchor=f"group-{group_id}"))
    flash(f"{group.name}考核结果已确定，{len(records)} 个单位已归入考评档案。", "success")
    return redirect(url_for("results.cycle", cycle_id=cycle_id, _anchor=f"group-{group_id}"))


@bp.route("/<int:cycle_id>/satisfaction", methods=["GET", "POST"])
def satisfaction(cycle_id: int) -> Any:
    item = _cycle(cycle_id)
    if not access.holds_role(me(), "office"):
        abort(403)
    units = db.session.execute(
        select(Unit.id, Unit.name, Group.name)
        .join(CycleUnit, CycleUnit.unit_id == Unit.id)
        .join(Group, Group.id == CycleUnit.group_id)
        .where(CycleUnit.cycle_id == item.id)
        .order_by(Group.code, Unit.code)
    ).all()
    rates = social.satisfaction_by_unit(item.id)
    form = satisfaction_form([(uid, name) for uid, name, _ in units])()
    if request.method == "POST" and form.validate_on_submit():
        entered = {uid: form[f"rate-{uid}"].data for uid, _, _ in units if form[f"rate-{uid}"].data is not None}
        try:
            count = social.record_many(item, entered, actor=me(), respondents=form.respondents.data or 0)
            db.session.commit()
        except ValidationFailed as exc:
            _fail(exc)
        else:
            flash(f"已录入 {count} 个单位的社会评价满意率。", "success")
            return redirect(url_for("results.satisfaction", cycle_id=cycle_id))
    elif request.method == "POST":
        flash("提交内容有误：满意率应为 0–100 之间的数字", "error")
    rows = [(uid, name, group, rates.get(uid), form[f"rate-{uid}"]) for uid, name, group in units]
    return render_template("results/satisfaction.html", cycle=item, form=form, rows=rows)


@bp.get("/<int:cycle_id>/results.xlsx")
def export_xlsx(cycle_id: int) -> Response:
    item = _cycle(cycle_id)
    body = exports.results_workbook(item)
    return _download(body, XLSX, f"{item.year}年度考核结果.xlsx")


@bp.get("/<int:cycle_id>/report.pdf")
def report_pdf(cycle_id: int) -> Any:
    item = _cycle(cycle_id)
    try:
        body = exports.report_pdf(item)
    except DomainError as exc:
        _fail(exc)
        return redirect(url_for("results.cycle", cycle_id=cycle_id))
    return _download(body, "application/pdf", f"{item.year}年度考核结果报告.pdf")


@bp.get("/<int:cycle_id>/groups/<int:group_id>/notice.pdf")
def notice_pdf(cycle_id: int, group_id: int) -> Any:
    item = _cycle(cycle_id)
    group = _group(item, group_id)
    try:
        body = exports.notice_pdf(item, group.id)
    except DomainError as exc:
        _fail(exc)
        return redirect(url_for("results.cycle", cycle_id=cycle_id))
    return _download(body, "application/pdf", f"{item.year}年度{group.name}考核结果公示.pdf")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    from urllib.parse import quote

    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/units/<int:unit_id>")
def unit(unit_id: int) -> str:
    item = db.session.get(Unit, unit_id)
    if item is None:
        abort(404)
    return render_template("results/unit.html", unit=item, history=archive.unit_history(item),
                           flag_labels=FLAG_LABELS, tiers=TIERS, is_office=access.holds_role(me(), "office"))


@bp.route("/archive/<int:record_id>/correct", methods=["GET", "POST"])
def correct(record_id: int) -> Any:
    record = db.session.get(ArchiveRecord, record_id)
    if record is None:
        abort(404)
    if not access.holds_role(me(), "office"):
        abort(403)
    form = ArchiveCorrectionForm(data={"grade": record.grade} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            archive.correct(record, grade=form.grade.data, total=form.total.data, rank=form.rank.data,
                            note=form.note.data or "", actor=me())
            db.session.commit()
        except DomainError as exc:
            _fail(exc)
        else:
            flash("已记录考评档案更正（原记录保留不变）。", "success")
            return redirect(url_for("results.unit", unit_id=record.unit_id))
    elif request.method == "POST":
        flash("提交内容有误，请检查填写的内容", "error")
    return render_template("results/correct.html", record=record, form=form,
                           unit=db.session.get(Unit, record.unit_id))
