"""The office's survey pages (社会评价): create a survey, issue printable codes, close and record the rate."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from app.errors import DomainError, NotFound
from app.extensions import db
from app.models.supervision import SURVEY_CHOICES, SURVEY_DIMENSIONS
from app.services import social, surveys
from app.services import supervision as sv
from app.views.supervision import cycle_or_404, fail, me, need
from forms.supervision import ConfirmForm, SurveyForm, TokenForm, unit_choices

bp = Blueprint("surveys", __name__, url_prefix="/supervision/surveys")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    need("office")
    cycle = cycle_or_404()
    form = SurveyForm()
    form.unit_id.choices = unit_choices(sv.participants(cycle.id))
    if form.validate_on_submit():
        try:
            survey = surveys.create_survey(cycle, form.unit_id.data or 0, form.round.data or "", me())
            db.session.commit()
        except DomainError as exc:
            fail(exc)
        else:
            flash("已创建社会评价调查，请发放调查码", "success")
            return redirect(url_for("surveys.detail", survey_id=survey.id))
    return render_template("supervision/surveys.html", cycle=cycle, form=form, rows=surveys.surveys(cycle.id),
                           rounds=social.ROUNDS)


def _survey(survey_id: int) -> surveys.Survey:
    try:
        return surveys.get(survey_id)
    except NotFound:
        abort(404)


@bp.get("/<int:survey_id>")
@login_required
def detail(survey_id: int) -> str:
    need("office")
    survey = _survey(survey_id)
    return render_template(
        "supervision/survey.html", s=survey, stats=surveys.stats(survey), token_form=TokenForm(),
        confirm=ConfirmForm(), dims=SURVEY_DIMENSIONS, choices=SURVEY_CHOICES, rounds=social.ROUNDS,
    )


@bp.post("/<int:survey_id>/tokens")
@login_required
def tokens(survey_id: int) -> Any:
    """Generate a batch and show it once, printable (only the hashes are kept)."""
    need("office")
    survey = _survey(survey_id)
    form = TokenForm()
    if not form.validate_on_submit():
        flash("发放数量应在 1 到 500 之间", "error")
        return redirect(url_for("surveys.detail", survey_id=survey.id))
    try:
        codes = surveys.issue_tokens(survey.id, form.count.data or 0, me())
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("surveys.detail", survey_id=survey.id))
    response = make_response(render_template("supervision/survey_tokens.html", s=survey, codes=codes,
                                             rounds=social.ROUNDS))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/<int:survey_id>/close")
@login_required
def close(survey_id: int) -> Response:
    need("office")
    survey = _survey(survey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        closed = surveys.close_survey(survey.id, me())
        db.session.commit()
    except DomainError as exc:
        fail(exc)
        return redirect(url_for("surveys.detail", survey_id=survey.id))
    flash(f"调查已结束，满意率 {closed.satisfaction}%（{closed.respondents} 份答卷），已计入社会评价", "success")
    return redirect(url_for("surveys.detail", survey_id=survey.id))
