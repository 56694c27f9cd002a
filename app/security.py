"""Login manager wiring: session users, bearer tokens, idle timeout."""

from __future__ import annotations

import time

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from app.extensions import login_manager
from app.models import User
from app.services import auth


def _is_page() -> bool:
    """A page (not the API): its navigation reads the user's roles and unit."""
    return not request.path.startswith(("/api/", "/static/"))


def _load_user(user_id: str) -> User | None:
    user = auth.user_by_id(int(user_id), with_roles=_is_page()) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def _load_from_request(req: object) -> User | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return auth.user_for_token(header[7:].strip(), with_roles=_is_page())
    return None


def _idle_timeout() -> Response | None:
    if request.endpoint == "static" or request.headers.get("Authorization"):
        return None
    if current_user.is_authenticated:
        now = int(time.time())
        last = session.get("seen", now)
        idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
        if now - last > idle:
            logout_user()
            session.clear()
            if request.path.startswith("/api/"):
                return None  # the API answers 401 itself
            flash("长时间未操作，已自动退出，请重新登录", "info")
            return redirect(url_for("auth.login", next=request.full_path))
        if now - last > 30:  # avoid rewriting the cookie on every request
            session["seen"] = now
    return None


def init_app(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager.request_loader(_load_from_request)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.before_request(_idle_timeout)
