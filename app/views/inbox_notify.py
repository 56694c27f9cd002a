"""站内消息: the notifications list, mark one read (and open its link), mark all read."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from app.errors import NotFound
from app.extensions import db
from app.models.notification import KINDS
from app.services import notifications
from app.views.inbox import _page, bp, me


@bp.get("/notifications")
@login_required
def notifications_list() -> str:
    unread = request.args.get("unread") == "1"
    paging = _page()
    paging["per_page"] = min(paging["per_page"], 100) if "per_page" in request.args else 30
    page = notifications.page(me().id, unread_only=unread, **paging)
    keep = {"unread": 1} if unread else {}
    if "per_page" in request.args:
        keep["per_page"] = paging["per_page"]
    return render_template("inbox/notifications.html", page=page, unread=unread, kinds=KINDS, keep=keep)


@bp.post("/notifications/<int(max=2147483647):notification_id>/read")
@login_required
def notification_read(notification_id: int) -> Response:
    """Mark read; with ``open=1`` go on to the notification's link (a path inside the app)."""
    try:
        row = notifications.open_one(me().id, notification_id)
    except NotFound:
        abort(404)
    link = row.link
    db.session.commit()
    if request.form.get("open") == "1" and _local(link):
        return redirect(str(link))
    back = request.form.get("back")
    return redirect(str(back) if _local(back) else url_for("inbox.notifications_list"))


def _local(path: str | None) -> bool:
    """A path inside this site (never an open redirect)."""
    return bool(path) and str(path).startswith("/") and not str(path).startswith(("//", "/\\"))


@bp.post("/notifications/read-all")
@login_required
def notifications_read_all() -> Response:
    count = notifications.mark_read(me().id)
    db.session.commit()
    flash(f"已将 {count} 条消息标为已读" if count else "没有未读消息", "success")
    return redirect(url_for("inbox.notifications_list"))
