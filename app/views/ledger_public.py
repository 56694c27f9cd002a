"""Public pages without login: the deductions ledger (动态扣分上网公布) and the social-evaluation survey."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.errors import DomainError, ValidationFailed
from app.extensions import db
from app.models import Cycle, LedgerItem, Unit
from app.models.result import LEDGER_KINDS
from app.models.supervision import SURVEY_DIMENSIONS
from app.services import ledger, social, surveys
from app.services import supervision as sv
from forms.supervision import SurveyAnswerForm, SurveyTokenForm

bp = Blueprint("ledger_public", __name__, url_prefix="/public")

STATUS = {"active": "有效", "changed": "已更正", "withdrawn": "已撤销"}
SOURCES = {"inspection": "督查检查", "manual": "绩效办登记", "appeal": "申诉更正", "rectification": "整改逾期",
           "import": "导入"}


@bp.get("/ledger")
def index() -> str:
    cycles = list(db.session.scalars(select(Cycle).order_by(Cycle.year.desc())))
    cycle_id = request.args.get("cycle", type=int)
    cycle = next((c for c in cycles if c.id == cycle_id), None) if cycle_id else sv.current_cycle()
    month = request.args.get("month") or None
    unit_id = request.args.get("unit", type=int) or None
    items: list[LedgerItem] = []
    units: list[Unit] = []
    totals: dict[int, ledger.Totals] = {}
    if cycle is not None:
        units = sv.participants(cycle.id)
        query = select(LedgerItem).where(LedgerItem.cycle_id == cycle.id)
        if month:
            query = query.where(LedgerItem.month == month)
        if unit_id:
            query = query.where(LedgerItem.unit_id == unit_id)
        items = list(db.session.scalars(query.order_by(LedgerItem.month.desc(), LedgerItem.id.desc()).limit(1000)))
        totals = ledger.totals_by_unit(cycle.id)
    months = sorted({i.month for i in items}, reverse=True)
    return render_template(
        "ledger_public/index.html", cycles=cycles, cycle=cycle, units=units, items=items, totals=totals,
        month=month, unit_id=unit_id, months=months, kinds=LEDGER_KINDS, status=STATUS, sources=SOURCES,
        unit_names={u.id: u.name for u in units},
    )


@bp.get("/survey")
def survey() -> str:
    return render_template("ledger_public/survey_token.html", form=SurveyTokenForm())


@bp.post("/survey")
def survey_start() -> Any:
    form = SurveyTokenForm()
    if not form.validate_on_submit():
        flash("请输入调查码", "error")
        return render_template("ledger_public/survey_token.html", form=form), 422
    try:
        _token, found = surveys.find_token(form.token.data or "")
    except DomainError as exc:
        flash(exc.message, "error")
        return render_template("ledger_public/survey_token.html", form=form), exc.status
    answer_form = SurveyAnswerForm(token=surveys.normalize(form.token.data or ""))
    return _answer_page(answer_form, found)


def _answer_page(form: SurveyAnswerForm, found: Any, status: int = 200) -> Any:
    unit = db.session.get(Unit, found.unit_id)
    return render_template("ledger_public/survey_answer.html", form=form, unit=unit, s=found,
                           rounds=social.ROUNDS, dims=SURVEY_DIMENSIONS), status


@bp.post("/survey/answer")
def survey_answer() -> Any:
    form = SurveyAnswerForm()
    try:
        _token, found = surveys.find_token(form.token.data or "")
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("ledger_public.survey"))
    if not form.validate_on_submit():
        flash("请对每一项作出评价", "error")
        return _answer_page(form, found, 422)
    try:
        surveys.answer(form.token.data or "", form.to_data())
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _answer_page(form, found, 422)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("ledger_public.survey"))
    return redirect(url_for("ledger_public.survey_thanks"))


@bp.get("/survey/thanks")
def survey_thanks() -> str:
    return render_template("ledger_public/survey_thanks.html")


@bp.get("/ledger/unit/<int:unit_id>")
def unit(unit_id: int) -> Any:
    if db.session.get(Unit, unit_id) is None:
        abort(404)
    return redirect(url_for("ledger_public.index", unit=unit_id, cycle=request.args.get("cycle")))
