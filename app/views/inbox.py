"""Everyone's work: 待办 / 已办 / 我发起的, the task page (work on a step) and evidence downloads.

The case page and appeals live in ``inbox_cases`` on the same blueprint.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import clock
from app.database import read_only
from app.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, EvidenceFile, HumanTask, User
from app.services import access, casefile, cases, inbox, steps, uploads
from app.web import nav_state
from forms.tasks import TaskForm, build

bp = Blueprint("inbox", __name__)

bp.add_app_template_filter(casefile.action_label, "action_label")


@bp.app_template_filter("task_status")
def _task_status(value: str | None) -> str:
    return casefile.TASK_STATUS.get(value or "", value or "")


@bp.app_template_filter("case_status")
def _case_status(value: str | None) -> str:
    return casefile.CASE_STATUS.get(value or "", value or "")


@bp.app_template_filter("appeal_status")
def _appeal_status(value: str | None) -> str:
    return casefile.APPEAL_STATUS.get(value or "", value or "")


@bp.app_template_filter("appellant_kind")
def _appellant_kind(value: str | None) -> str:
    return casefile.APPELLANT_KINDS.get(value or "", value or "")


def me() -> User:
    return cast(User, current_user._get_current_object())


def _page() -> dict[str, int]:
    """``page``/``per_page`` from the query string (per_page 1–200, default inbox.PAGE_SIZE)."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    per_page = min(200, max(1, request.args.get("per_page", inbox.PAGE_SIZE, type=int) or inbox.PAGE_SIZE))
    return {"page": page, "per_page": per_page}


def _keep(**extra: Any) -> dict[str, Any]:
    """Query arguments the pagination links keep."""
    args = {k: v for k, v in extra.items() if v}
    if "per_page" in request.args:
        args["per_page"] = _page()["per_page"]
    return args


# --------------------------------------------------------------------------- lists


@bp.get("/tasks")
@login_required
@read_only
def todo() -> str:
    try:
        flt = inbox.TaskFilter.from_args(request.args)
    except inbox.BadFilter as exc:
        for name, messages in exc.fields.items():
            flash(f"筛选条件“{name}”{messages[0]}，已忽略", "error")
        flt = inbox.TaskFilter()
    paging = _page()
    page = inbox.todo(me(), paging["page"], paging["per_page"], flt=flt)
    return render_template(
        "inbox/todo.html",
        page=page,
        flt=flt,
        overdue=flt.overdue,
        facets=inbox.facets(me(), nav_state()[1]),
        sorts=inbox.SORTS,
        keep=_keep(**flt.args()),
    )


@bp.get("/tasks/done")
@login_required
@read_only
def done() -> str:
    return render_template("inbox/done.html", page=inbox.done(me(), **_page()), keep=_keep())


@bp.get("/cases/mine")
@login_required
@read_only
def started() -> str:
    page = inbox.started(me(), **_page())
    return render_template("inbox/started.html", page=page, keep=_keep(), appeals=casefile.appeals_by(me()))


# --------------------------------------------------------------------------- task page


def _visible_task(task_id: int) -> tuple[HumanTask, bool]:
    """The task and whether the user may act on it; 404 when they may not see it at all.

    Open tasks are visible to their candidates; completed or cancelled ones to everyone who can
    view the case. A POST by a case viewer who is no candidate is refused with 403.
    """
    task = db.session.get(HumanTask, task_id)
    if task is None:
        abort(404)
    user = me()
    if task.status == "open":
        if cases.may_work_on(user, task):
            return task, True
        if request.method == "POST" and access.can_view_case(user, task.case):
            abort(403)
        abort(404)
    if not access.can_view_case(user, task.case):
        abort(404)
    return task, False


def _notice(task: HumanTask) -> str | None:
    if task.status == "completed":
        who = task.completed_by.display_name if task.completed_by else "他人"
        local = clock.to_local(task.completed_at)
        when = f"于 {local:%Y-%m-%d %H:%M} " if local else ""
        return f"该任务已{when}由 {who} 办理（{casefile.action_label(task.outcome)}），以下为只读查看。"
    if task.status == "cancelled":
        return "该任务已取消（流程已转到其他环节），以下为只读查看。"
    return None


def _render_task(task: HumanTask, form: TaskForm | None, *, may_act: bool, status: int = 200) -> tuple[str, int]:
    case = task.case
    rounds = casefile.entry_rounds(case)
    scores = casefile.score_rounds(case)
    latest = {e.indicator_id: e for e in rounds[0].entries} if rounds else {}
    html = render_template(
        "inbox/task.html",
        task=task,
        case=case,
        form=form if may_act else None,
        rows=form.rows(latest) if may_act and form is not None and hasattr(form, "rows") else [],
        may_act=may_act,
        notice=None if may_act else _notice(task),
        appeal=casefile.appeal_for_task(task),
        rounds=rounds,
        latest_scores=scores[0] if scores else None,
        history=casefile.history(case),
    )
    return html, status


def _first_error(form: TaskForm) -> str:
    for bound in form:
        if bound.errors:
            label = bound.label.text if bound.label else bound.name
            return f"{label}：{bound.errors[0]}"
    return "请检查填写的内容"


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> Any:
    task, may_act = _visible_task(task_id)
    if request.method == "GET":
        previous = None
        if may_act and task.form_key == "assessment.self_assessment":
            rounds = casefile.entry_rounds(task.case)
            previous = rounds[0].entries if rounds else None
        form = build(task, task.case, previous) if may_act else None
        return _render_task(task, form, may_act=may_act)

    if not may_act:
        flash("该任务已办理，请刷新待办列表", "error")
        return redirect(url_for("inbox.todo"))
    form = build(task, task.case)
    if form is None:
        flash(f"步骤“{task.name}”没有可用的网页表单，请联系系统管理员", "error")
        return _render_task(task, None, may_act=may_act, status=422)
    if not form.validate_on_submit():
        flash(f"提交内容有误：{_first_error(form)}", "error")
        return _render_task(task, form, may_act=True, status=422)
    files = {name: request.files.getlist(name) for name in form.file_fields()}
    try:
        steps.submit(task, me(), form.to_data(), files)
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        for message in form.attach_errors(exc.fields):
            if message not in exc.message:
                flash(message, "error")
        return _render_task(task, form, may_act=True, status=422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("inbox.todo"))
    except Forbidden:
        db.session.rollback()
        abort(403)
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_task(task, form, may_act=True, status=exc.status)
    flash(f"已提交：{task.case.title} · {task.name}", "success")
    return redirect(url_for("inbox.todo"))


# --------------------------------------------------------------------------- evidence


@bp.get("/evidence/<int:file_id>")
@login_required
def evidence(file_id: int) -> Response:
    row = db.session.get(EvidenceFile, file_id)
    case = db.session.get(Case, row.case_id) if row else None
    if row is None or case is None or not access.can_view_case(me(), case):
        abort(404)
    path = uploads.path_of(row)
    if not path.is_file():
        abort(404)
    response = send_file(
        path, mimetype=row.content_type, as_attachment=True, download_name=row.original_name, max_age=0
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


from app.views import inbox_cases as _inbox_cases  # noqa: E402,F401  (registers the case routes on this blueprint)
from app.views import inbox_notify as _inbox_notify  # noqa: E402,F401  (the notifications pages)
