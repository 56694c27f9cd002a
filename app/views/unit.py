"""Unit-facing pages (本单位考核): the unit's cycles, filing its scheme for record (备案), and the
targets issued to it (已下达目标). Scope: roles held at the unit or above it."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

import forms.negotiation  # noqa: F401  (registers the negotiation step forms)
from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, CycleUnit, Unit, UnitScheme, User
from app.services import catalogue, cycles, negotiation_issue, targets
from forms.office import SchemeForm, attach_errors

bp = Blueprint("unit", __name__, url_prefix="/unit")
FILERS = ("unit_officer", "unit_head")


def me() -> User:
    return cast(User, current_user._get_current_object())


def _participant(cycle_id: int, unit_id: int) -> tuple[Cycle, Unit, CycleUnit]:
    """The cycle, unit and participation, if the user's roles cover the unit (else 404)."""
    cycle = db.session.get(Cycle, cycle_id)
    unit = db.session.get(Unit, unit_id)
    if cycle is None or unit is None or not cycles.covers_unit(me(), unit.id):
        abort(404)
    try:
        participant = cycles.cycle_unit(cycle, unit.id)
    except NotFound:
        abort(404)
    return cycle, unit, participant


@bp.get("/")
@login_required
def index() -> str:
    units = cycles.acting_units(me(), ("unit_officer", "unit_head", "dept_head", "staff"))
    rows = []
    if units:
        participations = db.session.execute(
            select(CycleUnit, Cycle)
            .join(Cycle, Cycle.id == CycleUnit.cycle_id)
            .where(CycleUnit.unit_id.in_([u.id for u in units]))
            .order_by(Cycle.year.desc(), CycleUnit.unit_id)
        ).all()
        for participant, cycle in participations:
            schemes = cycles.schemes_of(cycle, participant.unit_id)
            rows.append(
                {
                    "cycle": cycle,
                    "participant": participant,
                    "scheme": schemes[0] if schemes else None,
                    "case": targets.negotiation_case(participant),
                    "may_file": cycles.covers_unit(me(), participant.unit_id, FILERS),
                }
            )
    return render_template("unit/index.html", rows=rows, units=units)


def _scheme_page(cycle: Cycle, unit: Unit, form: SchemeForm, status: int = 200) -> tuple[str, int]:
    html = render_template(
        "unit/scheme.html",
        cycle=cycle,
        unit=unit,
        form=form,
        schemes=cycles.schemes_of(cycle, unit.id),
        may_file=cycles.covers_unit(me(), unit.id, FILERS),
    )
    return html, status


@bp.route("/cycles/<int:cycle_id>/units/<int:unit_id>/scheme", methods=["GET", "POST"])
@login_required
def scheme(cycle_id: int, unit_id: int) -> Any:
    cycle, unit, _member = _participant(cycle_id, unit_id)
    form = SchemeForm()
    if request.method == "GET":
        return _scheme_page(cycle, unit, form)
    if not cycles.covers_unit(me(), unit.id, FILERS):
        abort(403)
    if not form.validate_on_submit():
        flash("提交内容有误，请检查标红的项目", "error")
        return _scheme_page(cycle, unit, form, 422)
    try:
        filed = cycles.file_scheme(
            cycle, unit, me(), title=form.title.data or "", summary=form.summary.data or "",
            attachment=request.files.get("attachment"),
        )
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        for message in attach_errors(form, exc.fields):
            flash(message, "error")
        return _scheme_page(cycle, unit, form, 422)
    except Forbidden:
        db.session.rollback()
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _scheme_page(cycle, unit, form, exc.status)
    note = "（已超过备案截止日期，记为逾期备案）" if filed.late else ""
    flash(f"方案已报送绩效办备案{note}", "success" if not filed.late else "warning")
    return redirect(url_for("unit.scheme", cycle_id=cycle.id, unit_id=unit.id))


@bp.get("/schemes/<int:scheme_id>/file")
@login_required
def scheme_file(scheme_id: int) -> Response:
    row = db.session.get(UnitScheme, scheme_id)
    if row is None or not cycles.covers_unit(me(), row.unit_id):
        abort(404)
    path = cycles.scheme_path(row)
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, as_attachment=True, download_name=row.original_name or path.name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/cycles/<int:cycle_id>/units/<int:unit_id>/targets", endpoint="targets")
@login_required
def targets_page(cycle_id: int, unit_id: int) -> str:
    cycle, unit, participant = _participant(cycle_id, unit_id)
    version = negotiation_issue.issued_version(participant)
    return render_template(
        "unit/targets.html",
        cycle=cycle,
        unit=unit,
        participant=participant,
        version=version,
        case=targets.negotiation_case(participant),
        individual=catalogue.individual_indicators(cycle, unit.id),
        common=catalogue.common_indicators(cycle),
        social=catalogue.social_indicator(cycle),
        catalogue_issued=catalogue.catalogue_issued_at(cycle),
        departments=targets.department_names(unit.id),
        settings=cycles.settings_of(cycle),
    )
