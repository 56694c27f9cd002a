"""System administration: dashboard, unit tree, departments, ranking groups.

User management lives in ``admin_users`` (same blueprint, imported at the bottom).
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db, login_manager
from app.models import Department, Group, RoleAssignment, Unit, User
from app.models.org import UNIT_KINDS
from app.services import org
from forms.admin import NONE, DepartmentForm, GroupEditForm, GroupForm, MoveUnitForm, UnitEditForm, UnitForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

T = TypeVar("T")


@bp.before_request
def require_admin() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, description="仅系统管理员可以访问此页面")
    return None


@bp.app_template_global()
def unit_kind_label(kind: str) -> str:
    return UNIT_KINDS.get(kind, kind)


def get_or_404(model: type[T], ident: int) -> T:
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def optional(model: type[T], ident: int | None) -> T | None:
    return db.session.get(model, ident) if ident and ident != NONE else None


def domain_error(exc: DomainError, form: Any | None = None) -> None:
    """Roll back, then show a refused operation: 404/403 abort, others flash (and mark form fields)."""
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404, description=exc.message)
    if isinstance(exc, Forbidden):
        abort(403, description=exc.message)
    flash(exc.message, "error")
    if form is not None and isinstance(exc, ValidationFailed):
        for name, messages in exc.fields.items():
            if name in form:
                form[name].errors = list(form[name].errors or []) + list(messages)


# --- dashboard ---------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    counts = {
        "units": count(Unit),
        "departments": count(Department),
        "groups": count(Group),
        "users": count(User),
        "inactive": count(User, User.active.is_(False)),
        "roles": count(RoleAssignment),
    }
    return render_template("admin/index.html", counts=counts)


# --- units ---------------------------------------------------------------------------------------


@bp.route("/units", methods=["GET", "POST"])
def units() -> Response | str:
    form = UnitForm().fill()
    if form.validate_on_submit():
        try:
            unit = org.create_unit(
                form.code.data or "",
                form.name.data or "",
                kind=form.kind.data,
                parent=optional(Unit, form.parent_id.data),
                group=optional(Group, form.group_id.data),
                staff_count=form.staff_count.data or 0,
            )
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash(f"已创建单位 {unit.name}", "success")
            return redirect(url_for("admin.units"))
    return _units_page(form)


def _units_page(form: UnitForm) -> str:
    tree = org.unit_tree()
    user_counts = dict(
        db.session.execute(
            select(User.unit_id, func.count()).where(User.unit_id.is_not(None)).group_by(User.unit_id)
        ).all()
    )
    return render_template("admin/units.html", tree=tree, form=form, user_counts=user_counts)


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
def unit_edit(unit_id: int) -> Response | str:
    unit = get_or_404(Unit, unit_id)
    form = UnitEditForm(obj=unit, group_id=unit.group_id or NONE).fill()
    if form.validate_on_submit():
        try:
            org.update_unit(
                unit,
                name=form.name.data or "",
                kind=form.kind.data,
                group=optional(Group, form.group_id.data),
                staff_count=form.staff_count.data or 0,
            )
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash("单位信息已保存", "success")
            return redirect(url_for("admin.unit_edit", unit_id=unit.id))
    return _unit_page(unit, form=form)


def _unit_page(
    unit: Unit,
    *,
    form: UnitEditForm | None = None,
    move: MoveUnitForm | None = None,
    dept: DepartmentForm | None = None,
) -> str:
    form = form or UnitEditForm(formdata=None, obj=unit, group_id=unit.group_id or NONE).fill()
    move = move or MoveUnitForm(formdata=None, parent_id=unit.parent_id or NONE).fill()
    dept = dept or DepartmentForm(formdata=None)
    staff = db.session.scalars(select(User).where(User.unit_id == unit.id).order_by(User.username)).all()
    return render_template("admin/unit.html", unit=unit, form=form, move=move, dept=dept, staff=staff)


@bp.post("/units/<int:unit_id>/move")
def unit_move(unit_id: int) -> Response | str:
    unit = get_or_404(Unit, unit_id)
    move = MoveUnitForm().fill()
    if move.validate_on_submit():
        try:
            org.move_unit(unit, optional(Unit, move.parent_id.data))
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, move)
        else:
            flash("单位已移动", "success")
            return redirect(url_for("admin.unit_edit", unit_id=unit.id))
    return _unit_page(unit, move=move)


@bp.route("/units/<int:unit_id>/departments", methods=["GET", "POST"])
def departments(unit_id: int) -> Response | str:
    unit = get_or_404(Unit, unit_id)
    dept = DepartmentForm()
    if dept.validate_on_submit():
        try:
            created = org.add_department(unit, dept.code.data or "", dept.name.data or "")
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, dept)
        else:
            flash(f"已添加科室 {created.name}", "success")
            return redirect(url_for("admin.unit_edit", unit_id=unit.id))
    elif dept.is_submitted():
        flash("科室信息有误", "error")
    return _unit_page(unit, dept=dept)


# --- groups --------------------------------------------------------------------------------------


@bp.route("/groups", methods=["GET", "POST"])
def groups() -> Response | str:
    form = GroupForm()
    if form.validate_on_submit():
        try:
            group = org.create_group(form.code.data or "", form.name.data or "")
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash(f"已创建分类 {group.name}", "success")
            return redirect(url_for("admin.groups"))
    rows = db.session.execute(
        select(Group, func.count(Unit.id))
        .outerjoin(Unit, Unit.group_id == Group.id)
        .group_by(Group.id)
        .order_by(Group.code)
    ).all()
    return render_template("admin/groups.html", rows=rows, form=form)


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
def group_edit(group_id: int) -> Response | str:
    group = get_or_404(Group, group_id)
    form = GroupEditForm(obj=group)
    if form.validate_on_submit():
        try:
            org.rename_group(group, form.name.data or "")
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash("分类已保存", "success")
            return redirect(url_for("admin.groups"))
    members = db.session.scalars(select(Unit).where(Unit.group_id == group.id).order_by(Unit.code)).all()
    return render_template("admin/group.html", group=group, form=form, members=members)


from app.views import admin_users, admin_workflows  # noqa: E402,F401  (register the user and process routes on ``bp``)
