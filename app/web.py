"""Blueprint registration, error pages, template helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from flask import Flask, g, jsonify, render_template, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app import clock
from app.models.user import ROLES
from app.services import access

_CST_OFFSET = clock.CST.utcoffset(None)


def _fmt_dt(value: dt.datetime | None, fmt: str | None = None) -> str:
    """A stored (naive UTC) time in China time; the default format without strftime or tz objects
    (it runs for every date of every list row; China time is a fixed UTC+8)."""
    if value is None:
        return ""
    if fmt is None:
        local = value + _CST_OFFSET
        return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    converted = clock.to_local(value)
    assert converted is not None
    return converted.strftime(fmt)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException) -> Any:
    if _wants_json():
        body = {"error": {"code": exc.code, "message": exc.description}}
        return jsonify(body), exc.code
    return render_template("error.html", error=exc), exc.code


def init_app(app: Flask) -> None:
    from app.views import admin, api, auth, inbox, letters, office, public, results, targets, unit
    from app.views import api_ops as _api_ops  # noqa: F401  (approval operations on the api blueprint)
    from app.views import inbox_ops as _inbox_ops  # noqa: F401  (approval operations on the inbox blueprint)

    for module in (auth, inbox, admin, office, unit, targets, letters, results, api, public):
        app.register_blueprint(module.bp)
    from app.views import ledger_public, supervision, supervision_reports, surveys

    for module in (supervision, supervision_reports, surveys, ledger_public):  # step 4: supervision
        app.register_blueprint(module.bp)

    app.register_error_handler(HTTPException, _http_error)
    app.jinja_env.filters["dt"] = _fmt_dt
    app.jinja_env.globals["ROLES"] = ROLES
    app.jinja_env.globals["now"] = clock.now
    app.jinja_env.globals["has_role"] = lambda *roles: access.holds_role(current_user, *roles)

    @app.context_processor
    def nav_counts() -> dict[str, Any]:
        if not current_user.is_authenticated or request.path.startswith(("/api/", "/static/")):
            return {}
        return {"nav_counts": nav_state()[0]}


def nav_state() -> tuple[dict[str, int], tuple[int, ...]]:
    """The navigation's counts and the fingerprint of the user's open tasks, read once per request
    (the 待办 page keys its filter choices on the fingerprint; the layout shows the counts)."""
    known = g.get("nav_state")
    if known is None:
        from app.services import inbox as inbox_service

        known = g.nav_state = inbox_service.counts_and_fingerprint(current_user)
    return cast(tuple[dict[str, int], tuple[int, ...]], known)
