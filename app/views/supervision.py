"""Supervision pages (督查): findings, spot-check draws, rectifications, the unit's ledger and appeals.

Reports, mid-year evaluation, the bulletin and cadres are in ``supervision_reports``; surveys in
``surveys``; the public ledger in ``ledger_public``.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Cycle, Indicator, LedgerItem, SupervisionFile, Unit, User
from app.models.rectification import RECTIFICATION_SOURCES, RECTIFICATION_STATUS
from app.models.result import LEDGER_KINDS
from app.models.supervision import FINDING_CATEGORIES, INSPECTION_KINDS
from app.services import access, deduction_appeals, inspections, ledger, rectification, reports
from app.services import supervision as sv
from forms import supervision_tasks as _step_forms  # noqa: F401  (registers the step forms)
from forms.supervision import AppealForm, DrawForm, FindingForm, LedgerEntryForm, RectificationForm, unit_choices

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

INSPECT = ("inspector", "office")
WATCH = ("inspector", "office", "monitor", "committee")
UNIT = ("unit_head", "unit_officer")


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "FINDING_CATEGORIES": FINDING_CATEGORIES, "INSPECTION_KINDS": INSPECTION_KINDS, "LEDGER_KINDS": LEDGER_KINDS,
        "RECT_SOURCES": RECTIFICATION_SOURCES, "RECT_STATUS": RECTIFICATION_STATUS,
        "APPEAL_STATUS": deduction_appeals.STATUS,
    }


def me() -> User:
    return cast(User, current_user._get_current_object())


def need(*roles: str) -> None:
    if not (me().is_admin or access.holds_role(me(), *roles)):
        abort(403)


def cycle_or_404() -> Cycle:
    cycle_id = request.args.get("cycle", type=int)
    cycle = db.session.get(Cycle, cycle_id) if cycle_id else sv.current_cycle()
    if cycle is None:
        abort(404, description="尚未开设考核年度")
    return cycle


def my_units(roles: tuple[str, ...], cycle: Cycle) -> list[Unit]:
    return [u for u in sv.participants(cycle.id) if sv.holds_any_for(me(), roles, u.id)]


def fail(exc: DomainError) -> None:
    db.session.rollback()
    if isinstance(exc, Forbidden):
        abort(403)
    if isinstance(exc, NotFound):
        abort(404)
    flash(exc.message, "error")


# --------------------------------------------------------------------------- index & findings


@bp.get("/")
@login_required
def index() -> Any:
    if not (me().is_admin or access.holds_role(me(), *WATCH)):
        if access.holds_role(me(), *UNIT):
            return redirect(url_for("supervision.unit"))
        abort(403)
    cycle = cycle_or_404()
    return render_template(
        "supervision/index.html", cycle=cycle, findings=inspections.findings(cycle.id, limit=20),
        draws=inspections.draws(cycle.id, limit=10), rects=rectification.listing(status="open", limit=20),
        overdue=reports.overdue_reports(cycle.id),
    )


def _finding_form(cycle: Cycle) -> FindingForm:
    units = my_units(INSPECT, cycle)
    indicators = list(db.session.scalars(
        select(Indicator).where(Indicator.cycle_id == cycle.id, Indicator.part != "social")
        .order_by(Indicator.unit_id.is_not(None), Indicator.code)
    ))
    return FindingForm().setup(units, indicators, inspections.draws(cycle.id))


@bp.route("/findings/new", methods=["GET", "POST"])
@login_required
def finding_new() -> Any:
    need(*INSPECT)
    cycle = cycle_or_404()
    form = _finding_form(cycle)
    if request.method == "POST" and form.validate_on_submit():
        try:
            finding = inspections.record_finding(cycle, me(), form.to_data(), request.files.getlist("evidence"))
            db.session.commit()
        except ValidationFailed as exc:
            fail(exc)
            for name, messages in exc.fields.items():
                if name in form:
                    form[name].errors = list(form[name].errors) + messages
            return render_template("supervision/finding_new.html", form=form, cycle=cycle), 422
        except DomainError as exc:
            fail(exc)
            return render_template("supervision/finding_new.html", form=form, cycle=cycle), exc.status
        flash(f"已记录督查发现{f'，扣 {finding.points} 分并上网公布' if finding.points else ''}", "success")
        return redirect(url_for("supervision.finding", finding_id=finding.id))
    if request.method == "POST":
        flash("提交内容有误，请检查标红的项目", "error")
        return render_template("supervision/finding_new.html", form=form, cycle=cycle), 422
    if request.args.get("unit"):
        form.unit_id.data = request.args.get("unit", type=int)
        form.draw_id.data = request.args.get("draw", 0, type=int)
        form.kind.data = "spot" if form.draw_id.data else None
    return render_template("supervision/finding_new.html", form=form, cycle=cycle)


@bp.get("/findings")
@login_required
def findings() -> str:
    need(*WATCH)
    cycle = cycle_or_404()
    unit_id = request.args.get("unit", type=int)
    month = request.args.get("month") or None
    return render_template(
        "supervision/findings.html", cycle=cycle, rows=inspections.findings(cycle.id, unit_id=unit_id, month=month),
        units=sv.participants(cycle.id), unit_id=unit_id, month=month,
    )


@bp.get("/findings/<int:finding_id>")
@login_required
def finding(finding_id: int) -> str:
    row = db.session.get(inspections.Finding, finding_id)
    if row is None or not sv.holds_any_for(me(), WATCH + UNIT, row.unit_id):
        abort(404)
    return render_template(
        "supervision/finding.html", f=row, files=sv.files_of("finding", [row.id]).get(row.id, []),
        item=db.session.get(LedgerItem, row.ledger_item_id) if row.ledger_item_id else None,
        rect=db.session.get(rectification.Rectification, row.rectification_id) if row.rectification_id else None,
        names=sv.names({row.inspector_id}),
    )


@bp.get("/files/<int:file_id>")
@login_required
def file(file_id: int) -> Response:
    row = db.session.get(SupervisionFile, file_id)
    if row is None or not _may_see_file(row):
        abort(404)
    path = sv.path_of(row)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, as_attachment=True, download_name=row.original_name,
                         max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _may_see_file(row: SupervisionFile) -> bool:
    from app.models import MonthlyReport, RectificationReport

    if row.owner_type == "finding":
        owner = db.session.get(inspections.Finding, row.owner_id)
        return owner is not None and sv.holds_any_for(me(), WATCH + UNIT, owner.unit_id)
    if row.owner_type == "report":
        report = db.session.get(MonthlyReport, row.owner_id)
        case = db.session.get(Case, report.case_id) if report and report.case_id else None
    else:
        rect_report = db.session.get(RectificationReport, row.owner_id)
        rect = db.session.get(rectification.Rectification, rect_report.rectification_id) if rect_report else None
        case = db.session.get(Case, rect.case_id) if rect and rect.case_id else None
    return case is not None and access.can_view_case(me(), case)


# --------------------------------------------------------------------------- spot checks


@bp.route("/draws", methods=["GET", "POST"])
@login_required
def draws() -> Any:
    need(*WATCH)
    cycle = cycle_or_404()
    form = DrawForm()
    if request.method == "POST":
        need(*INSPECT)
        if form.validate_on_submit():
            try:
                draw = inspections.draw_spot_check(
                    cycle, me(), period=form.period.data or "", size=form.size.data or 0, seed=form.seed.data,
                    category=form.category.data or None, note=form.note.data or "",
                )
                db.session.commit()
            except DomainError as exc:
                fail(exc)
            else:
                flash(f"已抽取 {draw.size} 个单位（随机种子 {draw.seed}）", "success")
                return redirect(url_for("supervision.draw", draw_id=draw.id))
        else:
            flash("提交内容有误，请检查标红的项目", "error")
    return render_template("supervision/draws.html", cycle=cycle, form=form, rows=inspections.draws(cycle.id),
                           units={u.id: u for u in sv.participants(cycle.id)})


@bp.get("/draws/<int:draw_id>")
@login_required
def draw(draw_id: int) -> str:
    need(*WATCH)
    try:
        result = inspections.verify_draw(draw_id)
    except NotFound:
        abort(404)
    return render_template("supervision/draw.html", r=result, names=sv.names({result.draw.drawn_by_id}))


# --------------------------------------------------------------------------- rectification


@bp.get("/rectifications")
@login_required
def rectifications() -> str:
    status = request.args.get("status") or None
    if me().is_admin or access.holds_role(me(), *WATCH):
        rows = rectification.listing(status=status)
    else:
        rows = [r for r in rectification.listing(status=status) if rectification.may_view(me(), r)]
    return render_template("supervision/rectifications.html", rows=rows, status=status)


@bp.route("/rectifications/new", methods=["GET", "POST"])
@login_required
def rectification_new() -> Any:
    need(*INSPECT)
    cycle = cycle_or_404()
    form = RectificationForm()
    form.unit_id.choices = unit_choices(my_units(INSPECT, cycle))
    if request.method == "POST" and form.validate_on_submit():
        try:
            rect = rectification.open_manual(cycle, me(), form.data)
            db.session.commit()
        except DomainError as exc:
            fail(exc)
        else:
            flash(f"已开启整改 {rect.reference}，整改单位将在待办中制定整改方案", "success")
            return redirect(url_for("supervision.rectification_detail", rect_id=rect.id))
    elif request.method == "POST":
        flash("提交内容有误，请检查标红的项目", "error")
    return render_template("supervision/rectification_new.html", form=form, cycle=cycle)


@bp.get("/rectifications/<int:rect_id>")
@login_required
def rectification_detail(rect_id: int) -> str:
    rect = db.session.get(rectification.Rectification, rect_id)
    if rect is None or not rectification.may_view(me(), rect):
        abort(404)
    report_rows = rectification.reports(rect.id)
    context = {
        "rect": rect, "plans": rectification.plans(rect.id), "reports": report_rows,
        "files": sv.files_of("rect_report", [r.id for r in report_rows]), "checks": rectification.checks(rect.id),
    }
    case = db.session.get(Case, rect.case_id) if rect.case_id else None
    return render_template("supervision/rectification.html", c=context, case=case)


# --------------------------------------------------------------------------- the unit's ledger


@bp.get("/unit")
@login_required
def unit() -> str:
    cycle = cycle_or_404()
    units = my_units(UNIT, cycle)
    if not units and not me().is_admin:
        abort(403)
    unit_ids = [u.id for u in units]
    items = [i for uid in unit_ids for i in ledger.active_items(cycle.id, uid)]
    appeals = deduction_appeals.by_item([i.id for i in items])
    return render_template(
        "supervision/unit.html", cycle=cycle, units=units, items=items, appeals=appeals,
        appealable={i.id for i in items if deduction_appeals.may_appeal(me(), i, cycle)},
        deadline={i.id: deduction_appeals.appeal_deadline(i, cycle) for i in items},
        all_appeals=deduction_appeals.appeals_of_units(unit_ids),
        rects=rectification.listing(unit_ids=unit_ids), reports=reports.month_reports(cycle.id, None, unit_ids),
        days=deduction_appeals.appeal_days(cycle),
    )


@bp.route("/ledger/<int:item_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal(item_id: int) -> Any:
    item = db.session.get(LedgerItem, item_id)
    if item is None or not sv.holds_any_for(me(), UNIT, item.unit_id):
        abort(404)
    cycle = sv.get_cycle(item.cycle_id)
    form = AppealForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            filed = deduction_appeals.file_appeal(item.id, me(), form.reason.data or "")
            db.session.commit()
        except DomainError as exc:
            fail(exc)
        else:
            flash(f"申诉已提交（编号 {filed.reference}），绩效办复核后将书面答复", "success")
            return redirect(url_for("supervision.unit"))
    elif request.method == "POST":
        flash("请填写申诉理由", "error")
    return render_template("supervision/appeal.html", form=form, item=item,
                           deadline=deduction_appeals.appeal_deadline(item, cycle),
                           may=deduction_appeals.may_appeal(me(), item, cycle))


@bp.route("/ledger/new", methods=["GET", "POST"])
@login_required
def ledger_new() -> Any:
    need("office")
    cycle = cycle_or_404()
    form = LedgerEntryForm()
    form.unit_id.choices = unit_choices(sv.participants(cycle.id))
    if request.method == "POST" and form.validate_on_submit():
        try:
            inspections.record_ledger_entry(cycle, me(), form.data)
            db.session.commit()
        except DomainError as exc:
            fail(exc)
        else:
            flash("已登记并上网公布", "success")
            return redirect(url_for("ledger_public.index", cycle=cycle.id))
    elif request.method == "POST":
        flash("提交内容有误，请检查标红的项目", "error")
    return render_template("supervision/ledger_new.html", form=form, cycle=cycle)
