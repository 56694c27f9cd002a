"""System administration of users: list, create, edit, activation, passwords, roles, CSV import.

Routes are registered on the ``admin`` blueprint (imported at the bottom of ``app.views.admin``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.wrappers import Response

from app.errors import DomainError
from app.extensions import db
from app.models import Department, RoleAssignment, Unit, User
from app.services import org, org_import
from app.views.admin import bp, domain_error, get_or_404, optional
from forms.admin import NONE, ImportForm, ResetPasswordForm, RoleForm, UserCreateForm, UserEditForm

PER_PAGE = 30


@bp.get("/users")
def users() -> str:
    q = request.args.get("q", "").strip()[:100]
    unit_id = request.args.get("unit", type=int)
    query = (
        select(User)
        .options(
            joinedload(User.unit),
            joinedload(User.department),
            selectinload(User.roles).joinedload(RoleAssignment.unit),
        )
        .order_by(User.username)
    )
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(User.username.ilike(like, escape="\\"), User.display_name.ilike(like, escape="\\")))
    if unit_id:
        query = query.where(User.unit_id == unit_id)
    page = db.paginate(query, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False)
    units = db.session.scalars(select(Unit).order_by(Unit.code)).all()
    return render_template("admin/users.html", page=page, q=q, unit_id=unit_id, units=units)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> Response | str:
    form = UserCreateForm().fill()
    if form.validate_on_submit():
        try:
            user = org.create_user(
                form.username.data or "",
                form.display_name.data or "",
                form.password.data or "",
                unit=optional(Unit, form.unit_id.data),
                department=optional(Department, form.department_id.data),
                is_admin=bool(form.is_admin.data),
                email=form.email.data,
                phone=form.phone.data,
            )
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash(f"已创建用户 {user.display_name}（{user.username}）", "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


def _user_page(
    user: User,
    *,
    form: UserEditForm | None = None,
    reset: ResetPasswordForm | None = None,
    role: RoleForm | None = None,
) -> str:
    form = (
        form
        or UserEditForm(
            formdata=None, obj=user, unit_id=user.unit_id or NONE, department_id=user.department_id or NONE
        ).fill()
    )
    reset = reset or ResetPasswordForm(formdata=None)
    role = role or RoleForm(formdata=None, prefix="role", unit_id=user.unit_id).fill()
    return render_template("admin/user.html", user=user, form=form, reset=reset, role=role)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int) -> Response | str:
    user = get_or_404(User, user_id)
    form = UserEditForm(obj=user, unit_id=user.unit_id or NONE, department_id=user.department_id or NONE).fill()
    if form.validate_on_submit():
        try:
            org.update_user(
                user,
                display_name=form.display_name.data or "",
                unit=optional(Unit, form.unit_id.data),
                department=optional(Department, form.department_id.data),
                email=form.email.data,
                phone=form.phone.data,
            )
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash("用户信息已保存", "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return _user_page(user, form=form)


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int) -> Response:
    user = get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    try:
        org.set_user_active(user, active, actor=current_user)
        db.session.commit()
    except DomainError as exc:
        domain_error(exc)
    else:
        flash("账号已启用" if active else "账号已停用", "success")
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int) -> Response | str:
    user = get_or_404(User, user_id)
    reset = ResetPasswordForm()
    if reset.validate_on_submit():
        try:
            org.reset_password(user, reset.password.data or "")
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, reset)
        else:
            flash("密码已重置，请通知用户登录后修改", "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return _user_page(user, reset=reset)


@bp.post("/users/<int:user_id>/unlock")
def user_unlock(user_id: int) -> Response:
    user = get_or_404(User, user_id)
    org.unlock_user(user)
    db.session.commit()
    flash("账号已解锁", "success")
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.post("/users/<int:user_id>/roles")
def role_add(user_id: int) -> Response | str:
    user = get_or_404(User, user_id)
    role = RoleForm(prefix="role").fill()
    if role.validate_on_submit():
        try:
            org.assign_role(user, role.role.data or "", get_or_404(Unit, role.unit_id.data or 0))
            db.session.commit()
        except DomainError as exc:
            domain_error(exc, role)
        else:
            flash("角色已添加", "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return _user_page(user, role=role)


@bp.post("/users/<int:user_id>/roles/<int:assignment_id>/delete")
def role_remove(user_id: int, assignment_id: int) -> Response:
    assignment = db.session.get(RoleAssignment, assignment_id)
    if assignment is None or assignment.user_id != user_id:
        abort(404)
    try:
        org.revoke_role(assignment.id)
        db.session.commit()
    except DomainError as exc:
        domain_error(exc)
    else:
        flash("角色已移除", "success")
    return redirect(url_for("admin.user_edit", user_id=user_id))


@bp.route("/users/import", methods=["GET", "POST"])
def user_import() -> Response | str:
    form = ImportForm()
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            text = org_import.decode(form.file.data.read())
            result = org_import.import_users(text)
            db.session.commit()
        except org_import.ImportFailed as exc:
            db.session.rollback()
            flash(exc.message, "error")
            problems = exc.problems
        except DomainError as exc:
            domain_error(exc, form)
        else:
            flash(f"导入成功：新增用户 {result.users} 个，角色分配 {result.roles} 条", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/import.html", form=form, problems=problems, columns=org_import.COLUMNS)
