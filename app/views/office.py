"""The performance office's pages (绩效办): cycles, settings, dates and participants.

The catalogue, the scheme filing overview and the negotiation board live in ``office_catalogue``
(same blueprint, imported at the bottom). Every page needs the ``office`` role.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app import clock
from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db, login_manager
from app.models import Cycle, Group, Unit, User
from app.services import access, catalogue, cycles, targets
from forms.office import ActionForm, CycleEditForm, CycleForm, SettingsForm, attach_errors, participants_form
from forms.office import selected_participants as _selected

bp = Blueprint("office", __name__, url_prefix="/office")


@bp.before_request
def require_office() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not access.holds_role(current_user, "office"):
        abort(403, description="仅绩效办可以访问考核方案管理")
    return None


def me() -> User:
    return cast(User, current_user._get_current_object())


def cycle_or_404(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def refused(exc: DomainError, form: Any | None = None) -> list[str]:
    """Roll back and show a refused operation (404/403 abort); returns messages matching no input."""
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404, description=exc.message)
    if isinstance(exc, Forbidden):
        abort(403, description=exc.message)
    flash(exc.message, "error")
    if form is not None and isinstance(exc, ValidationFailed):
        return attach_errors(form, exc.fields)
    return []


# --------------------------------------------------------------------------- cycles


@bp.get("/")
def index() -> str:
    return render_template("office/index.html", cycles=cycles.cycles(), counts=cycles.participant_counts())


@bp.route("/cycles/new", methods=["GET", "POST"])
def cycle_new() -> Response | str | tuple[str, int]:
    form = CycleForm()
    if request.method != "POST":
        year = clock.now().year
        form.year.data = year
        form.title.data = f"{year}年度绩效考核方案"
    if form.validate_on_submit():
        members: list[tuple[int, int | None]] = []
        if form.include_all.data:
            units = db.session.scalars(select(Unit).where(Unit.active.is_(True), Unit.group_id.is_not(None)))
            members = [(u.id, None) for u in units]
        try:
            cycle = cycles.open_cycle(
                form.year.data or 0, form.title.data or "", me(), dates=form.dates(), participants=members
            )
            db.session.commit()
        except DomainError as exc:
            for message in refused(exc, form):
                flash(message, "error")
            return render_template("office/cycle_form.html", form=form, cycle=None), 422
        flash(f"已创建 {cycle.year} 年度考核方案，纳入 {len(members)} 个单位。请核对考核设置与共性指标。", "success")
        return redirect(url_for("office.cycle", cycle_id=cycle.id))
    status = 422 if form.is_submitted() else 200
    return render_template("office/cycle_form.html", form=form, cycle=None), status


@bp.get("/cycles/<int:cycle_id>")
def cycle(cycle_id: int) -> str:
    item = cycle_or_404(cycle_id)
    board = targets.board(item)
    schemes = cycles.scheme_overview(item)
    return render_template(
        "office/cycle.html",
        cycle=item,
        settings=cycles.settings_of(item),
        frozen=cycles.settings_frozen(item),
        issued_at=catalogue.catalogue_issued_at(item),
        common_total=catalogue.common_total(item),
        participants=len(board),
        started=sum(1 for r in board if r.case is not None),
        issued=sum(1 for r in board if r.stage == "issued"),
        filed=sum(1 for r in schemes if r.latest is not None),
        late=sum(1 for r in schemes if r.latest is not None and r.latest.late),
    )


@bp.route("/cycles/<int:cycle_id>/edit", methods=["GET", "POST"])
def cycle_edit(cycle_id: int) -> Response | str | tuple[str, int]:
    item = cycle_or_404(cycle_id)
    form = CycleEditForm() if request.method == "POST" else CycleEditForm.of(item)
    if form.validate_on_submit():
        try:
            cycles.update_cycle(item, me(), title=form.title.data or "", dates=form.dates())
            db.session.commit()
        except DomainError as exc:
            for message in refused(exc, form):
                flash(message, "error")
            return render_template("office/cycle_form.html", form=form, cycle=item), 422
        flash("已保存方案名称与日期", "success")
        return redirect(url_for("office.cycle", cycle_id=item.id))
    status = 422 if form.is_submitted() else 200
    return render_template("office/cycle_form.html", form=form, cycle=item), status


@bp.route("/cycles/<int:cycle_id>/settings", methods=["GET", "POST"])
def settings(cycle_id: int) -> Response | str | tuple[str, int]:
    item = cycle_or_404(cycle_id)
    frozen = cycles.settings_frozen(item)
    form = SettingsForm() if request.method == "POST" else SettingsForm.of(cycles.settings_of(item))
    if form.validate_on_submit():
        try:
            cycles.update_settings(item, me(), form.to_settings())
            db.session.commit()
        except DomainError as exc:
            refused(exc)
            if isinstance(exc, ValidationFailed):
                form.attach(exc.fields)
            return render_template("office/settings.html", form=form, cycle=item, frozen=frozen), 422
        flash("已保存考核设置", "success")
        return redirect(url_for("office.cycle", cycle_id=item.id))
    status = 422 if form.is_submitted() else 200
    return render_template("office/settings.html", form=form, cycle=item, frozen=frozen), status


@bp.route("/cycles/<int:cycle_id>/participants", methods=["GET", "POST"])
def participants(cycle_id: int) -> Response | str | tuple[str, int]:
    item = cycle_or_404(cycle_id)
    units = list(
        db.session.scalars(select(Unit).where(Unit.active.is_(True), Unit.kind != "region").order_by(Unit.code))
    )
    groups = list(db.session.scalars(select(Group).order_by(Group.code)))
    current = {cu.unit_id: cu for cu in cycles.participants(item)}
    started = {r.participant.unit_id for r in targets.board(item) if r.case is not None}
    form = participants_form(units, groups, current)
    if form.validate_on_submit():
        try:
            change = cycles.set_participants(item, me(), _selected(form, units))
            db.session.commit()
        except DomainError as exc:
            refused(exc)
        else:
            summary = f"新增 {change.added}，移出 {change.removed}，调整分类 {change.regrouped}"
            flash(f"已保存参加考核单位：{summary}", "success")
            return redirect(url_for("office.participants", cycle_id=item.id))
        status = 422
    else:
        status = 422 if form.is_submitted() else 200
    html = render_template(
        "office/participants.html", cycle=item, form=form, units=units, current=current, started=started
    )
    return html, status


def action_form() -> ActionForm:
    return ActionForm()


from app.views import office_catalogue as _office_catalogue  # noqa: E402,F401  (registers more routes on bp)
