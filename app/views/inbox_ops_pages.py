"""Batch approval (批量审批) and out-of-office proxy settings (代理设置), on the ``inbox`` blueprint."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from app.errors import DomainError, NotFound
from app.extensions import db
from app.services import bulk as bulk_service
from app.services import proxies
from app.views.inbox import bp, me
from forms.operations import BulkForm, CsrfForm, ProxyForm


@bp.route("/tasks/bulk", methods=["GET", "POST"], endpoint="bulk")
@login_required
def bulk_page() -> Any:
    process = (request.values.get("process") or "").strip()
    step = (request.values.get("step") or "").strip()
    form = BulkForm()
    results = None
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("提交内容有误，请检查审批意见", "error")
        else:
            ids = form.task_ids(request.form.getlist("task_ids"))
            try:
                results = bulk_service.bulk_approve(ids, me(), form.comment.data)
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                flash(exc.message, "error")
            else:
                done = sum(1 for r in results if r.ok)
                flash(f"批量审批完成：通过 {done} 件，未处理 {len(results) - done} 件",
                      "success" if done == len(results) else "warning")
    tasks = bulk_service.bulk_candidates(me(), process, step) if process and step else []
    return render_template("inbox/bulk.html", steps=bulk_service.bulk_steps(me()), process=process, step=step,
                           tasks=tasks, form=form, results=results, limit=bulk_service.MAX_BULK)


@bp.route("/proxies", methods=["GET", "POST"])
@login_required
def proxy_settings() -> Any:
    form = ProxyForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            field = next((f for f in form if f.errors), None)
            flash("提交内容有误：" + (f"{field.label.text}：{field.errors[0]}" if field else "请检查"), "error")
            status = 422
        else:
            try:
                proxies.set_proxy(me(), form.user_ids[0], form.utc(form.starts_at.data), form.utc(form.ends_at.data),
                                  form.reason.data or "")
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                flash(exc.message, "error")
                status = exc.status
            else:
                flash("已设置代理", "success")
                return redirect(url_for("inbox.proxy_settings"))
    html = render_template("inbox/proxies.html", form=form, mine=proxies.proxies_of(me()),
                           acting=proxies.acting_for(me()))
    return html, status


@bp.post("/proxies/<int:proxy_id>/end")
@login_required
def end_proxy(proxy_id: int) -> Response:
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        proxies.end_proxy(me(), proxy_id)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash("已结束代理", "success")
    return redirect(url_for("inbox.proxy_settings"))
