"""The case page (everything about one case) and filing an appeal during publicity.

Routes are registered on the ``inbox`` blueprint (imported at the end of ``app.views.inbox``).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_login import login_required

from app.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case
from app.services import access, assessment, casefile, cases
from app.views.inbox import bp, me
from forms.inbox import AppealForm


def _viewable_case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(me(), case):
        abort(404)
    return case


def _render_case(case: Case, form: AppealForm | None, status: int = 200) -> tuple[str, int]:
    kind = casefile.appeal_kind(me(), case)
    may_appeal = kind is not None and casefile.in_publicity(case)
    if may_appeal and form is None:
        form = AppealForm()
    tasks = casefile.tasks(case)
    html = render_template(
        "inbox/case.html",
        case=case,
        tasks=tasks,
        actionable={t.id for t in tasks if t.status == "open" and cases.may_work_on(me(), t)},
        history=casefile.history(case),
        rounds=casefile.entry_rounds(case),
        score_history=casefile.score_rounds(case),
        appeals=casefile.appeals(case),
        total=assessment.total_of(case) if case.process_key == "assessment" else None,
        appeal_form=form if may_appeal else None,
        appeal_kind=kind,
    )
    return html, status


@bp.get("/cases/<int:case_id>")
@login_required
def case(case_id: int) -> Any:
    return _render_case(_viewable_case(case_id), None)


@bp.post("/cases/<int:case_id>/appeal")
@login_required
def appeal(case_id: int) -> Any:
    case = _viewable_case(case_id)
    kind = casefile.appeal_kind(me(), case)
    if kind is None:
        abort(403)
    form = AppealForm()
    if not form.validate_on_submit():
        flash("提交内容有误：" + (form.reason.errors[0] if form.reason.errors else "请检查填写的内容"), "error")
        return _render_case(case, form, 422)
    try:
        filed = assessment.file_appeal(case.id, user=me(), kind=kind, reason=form.reason.data or "")
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        form.reason.errors = [*form.reason.errors, *exc.fields.get("reason", [])]
        return _render_case(case, form, 422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("inbox.case", case_id=case_id))
    except Forbidden:
        db.session.rollback()
        abort(403)
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("inbox.case", case_id=case_id))
    flash(f"申诉已提交，受理编号 {filed.reference}。绩效办将进行复核，并书面答复。", "success")
    return redirect(url_for("inbox.case", case_id=case_id))
