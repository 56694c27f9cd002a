"""Approval operations in the web UI, on the ``inbox`` blueprint: the operation panel of the task
page (退回 转办 委派/交回 加签 抄送), 撤回 / 催办 / 抄送 on the case page, 抄送我的, batch approval
and the proxy (代理) settings. Imported by ``app.web.init_app`` before the blueprint is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from werkzeug.wrappers import Response

from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.models import Case, HumanTask
from app.services import access, bulk, cases, operations, ops_notify
from app.services.ops_common import transfer_choices
from app.views.inbox import bp, me
from forms.operations import (
    CopyForm,
    CosignAddForm,
    DelegateForm,
    ResolveForm,
    ReturnForm,
    TransferForm,
    UrgeForm,
    WithdrawForm,
)

# --------------------------------------------------------------------------- panels (template globals)


@dataclass
class TaskOps:
    """What the viewer may do with a task besides completing it (rendered by inbox/_task_ops.html)."""

    may_operate: bool = False
    blocked: str | None = None  # why the step form is hidden (delegated, co-signers pending)
    resolve_form: ResolveForm | None = None
    forms: dict[str, FlaskForm] = field(default_factory=dict)
    cosigns: list[HumanTask] = field(default_factory=list)
    bulk_url: str | None = None


@bp.app_template_global("task_ops")
def task_ops(task: HumanTask) -> TaskOps:
    ops = TaskOps()
    user = me()
    if task.status != "open" or not cases.may_work_on(user, task):
        return ops
    if task.delegated_to_id is not None:
        if task.delegated_to_id == user.id:
            ops.blocked = "此任务由原办理人委派给您协助处理：请在下方填写处理意见并“处理完毕交回”，由原办理人提交。"
            ops.resolve_form = ResolveForm(prefix="resolve")
        else:
            name = task.delegated_to.display_name if task.delegated_to else "他人"
            ops.blocked = f"此任务已委派给 {name} 协助处理，待其处理完毕交回后方可提交。"
        return ops
    if task.kind == "cosign":
        return ops
    ops.cosigns = list(db.session.scalars(
        select(HumanTask).where(HumanTask.parent_task_id == task.id, HumanTask.status == "open")
    ))
    if ops.cosigns:
        names = "、".join(t.assignee.display_name if t.assignee else "?" for t in ops.cosigns)
        ops.blocked = f"等待加签人审批：{names}。全部同意后方可提交。"
    ops.may_operate = True
    back = ReturnForm(prefix="return")
    back.target_step.choices = [(step, name) for step, name in operations.return_targets(task)]
    transfer = TransferForm(prefix="transfer")
    transfer.to_user_id.choices = transfer_choices(task, user)
    ops.forms = {"return": back, "transfer": transfer, "delegate": DelegateForm(prefix="delegate"),
                 "cosign": CosignAddForm(prefix="cosign"), "cc": CopyForm(prefix="cc")}
    if bulk.is_bulk_step(task.case.definition, task.step):
        ops.bulk_url = url_for("inbox.bulk", process=task.case.process_key, step=task.step)
    return ops


@dataclass
class CaseOps:
    withdraw_form: WithdrawForm | None = None
    cc_form: CopyForm | None = None
    urgeable: list[tuple[HumanTask, UrgeForm]] = field(default_factory=list)


@bp.app_template_global("case_ops")
def case_ops(case: Case) -> CaseOps:
    ops = CaseOps(cc_form=CopyForm(prefix="cc"))
    if case.status != "running":
        return ops
    user = me()
    submitted = db.session.scalar(select(exists().where(
        HumanTask.case_id == case.id, HumanTask.completed_by_id == user.id, HumanTask.status == "completed",
    )))
    if submitted:
        ops.withdraw_form = WithdrawForm(prefix="withdraw")
    open_tasks = db.session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open").order_by(HumanTask.id)
    ).all()
    ops.urgeable = [(t, UrgeForm(prefix=f"urge{t.id}")) for t in open_tasks if not cases.may_work_on(user, t)]
    return ops


# --------------------------------------------------------------------------- helpers


def _first_error(form: FlaskForm) -> str:
    for bound in form:
        if bound.errors:
            label = bound.label.text if bound.label else bound.name
            return f"{label}：{bound.errors[0]}"
    return "请检查填写的内容"


def _perform(action: Callable[[], Any], *, success: str, done: str, failed: str) -> Response:
    """Run ONE service call and commit; DomainError → flash and go to ``failed``."""
    try:
        action()
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except Forbidden as exc:
        db.session.rollback()
        flash(exc.message, "error")
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(failed)
    flash(success, "success")
    return redirect(done)


def _task_or_404(task_id: int) -> HumanTask:
    task = db.session.get(HumanTask, task_id)
    if task is None:
        abort(404)
    return task


def _task_form(task_id: int, form: FlaskForm, call: Callable[[HumanTask, Any], Any], success: str,
               *, leaves: bool) -> Response:
    task = _task_or_404(task_id)
    if not cases.may_work_on(me(), task):
        abort(403 if access.can_view_case(me(), task.case) else 404)
    page = url_for("inbox.task", task_id=task.id)
    if not form.validate_on_submit():
        flash("提交内容有误：" + _first_error(form), "error")
        return redirect(page)
    return _perform(lambda: call(task, form), success=success,
                    done=url_for("inbox.todo") if leaves else page, failed=page)


# --------------------------------------------------------------------------- task operations


@bp.post("/tasks/<int:task_id>/return")
@login_required
def task_return(task_id: int) -> Response:
    form = ReturnForm(prefix="return")
    task = _task_or_404(task_id)
    form.target_step.choices = [(s, n) for s, n in operations.return_targets(task)] if task.status == "open" else []
    return _task_form(task_id, form, lambda t, f: operations.return_to(
        t.id, me(), target_step=f.target_step.data, reason=f.reason.data), "已退回", leaves=True)


@bp.post("/tasks/<int:task_id>/transfer")
@login_required
def task_transfer(task_id: int) -> Response:
    form = TransferForm(prefix="transfer")
    task = _task_or_404(task_id)
    form.to_user_id.choices = transfer_choices(task, me())
    return _task_form(task_id, form, lambda t, f: operations.transfer(
        t.id, me(), f.to_user_id.data, f.reason.data), "已转办", leaves=True)


@bp.post("/tasks/<int:task_id>/delegate")
@login_required
def task_delegate(task_id: int) -> Response:
    return _task_form(task_id, DelegateForm(prefix="delegate"), lambda t, f: operations.delegate(
        t.id, me(), f.user_ids[0], f.reason.data), "已委派，对方处理完毕交回后您再提交", leaves=False)


@bp.post("/tasks/<int:task_id>/resolve")
@login_required
def task_resolve(task_id: int) -> Response:
    return _task_form(task_id, ResolveForm(prefix="resolve"), lambda t, f: operations.resolve_delegation(
        t.id, me(), f.comment.data), "已交回原办理人", leaves=True)


@bp.post("/tasks/<int:task_id>/cosign")
@login_required
def task_cosign(task_id: int) -> Response:
    return _task_form(task_id, CosignAddForm(prefix="cosign"), lambda t, f: operations.add_cosigner(
        t.id, me(), f.user_ids, f.reason.data), "已加签，待加签人全部同意后方可提交", leaves=False)


@bp.post("/tasks/<int:task_id>/urge")
@login_required
def task_urge(task_id: int) -> Response:
    task = _task_or_404(task_id)
    form = UrgeForm(prefix=f"urge{task.id}")
    page = url_for("inbox.case", case_id=task.case_id)
    if not form.validate_on_submit():
        flash("提交内容有误：" + _first_error(form), "error")
        return redirect(page)
    return _perform(lambda: ops_notify.urge(task.id, me(), form.note.data), success="已催办", done=page, failed=page)


# --------------------------------------------------------------------------- case operations


@bp.post("/cases/<int:case_id>/withdraw")
@login_required
def case_withdraw(case_id: int) -> Response:
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(me(), case):
        abort(404)
    form = WithdrawForm(prefix="withdraw")
    page = url_for("inbox.case", case_id=case_id)
    if not form.validate_on_submit():
        flash("提交内容有误：" + _first_error(form), "error")
        return redirect(page)
    return _perform(lambda: operations.withdraw(case_id, me(), form.reason.data or ""), success="已撤回",
                    done=url_for("inbox.todo"), failed=page)


@bp.post("/cases/<int:case_id>/cc")
@login_required
def case_cc(case_id: int) -> Response:
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(me(), case):
        abort(404)
    form = CopyForm(prefix="cc")
    back = request.form.get("next") or ""
    page = back if back.startswith("/") and not back.startswith("//") else url_for("inbox.case", case_id=case_id)
    if not form.validate_on_submit():
        flash("提交内容有误：" + _first_error(form), "error")
        return redirect(page)
    task_id = request.form.get("task_id", type=int)
    return _perform(lambda: ops_notify.carbon_copy(case_id, me(), form.user_ids, form.note.data, task_id=task_id),
                    success="已抄送", done=page, failed=page)


# --------------------------------------------------------------------------- 抄送我的


@bp.get("/cc")
@login_required
def copies() -> str:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    return render_template("inbox/copies.html", page=ops_notify.copies_for(me(), page=page))


@bp.get("/cc/<int:copy_id>")
@login_required
def open_copy(copy_id: int) -> Response:
    try:
        row = ops_notify.open_copy(me(), copy_id)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    return redirect(url_for("inbox.case", case_id=row.case_id))


from app.views import inbox_ops_pages as _pages  # noqa: E402,F401  (batch approval and proxy settings)
