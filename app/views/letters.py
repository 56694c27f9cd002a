"""Letters: 我的责任书, a letter's page, its PDF, the issued target list PDF and the signing board.

Signing itself happens in the inbox (form key ``letter.sign``, see forms/letters.py).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.errors import DomainError, NotFound
from app.models import Letter, User
from app.services import letter_board, letter_signing, letters, pdf
from app.services.letter_text import KIND_TITLES, number
from forms import letters as _letter_forms  # noqa: F401  (registers the letter.sign step form)

bp = Blueprint("letters", __name__, url_prefix="/letters")


@bp.app_template_filter("letter_kind")
def _letter_kind(value: str | None) -> str:
    return KIND_TITLES.get(value or "", value or "")


@bp.app_template_filter("letter_status")
def _letter_status(value: str | None) -> str:
    return letters.STATUS_LABELS.get(value or "", value or "")


@bp.app_template_filter("points")
def _points(value: Any) -> str:
    from decimal import Decimal

    return number(Decimal(str(value))) if value is not None else ""


def me() -> User:
    return cast(User, current_user._get_current_object())


def _letter_for_viewer(letter_id: int) -> Letter:
    try:
        letter = letter_board.get_letter(letter_id)
    except NotFound:
        abort(404)
    if not letter_board.can_view_letter(me(), letter):
        abort(404)
    return letter


def _pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename=letter.pdf; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------- my letters, a letter


@bp.get("/")
@login_required
def mine() -> str:
    return render_template("letters/mine.html", items=letter_board.my_letters(me()))


@bp.get("/<int:letter_id>")
@login_required
def letter(letter_id: int) -> str:
    item = _letter_for_viewer(letter_id)
    return render_template(
        "letters/letter.html",
        letter=item,
        result=letter_signing.verify(item),
        task_id=letter_board.open_task_for(item, me()),
        overdue=letter_board.is_overdue(item),
    )


@bp.get("/<int:letter_id>/pdf")
@login_required
def letter_pdf(letter_id: int) -> Response:
    item = _letter_for_viewer(letter_id)
    html = render_template("letters/letter_pdf.html", letter=item, result=letter_signing.verify(item),
                           font_family=pdf.FONT_FAMILY)
    try:
        data = pdf.render_pdf(html)
    except DomainError as exc:
        flash(exc.message, "error")
        return cast(Response, redirect(url_for("letters.letter", letter_id=item.id)))
    return _pdf_response(data, f"{item.title}.pdf")


# --------------------------------------------------------------------------- the issued target list


@bp.get("/targets/<int:unit_id>/pdf")
@login_required
def targets_pdf(unit_id: int) -> Response:
    if not letter_board.can_view_targets(me(), unit_id):
        abort(404)
    try:
        cycle = letter_board.cycle_or_latest(request.args.get("cycle", type=int))
        listing = letter_board.issued_target_list(cycle, unit_id)
    except NotFound:
        abort(404)
    html = render_template("letters/targets_pdf.html", t=listing, font_family=pdf.FONT_FAMILY)
    try:
        data = pdf.render_pdf(html)
    except DomainError as exc:
        flash(exc.message, "error")
        return cast(Response, redirect(request.referrer or url_for("letters.mine")))
    return _pdf_response(data, f"{listing.unit.name}{cycle.year}年度下达目标.pdf")


# --------------------------------------------------------------------------- the signing board


@bp.get("/board")
@login_required
def board() -> Any:
    try:
        cycle = letter_board.cycle_or_latest(request.args.get("cycle", type=int))
    except NotFound:
        abort(404)
    unit_ids = letter_board.board_unit_ids(me(), cycle)
    if unit_ids is not None and not unit_ids:
        abort(403)
    if unit_ids is not None and len(unit_ids) == 1:
        return redirect(url_for("letters.unit_board", unit_id=unit_ids[0], cycle=cycle.id))
    rows = letter_board.overview(cycle, unit_ids)
    totals = {k: sum(getattr(r, k) for r in rows) for k in ("total", "signed", "overdue")}
    return render_template("letters/board.html", cycle=cycle, cycles=letter_board.cycles(), rows=rows, totals=totals)


@bp.get("/board/<int:unit_id>")
@login_required
def unit_board(unit_id: int) -> str:
    if not letter_board.can_view_board(me(), unit_id):
        abort(403)
    try:
        cycle = letter_board.cycle_or_latest(request.args.get("cycle", type=int))
        view = letter_board.unit_board(cycle, unit_id)
    except NotFound:
        abort(404)
    return render_template("letters/unit_board.html", b=view, cycles=letter_board.cycles(),
                           all_units=letter_board.sees_all_units(me()))
