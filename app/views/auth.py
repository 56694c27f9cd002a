"""Login, logout, change own password, and the site root."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.errors import DomainError
from app.extensions import db
from app.services import auth
from forms.auth import LoginForm, PasswordForm

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a relative path on this site, else None (no open redirects)."""
    if not target or len(target) > 2000:
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if parts.path.startswith(("/api/", "/static/")) or parts.path == url_for("auth.logout"):
        return None
    return target


@bp.get("/")
def home() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("inbox.todo"))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target or url_for("inbox.todo"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = auth.authenticate(form.username.data or "", form.password.data or "")
        except DomainError as exc:
            db.session.commit()  # keep the failure counter / lock
            flash(exc.message, "error")
        else:
            db.session.commit()
            session.clear()
            login_user(user)
            session["seen"] = int(time.time())
            return redirect(target or url_for("inbox.todo"))
    return render_template("auth/login.html", form=form, next=target)


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    flash("已退出登录", "success")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Response | str:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            auth.change_password(current_user, form.current.data or "", form.new.data or "")
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("密码已修改", "success")
            return redirect(url_for("inbox.todo"))
    return render_template("auth/password.html", form=form, policy=POLICY)


POLICY = ["长度至少 10 位", "包含大写字母、小写字母、数字、符号中的至少三类", "不能与当前密码相同"]
