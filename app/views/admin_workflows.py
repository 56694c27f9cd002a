"""Processes deployed without code: upload a BPMN (with its JSON form schemas), list deployed
versions, start a case of a generic process for a unit.

Routes are registered on the ``admin`` blueprint (imported at the bottom of ``app.views.admin``).
Also registers the ``case_diagram_view`` template global used by ``macros/diagram.html``.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import cast

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.errors import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, User
from app.services import case_diagram, definitions
from app.views.admin import bp, domain_error
from forms.workflows import DeployForm, StartCaseForm


@bp.app_template_global("case_diagram_view")
def case_diagram_view(case: Case) -> case_diagram.CaseDiagram:
    return case_diagram.for_case(case)


def _name(upload: object) -> str:
    return PurePath(getattr(upload, "filename", "") or "upload.bpmn").name[:200]


def _page(form: DeployForm, problems: list[str], status: int = 200) -> tuple[str, int]:
    deployed = definitions.list_deployed()
    starts = {d.key: StartCaseForm(prefix=f"start-{d.key}").fill() for d in deployed if d.generic}
    html = render_template("admin/workflows.html", form=form, problems=problems, deployed=deployed, starts=starts)
    return html, status


@bp.route("/workflows", methods=["GET", "POST"])
def workflows() -> Response | tuple[str, int]:
    form = DeployForm()
    if not form.validate_on_submit():
        if form.errors:
            flash("提交内容有误：" + next(iter(form.errors.values()))[0], "error")
            return _page(form, [], 422)
        return _page(form, [])
    schemas = {_name(f): f.read() for f in form.schemas.data or [] if getattr(f, "filename", "")}
    try:
        results = definitions.deploy_bpmn(_name(form.bpmn.data), form.bpmn.data.read(), schemas)
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(f"部署失败，未部署任何流程：{exc.message}", "error")
        problems = [p for ps in exc.fields.values() for p in ps]
        return _page(form, problems, 422)
    except DomainError as exc:
        domain_error(exc)
        return _page(form, [], exc.status)
    for definition, created in results:
        state = "已部署新版本" if created else "内容未变化，沿用已部署版本"
        flash(f"{definition.name}（{definition.key}）v{definition.version}：{state}", "success")
    return redirect(url_for("admin.workflows"))


@bp.post("/workflows/<key>/start")
def workflow_start(key: str) -> Response | tuple[str, int]:
    form = StartCaseForm(prefix=f"start-{key}").fill()
    if not form.validate_on_submit():
        flash("提交内容有误：" + next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("admin.workflows"))
    try:
        case = definitions.start_generic_case(
            key, form.unit_id.data, cast(User, current_user._get_current_object()), form.title.data
        )
        db.session.commit()
    except NotFound as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.workflows"))
    except DomainError as exc:
        domain_error(exc)
        return redirect(url_for("admin.workflows"))
    flash(f"已发起：{case.title}（当前环节：{case.current_step or '无'}）", "success")
    return redirect(url_for("inbox.case", case_id=case.id))
