"""Public pages (no login): results in publicity by group, objections by the public (contact
details required, rate-limited per client address) and the answer to an objection by reference."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import Appeal, Publication, UnitResult
from app.services import publicity
from app.services.scoring import FLAG_LABELS
from forms.results import PublicObjectionForm

bp = Blueprint("public", __name__, url_prefix="/public")


@bp.get("/")
def index() -> str:
    cycle, groups = publicity.public_board()
    return render_template("public/index.html", cycle=cycle, groups=groups, rows=publicity.in_publicity(),
                           labels=publicity.WINDOW_LABELS, flag_labels=FLAG_LABELS)


def _published(result_id: int) -> tuple[UnitResult, Publication]:
    row = db.session.get(UnitResult, result_id)
    publication = db.session.get(Publication, row.publication_id) if row and row.publication_id else None
    if row is None or publication is None or not row.is_current:
        abort(404)
    return row, publication


@bp.route("/results/<int:result_id>/objection", methods=["GET", "POST"])
def objection(result_id: int) -> Any:
    row, publication = _published(result_id)
    state = publicity.window_state(publication)
    form = PublicObjectionForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("提交内容有误：" + next((e[0] for e in form.errors.values() if e), "请检查填写的内容"), "error")
            status = 422
        else:
            try:
                appeal = publicity.file_public_objection(
                    row.id, contact_name=form.contact_name.data or "", contact_phone=form.contact_phone.data or "",
                    reason=form.reason.data or "", client=request.remote_addr or "",
                    limit=int(current_app.config.get("PUBLIC_OBJECTIONS_PER_HOUR", 5)),
                )
                db.session.commit()
            except ValidationFailed as exc:
                db.session.rollback()
                flash(exc.message, "error")
                for name, messages in exc.fields.items():
                    if name in form:
                        form[name].errors = [*form[name].errors, *messages]
                status = 422
            except NotFound:
                db.session.rollback()
                abort(404)
            except Conflict as exc:
                db.session.rollback()
                flash(exc.message, "error")
                status = 409
            except DomainError as exc:
                db.session.rollback()
                flash(exc.message, "error")
                status = exc.status
            else:
                flash(f"异议已受理，受理编号 {appeal.reference}。请凭编号查询处理结果和书面答复。", "success")
                return redirect(url_for("public.appeal_lookup", ref=appeal.reference))
        state = publicity.window_state(publication)
    html = render_template("public/objection.html", row=row, publication=publication, state=state, form=form,
                           labels=publicity.WINDOW_LABELS, closed_message=publicity.CLOSED_MESSAGE)
    return html, status


@bp.get("/appeal")
def appeal_lookup() -> str:
    reference = (request.args.get("ref") or "").strip().upper()
    appeal = None
    if reference:
        appeal = db.session.scalar(select(Appeal).where(Appeal.reference == reference))
    return render_template("public/appeal.html", reference=reference, appeal=appeal)
