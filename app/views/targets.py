"""Target versions of a negotiation case: every round (目标版本) and the diff between any two.

Visible to whoever may view the case (``access.can_view_case``); anyone else gets 404. Also
registers the template helpers the negotiation pages and step forms use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from app.errors import NotFound
from app.extensions import db
from app.models import Case, Cycle, User
from app.models.target import STAGES, TIERS
from app.services import access, catalogue, cycles, targets

bp = Blueprint("targets", __name__, url_prefix="/targets")


@bp.app_template_filter("stage")
def _stage(value: str | None) -> str:
    return STAGES.get(value or "", value or "")


@bp.app_template_filter("tier")
def _tier(value: str | None) -> str:
    return TIERS.get(value or "", value or "未定")


@bp.app_template_global()
def target_total(items: list[dict[str, Any]]) -> str:
    return str(catalogue.items_total(items).quantize(Decimal("0.01")))


@bp.app_template_global()
def tier_coefficients(cycle: Cycle) -> str:
    coefficients = cycles.settings_of(cycle)["tier_coefficients"]
    return "，".join(f"{TIERS[k]} {coefficients[k]}" for k in TIERS)


def me() -> User:
    return cast(User, current_user._get_current_object())


def _case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.process_key != targets.PROCESS_KEY or not access.can_view_case(me(), case):
        abort(404)
    return case


@bp.get("/cases/<int:case_id>")
@login_required
def rounds(case_id: int) -> str:
    case = _case(case_id)
    participant = targets.cycle_unit_of(case)
    versions = targets.versions(case)
    open_steps = [t.step for t in targets.board_tasks(case)]
    current = targets.STEP_STAGE.get(open_steps[0]) if open_steps else None
    reached = {v.stage for v in versions} | ({current} if current else set())
    if case.status == "completed":
        reached |= set(STAGES)
    return render_template(
        "negotiation/rounds.html",
        case=case,
        participant=participant,
        versions=versions,
        verified={v.id: targets.verify(v) for v in versions},
        departments=targets.department_names(case.unit_id),
        stages=STAGES,
        reached=reached,
        current=current,
    )


@bp.get("/cases/<int:case_id>/diff")
@login_required
def diff(case_id: int) -> str:
    case = _case(case_id)
    versions = targets.versions(case)
    if len(versions) < 1:
        abort(404)
    a = request.args.get("a", type=int) or max(1, versions[-1].number - 1)
    b = request.args.get("b", type=int) or versions[-1].number
    try:
        result = targets.diff(targets.version_number(case, a), targets.version_number(case, b))
    except NotFound:
        abort(404)
    return render_template(
        "negotiation/diff.html", case=case, d=result, versions=versions,
        departments=targets.department_names(case.unit_id),
    )
