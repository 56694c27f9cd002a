"""Public pages (no login): results in publicity and the answer to an objection by reference code."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from app.extensions import db
from app.models import Appeal
from app.services import publicity

bp = Blueprint("public", __name__, url_prefix="/public")


@bp.get("/")
def index() -> str:
    return render_template("public/index.html", rows=publicity.in_publicity())


@bp.get("/appeal")
def appeal_lookup() -> str:
    reference = (request.args.get("ref") or "").strip().upper()
    appeal = None
    if reference:
        appeal = db.session.scalar(select(Appeal).where(Appeal.reference == reference))
    return render_template("public/appeal.html", reference=reference, appeal=appeal)
